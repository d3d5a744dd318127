"""Run Alembic from code, so that `smartcity db ...` and the tests need no alembic.ini on disk."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

HERE = Path(__file__).resolve().parent


def alembic_config(database_url: str | None = None) -> Config:
    """Return an Alembic config pointing at shared/migrations, optionally for a given URL."""
    cfg = Config(str(HERE / "alembic.ini"))
    cfg.set_main_option("script_location", str(HERE))
    if database_url:
        cfg.attributes["database_url"] = database_url
    return cfg


def upgrade(*, database_url: str | None = None, revision: str = "head") -> None:
    """Upgrade the database to `revision`."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(*, database_url: str | None = None, revision: str = "base") -> None:
    """Downgrade the database to `revision`."""
    command.downgrade(alembic_config(database_url), revision)


def current(*, database_url: str | None = None) -> None:
    """Print the current revision."""
    command.current(alembic_config(database_url), verbose=False)
