"""Sessions: read_scope runs each statement on its own (autocommit) and hands its pooled
connection back as it found it, so a later session_scope still gets a transaction."""

from __future__ import annotations

from psycopg.pq import TransactionStatus
from sqlalchemy import Engine, create_engine, text

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
