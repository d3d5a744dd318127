"""Storing a batch: exactly once, idempotent on redelivery, every refusal dead-lettered."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from shared.ingest.schemas import Batch, Reading, Reject
from shared.sensing.flows import (
    DatastreamIndex,
    epoch_to_us,
    from_us,
    ingest_batch,
    to_us,
)
from shared.sensing.models import Datastream, DatastreamLatest, DeadLetter, Observation, Thing
from shared.sensing.schemas import DatastreamKey


@pytest.fixture
def index() -> DatastreamIndex:
    return DatastreamIndex()


def _batch(readings: list[Reading], rejects: list[Reject] | None = None) -> Batch:
    return Batch(batch_id=uuid4().hex, received_at=time.time(), readings=readings,
                 rejects=rejects or [])  # fmt: skip


def _count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Observation)) or 0


def test_a_batch_is_stored_once_and_redelivery_changes_nothing(
    db_session: Session, index: DatastreamIndex
) -> None:
    now = time.time()
    readings = [Reading("AQ-01", "pm25", now - i, 10.0 + i, "ug/m3", "", "") for i in range(50)]
    readings += [Reading("TD-0001", "speed", now - i, 40.0) for i in range(50)]
    batch = _batch(readings)
    before = _count(db_session)
    first = ingest_batch(session=db_session, batch=batch, index=index)
    assert first.result.stored == 100 and first.result.dead_lettered == 0
    assert _count(db_session) == before + 100

    again = ingest_batch(session=db_session, batch=batch, index=index)
    assert again.result.stored == 0 and again.result.redelivered == 100
    assert again.result.dead_lettered == 0
    assert _count(db_session) == before + 100
    assert not db_session.scalar(
        select(func.count()).select_from(DeadLetter).where(DeadLetter.batch_id == batch.batch_id)
    )

    ds = db_session.scalar(
        select(Datastream.id)
        .join(Thing)
        .where(Thing.code == "AQ-01", Datastream.name.like("%PM2.5%"))
    )
    latest = db_session.get(DatastreamLatest, ds)
    assert latest is not None and latest.result == 10.0  # the newest reading (i = 0)


def test_every_kind_of_bad_reading_is_dead_lettered_with_its_reason(
    db_session: Session, index: DatastreamIndex
) -> None:
    now = time.time()
    good = Reading("AQ-02", "pm25", now - 5, 12.0)
    batch = _batch(
        [
            good,
            Reading("NOPE-1", "pm25", now, 1.0),  # unknown sensor
            Reading("AQ-02", "speed", now, 1.0),  # no such metric on the thing
            Reading("AQ-02", "pm10", now + 3600, 1.0),  # future
            Reading("AQ-02", "pm10", now - 200 * 86400, 1.0),  # older than retention
            Reading("AQ-02", "pm10", now, -3.0),  # out of range
            Reading("AQ-02", "pm10", now - 1, 1.0, "ppm"),  # wrong unit
            Reading("AQ-02", "no2", now, 10.0, "", "nw", "traffic"),  # wrong type in topic
            Reading("AQ-02", "pm25", now - 5, 99.0),  # same time as `good`, other value
            Reading("AQ-02", "pm25", now - 5, 12.0),  # exact repeat: dropped silently
        ],
        [Reject("city/nw/noise/NS-01", "{not json", "malformed", "JSON decode error")],
    )
    out = ingest_batch(session=db_session, batch=batch, index=index)
    assert out.result.stored == 1
    assert out.result.reasons == {
        "malformed": 1, "unknown_sensor": 2, "future_time": 1, "too_old": 1,
        "out_of_range": 1, "unit_mismatch": 1, "type_mismatch": 1, "duplicate": 1,
    }  # fmt: skip
    rows = db_session.scalars(select(DeadLetter).where(DeadLetter.batch_id == batch.batch_id)).all()
    assert len(rows) == 9
    malformed = next(r for r in rows if r.reason == "malformed")
    assert malformed.payload == "{not json" and malformed.topic == "city/nw/noise/NS-01"
    unknown = next(r for r in rows if r.sensor_code == "NOPE-1")
    assert "NOPE-1" in unknown.detail and '"metric":"pm25"' in unknown.payload

    # Redelivering the same batch writes no second copy of its dead letters.
    ingest_batch(session=db_session, batch=batch, index=index)
    assert (
        db_session.scalar(
            select(func.count())
            .select_from(DeadLetter)
            .where(DeadLetter.batch_id == batch.batch_id)
        )
        == 9
    )


def test_the_fast_path_still_refuses_what_passes_a_combination_checked_before(
    db_session: Session, index: DatastreamIndex
) -> None:
    # The first reading of each (sensor, metric, unit, topic) combination is good, so the later
    # ones meet the per-batch cache of checks already made; each must still be refused.
    now = time.time()
    inf, nan = float("inf"), float("nan")
    batch = _batch(
        [
            Reading("AQ-04", "pm10", now - 9, 20.0),
            Reading("AQ-04", "pm10", now - 8, inf),  # bad_value
            Reading("AQ-04", "pm10", now - 7, -inf),  # bad_value
            Reading("AQ-04", "pm10", now - 6, nan),  # bad_value
            Reading("AQ-04", "pm10", inf, 20.0),  # bad_timestamp
            Reading("AQ-04", "pm10", nan, 20.0),  # bad_timestamp
            Reading("AQ-04", "pm10", now - 5, 1e9),  # out_of_range
            Reading("AQ-04", "pm10", now + 3600, 20.0),  # future_time
            # Sub-microsecond apart from the first: the same stored time, so a duplicate.
            Reading("AQ-04", "pm10", now - 9 + 1e-7, 21.0),
        ]
    )
    out = ingest_batch(session=db_session, batch=batch, index=index, assume_new=True)
    assert out.result.stored == 1
    assert out.result.reasons == {
        "bad_value": 3, "bad_timestamp": 2, "out_of_range": 1, "future_time": 1, "duplicate": 1,
    }  # fmt: skip


@pytest.mark.parametrize("seed", range(5))
def test_epoch_seconds_round_to_the_microsecond_datetime_gives(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(20_000):
        ts = rng.uniform(1.5e9, 2.0e9)
        if rng.random() < 0.3:  # exact halves of a microsecond, where rounding modes differ
            ts = (rng.randrange(1_500_000_000_000_000, 2_000_000_000_000_000) + 0.5) / 1e6
        assert epoch_to_us(ts) == to_us(datetime.fromtimestamp(ts, tz=UTC))
        assert from_us(epoch_to_us(ts)) == datetime.fromtimestamp(ts, tz=UTC)


def test_a_clash_with_a_stored_value_is_a_duplicate(
    db_session: Session, index: DatastreamIndex
) -> None:
    t = time.time() - 60
    ingest_batch(session=db_session, batch=_batch([Reading("NS-01", "laeq", t, 55.0)]), index=index)
    out = ingest_batch(
        session=db_session, batch=_batch([Reading("NS-01", "laeq", t, 56.0)]), index=index
    )
    assert out.result.stored == 0 and out.result.reasons == {"duplicate": 1}
    assert (
        db_session.scalar(select(Observation.result).where(Observation.result.in_([55.0, 56.0])))
        == 55.0
    )


def test_a_sensor_registered_just_after_a_reload_is_known_at_once(
    db_session: Session, index: DatastreamIndex
) -> None:
    from sqlalchemy import update

    assert index.get(session=db_session, sensor="AQ-01", metric="pm25") is not None  # loads
    # Registered now, well inside the window in which a full reload is not repeated.
    db_session.execute(update(Thing).where(Thing.code == "AQ-02").values(code="AQ-NEW"))
    key = index.get(session=db_session, sensor="AQ-NEW", metric="pm25")
    assert key is not None and key.thing_code == "AQ-NEW"
    # Unknown codes are looked up once per window each, and there is a cap.
    assert index.get(session=db_session, sensor="NOPE-1", metric="pm25") is None
    index._looked_up |= {f"X-{i}" for i in range(DatastreamIndex.MAX_LOOKUPS)}
    db_session.execute(update(Thing).where(Thing.code == "AQ-03").values(code="AQ-LATE"))
    assert index.get(session=db_session, sensor="AQ-LATE", metric="pm25") is None


def test_an_older_batch_committing_later_never_overwrites_the_latest_state(
    engine: Engine, index: DatastreamIndex
) -> None:
    # Two batches of one sensor in flight at once: the newer one's transaction holds the latest
    # row; the older one waits for it and then must leave the newer value in place.
    now = time.time()
    newer = _batch([Reading("AQ-06", "pm10", now - 10, 30.0)])
    older = _batch([Reading("AQ-06", "pm10", now - 20, 20.0)])
    a, b = Session(engine), Session(engine)
    restored = _committed_then_restored(
        engine, index, "AQ-06", "pm10", since=now - 30, closing=(a, b)
    )
    with restored as key:
        ingest_batch(session=a, batch=newer, index=index)
        other = threading.Thread(
            target=lambda: (ingest_batch(session=b, batch=older, index=index), b.commit())
        )
        other.start()
        time.sleep(0.3)
        assert other.is_alive()  # waiting for the newer batch's row lock
        a.commit()
        other.join(10)
        with Session(engine) as s:
            latest = s.get(DatastreamLatest, key.datastream_id)
            assert latest is not None and latest.result == 30.0
            stored = s.scalars(
                select(Observation.result).where(
                    Observation.datastream_id == key.datastream_id,
                    Observation.phenomenon_time >= datetime.fromtimestamp(now - 30, UTC),
                )
            ).all()
            assert sorted(stored) == [20.0, 30.0]  # both readings kept in the series


def test_a_batch_that_waited_for_another_of_its_sensor_sees_that_one_as_previous(
    engine: Engine, index: DatastreamIndex
) -> None:
    # Rate-of-change rules and "which readings are new" compare with the previous latest state.
    # A batch that had to wait for one in flight on the same sensor must compare with what that
    # one committed, not with the state from before it (its statement's snapshot).
    now = time.time()
    first = _batch([Reading("NS-02", "laeq", now - 120, 80.0)])
    second = _batch([Reading("NS-02", "laeq", now - 60, 81.0)])
    a, b = Session(engine), Session(engine)
    seen: list[dict[int, tuple[datetime, float]]] = []
    restored = _committed_then_restored(
        engine, index, "NS-02", "laeq", since=now - 190, closing=(a, b)
    )
    with restored as key:
        with Session(engine) as s:  # the state both batches start from
            ingest_batch(session=s, batch=_batch([Reading("NS-02", "laeq", now - 180, 50.0)]),
                         index=index)  # fmt: skip
            s.commit()
        ingest_batch(session=a, batch=first, index=index)
        other = threading.Thread(
            target=lambda: (seen.append(ingest_batch(session=b, batch=second, index=index)
                                        .previous), b.commit())
        )  # fmt: skip
        other.start()
        time.sleep(0.3)
        assert other.is_alive()  # waiting for the first batch's row lock
        a.commit()
        other.join(10)
        assert seen and seen[0][key.datastream_id] == (datetime.fromtimestamp(now - 120, UTC), 80.0)


@contextmanager
def _committed_then_restored(
    engine: Engine,
    index: DatastreamIndex,
    sensor: str,
    metric: str,
    *,
    since: float,
    closing: tuple[Session, ...],
) -> Iterator[DatastreamKey]:
    """Yield a datastream's key for a test that commits on purpose (two real transactions);
    afterwards close its sessions (releasing their locks), delete the datastream's
    observations from `since` (epoch s) on and put its latest state back, for other tests."""
    with Session(engine) as s:
        key = index.get(session=s, sensor=sensor, metric=metric)
        assert key is not None
        saved = s.get(DatastreamLatest, key.datastream_id)
        before = (saved.phenomenon_time, saved.result, saved.updated_at) if saved else None
    try:
        yield key
    finally:
        for session in closing:
            session.close()
        with engine.begin() as c:
            c.execute(
                text("DELETE FROM observation WHERE datastream_id = :d AND phenomenon_time >= :t"),
                {"d": key.datastream_id, "t": datetime.fromtimestamp(since, UTC)},
            )
            c.execute(text("DELETE FROM datastream_latest WHERE datastream_id = :d"),
                      {"d": key.datastream_id})  # fmt: skip
            if before is not None:
                c.execute(
                    text("INSERT INTO datastream_latest (datastream_id, phenomenon_time, result, "
                         "updated_at) VALUES (:d, :t, :v, :u)"),
                    {"d": key.datastream_id, "t": before[0], "v": before[1], "u": before[2]},
                )  # fmt: skip


@pytest.mark.parametrize("assume_new", [True, False])
def test_stored_times_are_the_readings_rounded_as_epoch_to_us(
    db_session: Session, index: DatastreamIndex, assume_new: bool
) -> None:
    # The ingest loop converts times itself (inlined for speed): it must agree with
    # epoch_to_us, half-microseconds included, and so must what the database holds.
    rng = random.Random(7)
    now = time.time()
    times = {now - 30 + rng.random() * 20 for _ in range(150)}
    times |= {(round((now - 25) * 1e6) + k + 0.5) / 1e6 for k in range(0, 300, 3)}  # halves
    readings = [Reading("AQ-05", "pm25", t, 12.0) for t in sorted(times)]
    out = ingest_batch(session=db_session, batch=_batch(readings), index=index,
                       assume_new=assume_new)  # fmt: skip
    expected = sorted({epoch_to_us(t) for t in times})
    assert sorted(us for _seq, _key, us, _v in out.stored) == expected
    ds = out.stored[0][1].datastream_id
    since = Observation.phenomenon_time >= from_us(expected[0])
    query = select(Observation.phenomenon_time).where(Observation.datastream_id == ds, since)
    stored = db_session.scalars(query).all()
    # (Other tests' committed rows of this datastream may lie in the same seconds.)
    assert set(expected) <= {to_us(t) for t in stored}
