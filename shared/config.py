"""One typed settings object, read from the environment with `.stack/env` as the fallback."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def project_root() -> Path:
    """Return the folder that holds `.stack/`: $SMARTCITY_HOME, the source checkout, or the cwd."""
    if home := os.environ.get("SMARTCITY_HOME"):
        return Path(home).resolve()
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").is_file():
        return checkout
    return Path.cwd()


def stack_dir() -> Path:
    """Return where the private local stack keeps its data, logs and env file."""
    if explicit := os.environ.get("SMARTCITY_STACK_DIR"):
        return Path(explicit).resolve()
    return project_root() / ".stack"


# Only development may run with this key; anything else must set SECRET_KEY explicitly.
_DEV_SECRET = "dev-only-insecure-secret"


class Settings(BaseSettings):
    """Runtime settings. Environment variables win over `.stack/env`."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    env: Literal["development", "test", "production"] = Field(
        default="development", validation_alias="SMARTCITY_ENV"
    )
    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    redis_url: str | None = Field(default=None, validation_alias="REDIS_URL")
    mqtt_url: str | None = Field(default=None, validation_alias="MQTT_URL")
    secret_key: str = Field(default=_DEV_SECRET, validation_alias="SECRET_KEY")
    # Raw observations older than this are dropped by partition (roll-ups stay for 10 years).
    raw_retention_days: int = Field(default=90, ge=1, validation_alias="RAW_RETENTION_DAYS")
    partitions_ahead_days: int = Field(default=7, ge=1, validation_alias="PARTITIONS_AHEAD_DAYS")
    # Redis redelivers an unacknowledged task after this long (a worker that died mid-batch).
    ingest_visibility_timeout_s: int = Field(
        default=60, ge=1, validation_alias="INGEST_VISIBILITY_TIMEOUT_S"
    )
    # No tile server by default: an air-gapped control room must not leak requests.
    tile_url: str | None = Field(default=None, validation_alias="TILE_URL")

    # Citizen reports: photos and thumbnails; default <stack dir>/media (resolved_media_root).
    media_root: Path | None = Field(default=None, validation_alias="MEDIA_ROOT")
    max_photo_bytes: int = Field(default=10 * 1024 * 1024, ge=1, validation_alias="MAX_PHOTO_BYTES")
    max_photos: int = Field(default=5, ge=1, validation_alias="MAX_PHOTOS")
    # A new report of the same service this close (metres, geodesic) and recent is a duplicate.
    duplicate_radius_m: float = Field(default=50.0, gt=0, validation_alias="DUPLICATE_RADIUS_M")
    duplicate_window_h: float = Field(default=72.0, gt=0, validation_alias="DUPLICATE_WINDOW_H")
    # flask-limiter notation, per Open311 client (api_key), per citizen account, else per address.
    api_rate_limit: str = Field(default="600 per minute", validation_alias="API_RATE_LIMIT")
    # Login, register and refresh: tighter, against password guessing.
    api_auth_rate_limit: str = Field(
        default="20 per minute", validation_alias="API_AUTH_RATE_LIMIT"
    )
    # Failed logins per account (e-mail), from any address: guesses spread over many addresses
    # share one budget (NIST SP 800-63B 5.2.2 asks for a per-account limit).
    api_login_failure_limit: str = Field(
        default="10 per 15 minutes", validation_alias="API_LOGIN_FAILURE_LIMIT"
    )

    @model_validator(mode="after")
    def _no_secret_defaults_outside_development(self) -> Settings:
        if self.env != "development" and self.secret_key == _DEV_SECRET:
            raise ValueError("SECRET_KEY must be set when SMARTCITY_ENV is not 'development'")
        return self

    def resolved_media_root(self) -> Path:
        """Return the media root, defaulting to the stack folder's media/."""
        return self.media_root or (stack_dir() / "media")

    def require_database_url(self) -> str:
        """Return the database URL or explain how to get one."""
        if not self.database_url:
            raise RuntimeError(
                "DATABASE_URL is not set and .stack/env has none: run `smartcity stack up` first"
            )
        return self.database_url


def load_settings() -> Settings:
    """Read settings afresh (environment first, then `.stack/env`)."""
    env_file = stack_dir() / "env"
    return Settings(_env_file=env_file if env_file.is_file() else None)  # type: ignore[call-arg]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once."""
    return load_settings()
