"""Sessions: read_scope runs each statement on its own (autocommit) and hands its pooled
connection back as it found it, so a later session_scope still gets a transaction."""

from __future__ import annotations

import socket
import time

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from shared import db
from shared.db import normalise_url, read_scope, session_scope


def test_read_scope_has_no_transaction_and_resets_the_pooled_connection(
    stack,  # type: ignore[no-untyped-def]
    engine: Engine,
) -> None:
    # One pooled connection, so that both scopes get the same one.
    eng = create_engine(normalise_url(stack.database_url), pool_size=1, max_overflow=0)
    try:
        with read_scope(eng) as session:
            assert session.execute(text("SELECT 1")).scalar() == 1
            raw = session.connection().connection.dbapi_connection
            # No BEGIN was sent: the query ran (and ended) on its own, one round trip.
            assert raw.autocommit and raw.info.transaction_status == TransactionStatus.IDLE
        with session_scope(eng) as session:
            session.execute(text("SELECT 1"))
            again = session.connection().connection.dbapi_connection
            assert again is raw
            assert not again.autocommit
            assert again.info.transaction_status == TransactionStatus.INTRANS
    finally:
        eng.dispose()


def test_a_database_host_that_never_answers_fails_the_connect_after_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A listening socket that never accepts nor speaks: the TCP handshake completes (the kernel
    # queues it), then the server's startup answer never comes, as with a host that drops
    # packets mid-way. Without connect_timeout the connect would wait for minutes.
    monkeypatch.setattr(db, "CONNECT_TIMEOUT_S", 1)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        eng = db.engine_for.__wrapped__(f"postgresql://smartcity@127.0.0.1:{port}/smartcity")
        t0 = time.monotonic()
        with pytest.raises(OperationalError, match="timeout"):
            eng.connect()
        waited = time.monotonic() - t0
        eng.dispose()
    assert 0.9 <= waited < 5.0
