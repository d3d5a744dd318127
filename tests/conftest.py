"""Session fixtures: a private stack on free ports, a migrated and seeded database, and a
per-test session inside a savepoint that is rolled back afterwards."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from shared.config import get_settings
from shared.db import engine_for
from shared.stack import LocalStack, StackState

REPO = Path(__file__).resolve().parents[1]
# Under the working tree (not /tmp/pytest-of-root, which is 0700 and unreachable by `postgres`).
TEST_STACK_ROOT = REPO / ".stack-test"


def new_stack_dir(prefix: str) -> Path:
    """Return a fresh folder for a throwaway stack under the working tree."""
    TEST_STACK_ROOT.mkdir(exist_ok=True)
    return TEST_STACK_ROOT / f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def stack() -> Iterator[StackState]:
    """Start a private stack for the whole run and stop it (and delete it) at the end."""
    local = LocalStack(new_stack_dir("session"), fsync=False)
    state = local.up()
    saved = {
        k: os.environ.get(k) for k in ("DATABASE_URL", "REDIS_URL", "MQTT_URL", "SMARTCITY_ENV")
    }
    os.environ.update(state.env())
    os.environ["SMARTCITY_ENV"] = "development"
    get_settings.cache_clear()
    # Test modules that import the Celery app at collection time built it before this stack
    # existed (broker memory://): point it at this stack's Redis, as a real process would be.
    celery_module = sys.modules.get("shared.tasks.celery_app")
    if celery_module is not None:
        celery_module.celery_app.conf.broker_url = state.redis_url
    try:
        yield state
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()
        local.down(purge=True)


@pytest.fixture(scope="session")
def engine(stack: StackState) -> Iterator[Engine]:
    """Migrate the stack's database to head, seed the demo city once, and return an engine."""
    from shared.db import session_scope
    from shared.migrations.runner import upgrade
    from shared.seed.demo import seed_demo
    from shared.sensing.service import ensure_partitions_around_now

    upgrade(database_url=stack.database_url)
    eng = engine_for(stack.database_url)
    with session_scope(eng) as session:
        ensure_partitions_around_now(session=session, ahead_days=7, back_days=2)
        report = seed_demo(session=session)
    eng.info_seed_report = report  # type: ignore[attr-defined]
    yield eng
    eng.dispose()
    engine_for.cache_clear()


@pytest.fixture
def db_session(engine: Engine) -> Iterator[Session]:
    """A session on one connection; every commit inside becomes a savepoint rolled back after."""
    with engine.connect() as conn:
        outer = conn.begin()
        session = Session(bind=conn, join_transaction_mode="create_savepoint")
        try:
            yield session
        finally:
            session.close()
            outer.rollback()
