"""Photo checks and clean-up: type and size, EXIF (GPS above all) stripped, a thumbnail."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from shared.service_requests.schemas import RequestInvalid

# Formats Pillow must recognise from the bytes themselves (the declared type is not trusted).
ALLOWED = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "WEBP": ("image/webp", "webp"),
}
MAX_PIXELS = 40_000_000
THUMB = (320, 320)


@dataclass(frozen=True)
class CleanPhoto:
    """A re-encoded photo without metadata, and its JPEG thumbnail."""

    data: bytes
    thumbnail: bytes
    content_type: str
    extension: str
    width: int
    height: int


def clean_photo(*, data: bytes, max_bytes: int) -> CleanPhoto:
    """Return the photo re-encoded without EXIF/XMP/ICC text, upright, with a thumbnail."""
    if len(data) > max_bytes:
        raise RequestInvalid(f"photo is {len(data)} bytes; the limit is {max_bytes}")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            fmt = probe.format or ""
            if fmt not in ALLOWED:
                raise RequestInvalid(f"photo type {fmt or 'unknown'} is not JPEG, PNG or WebP")
            if probe.width * probe.height > MAX_PIXELS:
                raise RequestInvalid("photo has too many pixels")
            probe.load()
            # Apply the EXIF orientation before the EXIF goes, so the photo stays upright.
            img = ImageOps.exif_transpose(probe)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise RequestInvalid("the file is not a readable image") from exc
    content_type, ext = ALLOWED[fmt]
    # Copy pixels only into a new image: no EXIF, XMP, comments or other text chunks survive.
    mode = "RGBA" if img.mode in ("RGBA", "LA", "P") and fmt != "JPEG" else "RGB"
    pixels = img.convert(mode)
    bare = Image.new(mode, pixels.size)
    bare.paste(pixels)
    out = io.BytesIO()
    if fmt == "JPEG":
        bare.save(out, "JPEG", quality=88, optimize=True)
    else:
        bare.save(out, fmt)
    thumb = bare.convert("RGB")
    thumb.thumbnail(THUMB)
    tout = io.BytesIO()
    thumb.save(tout, "JPEG", quality=80)
    return CleanPhoto(out.getvalue(), tout.getvalue(), content_type, ext, *bare.size)
