"""Engine, sessions and the declarative Base shared by every domain package."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import DateTime, MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from shared.config import get_settings

# Deterministic constraint names, so that Alembic can drop and alter what it created.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base for every ORM model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # Every timestamp is an instant (timestamptz); naive datetimes would be ambiguous across DST.
    type_annotation_map = {datetime: DateTime(timezone=True)}


def normalise_url(url: str) -> str:
    """Return the URL with the psycopg 3 driver named (plain postgresql:// means psycopg2)."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.removeprefix("postgres://")
    return url


# Per-connection setup run once when the pool opens a connection, outside any transaction, so
# that a rolled-back transaction cannot undo it (the ingest staging table, for one).
CONNECT_HOOKS: list[Callable[[Any], None]] = []


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    for hook in CONNECT_HOOKS:
        hook(dbapi_connection)
    dbapi_connection.commit()


CONNECT_TIMEOUT_S = 10


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """Return one pooled engine per database URL."""
    # No pool_pre_ping: its BEGIN + SELECT 1 on every checkout cost about 0.8 ms of CPU per API
    # request (a fifth of a listing's). Connections are renewed after 5 minutes instead (idle
    # timeouts of proxies and servers), and a connection found dead mid-request invalidates the
    # whole pool, so a database restart fails at most one request per process.
    # connect_timeout (s): an unreachable host (no RST, packets dropped) otherwise holds a
    # connect for the kernel's TCP timeout, minutes, in a worker's warm-up or a request.
    engine = create_engine(
        normalise_url(url),
        pool_recycle=300,
        future=True,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_S},
    )
    event.listen(engine, "connect", _on_connect)
    return engine


def get_engine() -> Engine:
    """Return the engine for the configured DATABASE_URL."""
    return engine_for(get_settings().require_database_url())


def session_factory(engine: Engine | None = None) -> sessionmaker[Session]:
    """Return the session factory bound to `engine` (default: the configured one)."""
    return _sessionmaker_for(engine or get_engine())


@lru_cache(maxsize=16)
def _sessionmaker_for(engine: Engine) -> sessionmaker[Session]:
    # One per engine: each sessionmaker makes its own Session subclass, whose first sessions
    # set up event dispatch again (about 1 ms of CPU per API request when made per session).
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """Yield a session that commits on success and rolls back on error."""
    session = session_factory(engine)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def read_scope(engine: Engine | None = None) -> Iterator[Session]:
    """Yield a session for reads only, on an autocommit connection (no BEGIN, no COMMIT)."""
    # Each statement is its own transaction: one round trip for a one-query answer instead of
    # three (BEGIN, the query, COMMIT). Under load every round trip is a wait that may end
    # behind other runnable processes, which is where an API's read tail comes from.
    # Anything written through this session is committed at once: use session_scope to write.
    bound = engine or get_engine()
    with bound.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        session = session_factory(bound)(bind=conn)
        try:
            yield session
        finally:
            session.close()
