"""The batch pipeline's insert: plain first, ON CONFLICT after a batch that held stored rows."""

from __future__ import annotations

import time
from uuid import uuid4

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.ingest.schemas import Batch, Reading
from shared.pipeline import ConflictMemory, RuleCache, process_batch
from shared.sensing.flows import BatchConflict, DatastreamIndex, ingest_batch
from shared.sensing.models import DeadLetter, Observation


def _batch(readings: list[Reading]) -> Batch:
    return Batch(batch_id=uuid4().hex, received_at=time.time(), readings=readings)


def _stored(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Observation)) or 0


def test_a_plain_insert_of_a_stored_reading_raises_batch_conflict(db_session: Session) -> None:
    index = DatastreamIndex()
    now = time.time()
    readings = [Reading("TD-0002", "speed", now - i, 30.0) for i in range(5)]
    ingest_batch(session=db_session, batch=_batch(readings[:1]), index=index)
    with pytest.raises(BatchConflict, match="observation"):
        ingest_batch(session=db_session, batch=_batch(readings), index=index, assume_new=True)


def test_a_redelivered_batch_is_stored_once_and_later_batches_insert_safely(
    db_session: Session,
) -> None:
    index, rules, conflicts = DatastreamIndex(), RuleCache(), ConflictMemory(safe_batches=2)
    kw = {"engine": db_session.get_bind(), "index": index, "rules": rules, "conflicts": conflicts}
    now = time.time()
    readings = [Reading("TD-0003", "speed", now - 60 + i, 30.0 + i) for i in range(40)]
    before = _stored(db_session)

    first = _batch(readings[:20])
    result, _ = process_batch(batch=first, **kw)
    assert (result.stored, result.redelivered, conflicts.conflicts) == (20, 0, 0)

    # The same 20 again, with 20 new ones and one clash (a stored time with another value).
    clash = Reading("TD-0003", "speed", readings[0].ts, 99.0)
    result, _ = process_batch(batch=_batch([*readings, clash]), **kw)
    assert (result.stored, result.redelivered, conflicts.conflicts) == (20, 20, 1)
    assert result.reasons == {"duplicate": 1}
    assert _stored(db_session) == before + 40
    assert conflicts.safe_left == 2

    # The next two batches go the ON CONFLICT way at once; the one after tries plainly again.
    for i in range(3):
        new = [Reading("TD-0003", "speed", now - 10 + i, 50.0)]
        result, _ = process_batch(batch=_batch(new), **kw)
        assert result.stored == 1
    assert (conflicts.safe_left, conflicts.conflicts) == (0, 1)
    assert _stored(db_session) == before + 43
    dead = db_session.scalars(select(DeadLetter.reason).where(DeadLetter.sensor_code == "TD-0003"))
    assert dead.all() == ["duplicate"]
