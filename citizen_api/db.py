"""The request-scoped database session the views use."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from shared.db import read_scope, session_scope


@contextmanager
def db() -> Iterator[Session]:
    """Yield a session that commits when the view returns normally."""
    with session_scope() as session:
        yield session


@contextmanager
def db_read() -> Iterator[Session]:
    """Yield a session for reads only: autocommit, one round trip per query."""
    with read_scope() as session:
        yield session
