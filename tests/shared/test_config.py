"""Settings: environment first, `.stack/env` as the fallback, no secret default in production."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.config import Settings, load_settings


def test_env_file_is_the_fallback_and_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "env").write_text(
        "DATABASE_URL=postgresql://from-file/db\nREDIS_URL=redis://from-file:1/0\n"
    )
    monkeypatch.setenv("SMARTCITY_STACK_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("REDIS_URL", "redis://from-env:2/0")
    settings = load_settings()
    assert settings.database_url == "postgresql://from-file/db"
    assert settings.redis_url == "redis://from-env:2/0"


def test_no_database_url_gives_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMARTCITY_STACK_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(RuntimeError, match="smartcity stack up"):
        load_settings().require_database_url()


def test_production_refuses_the_development_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTCITY_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ValidationError, match="SECRET_KEY must be set"):
        Settings()
    monkeypatch.setenv("SECRET_KEY", "a-real-secret-from-the-vault")
    assert Settings().secret_key == "a-real-secret-from-the-vault"
