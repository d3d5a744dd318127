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

    @model_validator(mode="after")
    def _no_secret_defaults_outside_development(self) -> Settings:
        if self.env != "development" and self.secret_key == _DEV_SECRET:
            raise ValueError("SECRET_KEY must be set when SMARTCITY_ENV is not 'development'")
        return self

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
