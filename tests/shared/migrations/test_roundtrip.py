"""Migrations: empty -> head -> base -> head on a fresh database, and models match migrations."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

import shared.models  # noqa: F401
from shared.db import Base, normalise_url
from shared.migrations.env_filters import include_object
from shared.migrations.runner import downgrade, upgrade
from shared.stack import StackState


@pytest.fixture
def fresh_db(stack: StackState) -> Iterator[str]:
    name = f"roundtrip_{uuid.uuid4().hex[:8]}"
    admin = stack.database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = stack.database_url.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def _our_tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename NOT IN ('spatial_ref_sys', 'alembic_version')"
        )
        return {r[0] for r in rows}


def _our_types(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
            "WHERE n.nspname = 'public' AND t.typtype = 'e'"
        )
        return {r[0] for r in rows}


def test_upgrade_downgrade_upgrade(fresh_db: str) -> None:
    assert _our_tables(fresh_db) == set()
    upgrade(database_url=fresh_db)
    tables = _our_tables(fresh_db)
    assert {
        "district",
        "thing",
        "datastream",
        "observation",
        "road_segment",
        "staff_user",
    } <= tables
    assert _our_types(fresh_db) == {
        "sensor_type",
        "staff_role",
        "alert_rule_kind",
        "alert_direction",
        "alert_severity",
        "alert_status",
    }

    downgrade(database_url=fresh_db)
    assert _our_tables(fresh_db) == set()
    assert _our_types(fresh_db) == set()
    with psycopg.connect(fresh_db) as conn:
        fn = conn.execute("SELECT 1 FROM pg_proc WHERE proname LIKE 'smartcity_%'").fetchall()
    assert fn == []

    upgrade(database_url=fresh_db)
    assert _our_tables(fresh_db) == tables


def test_models_and_migrations_agree(fresh_db: str) -> None:
    upgrade(database_url=fresh_db)
    engine = create_engine(normalise_url(fresh_db))
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"include_object": include_object, "compare_type": True}
        )
        diff = compare_metadata(ctx, Base.metadata)
    engine.dispose()
    assert diff == []
