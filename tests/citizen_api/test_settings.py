"""The citizen API's settings live in the one typed settings object, under their env names."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.config import load_settings


def test_service_request_and_limit_settings_read_their_env_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMARTCITY_STACK_DIR", str(tmp_path))
    for name in ("MEDIA_ROOT", "MAX_PHOTO_BYTES", "MAX_PHOTOS", "API_RATE_LIMIT"):
        monkeypatch.delenv(name, raising=False)
    defaults = load_settings()
    assert defaults.resolved_media_root() == tmp_path / "media"
    assert (defaults.max_photo_bytes, defaults.max_photos) == (10 * 1024 * 1024, 5)
    assert (defaults.duplicate_radius_m, defaults.duplicate_window_h) == (50.0, 72.0)
    assert defaults.api_rate_limit == "600 per minute"
    monkeypatch.setenv("MEDIA_ROOT", str(tmp_path / "photos"))
    monkeypatch.setenv("MAX_PHOTOS", "2")
    monkeypatch.setenv("DUPLICATE_RADIUS_M", "80")
    monkeypatch.setenv("API_RATE_LIMIT", "10 per second")
    s = load_settings()
    assert s.resolved_media_root() == tmp_path / "photos"
    assert (s.max_photos, s.duplicate_radius_m, s.api_rate_limit) == (2, 80.0, "10 per second")


@pytest.mark.parametrize(
    "name, value", [("MAX_PHOTOS", "0"), ("DUPLICATE_RADIUS_M", "-5"), ("MAX_PHOTO_BYTES", "x")]
)
def test_bad_values_are_refused_with_the_setting_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=name):
        load_settings()
