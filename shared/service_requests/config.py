"""Settings of the service-request domain (to be folded into shared/config.py by the lead)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.config import stack_dir


class ServiceRequestSettings(BaseSettings):
    """Media storage and duplicate-detection knobs, read from the environment."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    # Photos and thumbnails; default <project>/.stack/media (or $SMARTCITY_STACK_DIR/media).
    media_root: Path | None = Field(default=None, validation_alias="MEDIA_ROOT")
    max_photo_bytes: int = Field(default=10 * 1024 * 1024, ge=1, validation_alias="MAX_PHOTO_BYTES")
    max_photos: int = Field(default=5, ge=1, validation_alias="MAX_PHOTOS")
    duplicate_radius_m: float = Field(default=50.0, gt=0, validation_alias="DUPLICATE_RADIUS_M")
    duplicate_window_h: float = Field(default=72.0, gt=0, validation_alias="DUPLICATE_WINDOW_H")

    def resolved_media_root(self) -> Path:
        """Return the media root, defaulting to the stack folder's media/."""
        return self.media_root or (stack_dir() / "media")


@lru_cache(maxsize=1)
def get_request_settings() -> ServiceRequestSettings:
    """Return the process-wide service-request settings, read once."""
    return ServiceRequestSettings()
