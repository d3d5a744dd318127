"""Per-minute sums for window-mean rules: exact, never doubled by redelivery, trusted only when
rebuilt after every batch that could have missed the marker is over."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from shared.ingest.schemas import Batch, Reading
from shared.sensing.flows import DatastreamIndex, epoch_to_us, from_us, ingest_batch
from shared.sensing.service import (
    arm_window_sum_streams,
    prune_window_sums,
    rebuild_window_sums,
    set_window_sum_streams,
    window_means,
)

DAY = 86_400


@pytest.fixture
def index(db_session: Session) -> DatastreamIndex:
    # Start from no markers (inside the test's transaction): another test or a task may have
    # committed some, as the running platform would.
    db_session.execute(text("DELETE FROM window_sum_stream"))
    db_session.execute(text("DELETE FROM observation_minute"))
    return DatastreamIndex()


def _batch(readings: list[Reading]) -> Batch:
    return Batch(batch_id=uuid4().hex, received_at=time.time(), readings=readings)


def _ds(session: Session, index: DatastreamIndex, sensor: str, metric: str) -> int:
    key = index.get(session=session, sensor=sensor, metric=metric)
    assert key is not None
    return key.datastream_id


def _sums(session: Session, ds: int) -> dict[datetime, tuple[int, float]]:
    rows = session.execute(
        text("SELECT minute, n, total FROM observation_minute WHERE datastream_id = :ds"),
        {"ds": ds},
    ).all()
    return {m: (n, total) for m, n, total in rows}


def _raw_sums(session: Session, ds: int) -> dict[datetime, tuple[int, float]]:
    rows = session.execute(
        text(
            "SELECT date_trunc('minute', phenomenon_time, 'UTC'), count(*), sum(result) "
            "FROM observation WHERE datastream_id = :ds GROUP BY 1"
        ),
        {"ds": ds},
    ).all()
    return {m: (n, total) for m, n, total in rows}


def _mark(session: Session, windows: dict[int, int]) -> dict[str, int]:
    counts = set_window_sum_streams(session=session, windows=windows)
    arm_window_sum_streams(session=session)
    counts.update(rebuild_window_sums(session=session))
    return counts


def test_unmarked_datastreams_get_no_sums(db_session: Session, index: DatastreamIndex) -> None:
    now = time.time()
    ds = _ds(db_session, index, "AQ-01", "pm25")
    ingest_batch(session=db_session, batch=_batch([Reading("AQ-01", "pm25", now - 5, 12.0)]),
                 index=index)  # fmt: skip
    assert _sums(db_session, ds) == {}


def test_sums_match_the_raw_rows_and_redelivery_adds_nothing(
    db_session: Session, index: DatastreamIndex
) -> None:
    now = time.time()
    ds = _ds(db_session, index, "AQ-02", "pm25")
    other = _ds(db_session, index, "AQ-02", "pm10")
    # Rows stored before the marker existed: the rebuild takes them from the raw table.
    early = [Reading("AQ-02", "pm25", now - 7200 + i * 7, 20.0 + i) for i in range(30)]
    ingest_batch(session=db_session, batch=_batch(early), index=index)
    counts = _mark(db_session, {ds: DAY})
    assert counts["added"] == 1 and counts["rebuilt"] == 1 and counts["pending"] == 0
    assert _sums(db_session, ds) == _raw_sums(db_session, ds)

    # Batches after it: new minutes, a late reading into an old minute, and a redelivery.
    batch = _batch(
        [Reading("AQ-02", "pm25", now - 100 + i, 30.0 + i) for i in range(90)]
        + [Reading("AQ-02", "pm25", now - 7200 + 3, 99.0)]
        + [Reading("AQ-02", "pm10", now - 50, 44.0)]
    )
    first = ingest_batch(session=db_session, batch=batch, index=index)
    assert first.result.stored == 92
    again = ingest_batch(session=db_session, batch=batch, index=index)
    assert again.result.stored == 0 and again.result.redelivered == 92
    assert _sums(db_session, ds) == _raw_sums(db_session, ds)
    assert sum(n for n, _t in _sums(db_session, ds).values()) == 30 + 91
    assert _sums(db_session, other) == {}  # not marked: no sums

    means = window_means(session=db_session, ids=[ds, other], window_s=DAY,
                         now=datetime.now(UTC))  # fmt: skip
    raw_mean = db_session.scalar(
        text("SELECT avg(result) FROM observation WHERE datastream_id = :ds"), {"ds": ds}
    )
    assert means == {ds: pytest.approx(raw_mean)}  # `other` has no sums: the caller uses raw


def test_a_marker_is_trusted_only_once_rebuilt(db_session: Session, index: DatastreamIndex) -> None:
    now = datetime.now(UTC)
    ds = _ds(db_session, index, "AQ-03", "pm25")
    set_window_sum_streams(session=db_session, windows={ds: DAY})
    assert window_means(session=db_session, ids=[ds], window_s=DAY, now=now) == {}
    assert rebuild_window_sums(session=db_session) == {"rebuilt": 0, "pending": 1}  # not armed
    assert arm_window_sum_streams(session=db_session) == 1
    assert rebuild_window_sums(session=db_session)["rebuilt"] == 1
    # Ready with no reading in the window: None, not absent (no raw fallback needed).
    db_session.execute(text("DELETE FROM observation WHERE datastream_id = :ds"), {"ds": ds})
    db_session.execute(text("DELETE FROM observation_minute WHERE datastream_id = :ds"),
                       {"ds": ds})  # fmt: skip
    assert window_means(session=db_session, ids=[ds], window_s=DAY, now=now) == {ds: None}
    # A rule asking for a longer window than the sums are kept for cannot use them.
    assert window_means(session=db_session, ids=[ds], window_s=2 * DAY, now=now) == {}


def test_the_window_is_whole_minutes(db_session: Session, index: DatastreamIndex) -> None:
    ds = _ds(db_session, index, "AQ-04", "pm25")
    _mark(db_session, {ds: 3600})
    now = datetime.now(UTC).replace(second=30, microsecond=0)
    inside = now - timedelta(minutes=59)  # in a minute wholly inside the hour
    # Inside the hour too, but in the minute that holds now - 1 h: the sums leave it out.
    edge = now - timedelta(minutes=59, seconds=50)
    readings = [Reading("AQ-04", "pm25", inside.timestamp(), 10.0),
                Reading("AQ-04", "pm25", edge.timestamp(), 1000.0)]  # fmt: skip
    ingest_batch(session=db_session, batch=_batch(readings), index=index)
    means = window_means(session=db_session, ids=[ds], window_s=3600, now=now)
    assert means == {ds: 10.0}


def test_a_batch_older_than_the_arming_holds_back_the_rebuild(
    engine: Engine, db_session: Session, index: DatastreamIndex
) -> None:
    ds = _ds(db_session, index, "AQ-05", "pm25")
    # Another client's transaction that began before the marker was armed: it may be a batch
    # whose statement did not see the marker, so its rows would be missing from the sums.
    with engine.connect() as other:
        other.execute(text("SELECT 1"))  # the transaction starts here
        set_window_sum_streams(session=db_session, windows={ds: DAY})
        arm_window_sum_streams(session=db_session)
        assert rebuild_window_sums(session=db_session) == {"rebuilt": 0, "pending": 1}
        other.rollback()
    assert rebuild_window_sums(session=db_session) == {"rebuilt": 1, "pending": 0}


def test_markers_follow_the_targets_and_old_minutes_are_pruned(
    db_session: Session, index: DatastreamIndex
) -> None:
    now = time.time()
    a = _ds(db_session, index, "AQ-06", "pm25")
    b = _ds(db_session, index, "AQ-07", "pm25")
    old = [Reading("AQ-06", "pm25", now - 3 * 3600, 5.0), Reading("AQ-06", "pm25", now - 60, 6.0),
           Reading("AQ-07", "pm25", now - 60, 7.0)]  # fmt: skip
    ingest_batch(session=db_session, batch=_batch(old), index=index)
    _mark(db_session, {a: DAY, b: DAY})
    assert len(_sums(db_session, a)) == 2 and len(_sums(db_session, b)) == 1

    # b is no longer watched: its marker and sums go. a's window shrinks to 1 h: the 3 h old
    # minute is pruned (past 1 h + the margin of 1 h), and the sums stay trusted.
    counts = set_window_sum_streams(session=db_session, windows={a: 3600})
    assert counts == {"added": 0, "removed": 1, "changed": 1}
    assert _sums(db_session, b) == {}
    assert prune_window_sums(session=db_session) >= 1
    assert len(_sums(db_session, a)) == 1
    at = datetime.now(UTC)
    assert window_means(session=db_session, ids=[a], window_s=3600, now=at) == {a: 6.0}

    # Widened again to a day: the pruned minute must come back, so a rebuild is needed first.
    set_window_sum_streams(session=db_session, windows={a: DAY})
    assert window_means(session=db_session, ids=[a], window_s=DAY, now=at) == {}
    assert rebuild_window_sums(session=db_session)["rebuilt"] == 1
    assert window_means(session=db_session, ids=[a], window_s=DAY, now=at) == {a: 5.5}


def test_the_rebuild_takes_at_most_limit_datastreams(
    db_session: Session, index: DatastreamIndex
) -> None:
    a = _ds(db_session, index, "AQ-08", "pm25")
    b = _ds(db_session, index, "AQ-09", "pm25")
    set_window_sum_streams(session=db_session, windows={a: DAY, b: DAY})
    arm_window_sum_streams(session=db_session)
    assert rebuild_window_sums(session=db_session, limit=1) == {"rebuilt": 1, "pending": 1}
    assert rebuild_window_sums(session=db_session, limit=1) == {"rebuilt": 1, "pending": 0}
    assert rebuild_window_sums(session=db_session, limit=1) == {"rebuilt": 0, "pending": 0}


def test_concurrent_batches_keep_exact_sums_without_deadlock(engine: Engine) -> None:
    # Two workers storing overlapping batches of the same datastreams at once (and one batch
    # delivered twice): the minute rows they share are locked behind the latest-state rows, in
    # one order, so neither deadlocks, and the sums equal the raw rows.
    index = DatastreamIndex()
    sensors = ["AQ-10", "AQ-11", "AQ-12"]
    with Session(engine) as s:
        ids = [_ds(s, index, code, "pm25") for code in sensors]
        before = s.execute(text("SELECT datastream_id, window_s, armed_at, ready "
                                "FROM window_sum_stream")).all()  # fmt: skip
    start = time.time() - 1.2 * DAY  # a quiet past day: no other test writes there
    batches = [
        _batch([Reading(code, "pm25", start + b * 10.0 + i * 0.25, float(b + i))
                for i in range(40) for code in sensors])
        for b in range(24)
    ]  # fmt: skip
    errors: list[BaseException] = []
    try:
        with Session(engine) as s:
            s.execute(text("DELETE FROM window_sum_stream WHERE datastream_id = ANY(:ids)"),
                      {"ids": ids})  # fmt: skip
            s.execute(text("INSERT INTO window_sum_stream (datastream_id, window_s, ready) "
                           "SELECT unnest(CAST(:ids AS int[])), 172800, true"),
                      {"ids": ids})  # fmt: skip
            s.execute(text("DELETE FROM observation_minute WHERE datastream_id = ANY(:ids)"),
                      {"ids": ids})  # fmt: skip
            s.commit()

        def work(mine: list[Batch]) -> None:
            try:
                for b in mine:
                    with Session(engine) as s:
                        ingest_batch(session=s, batch=b, index=index)
                        s.commit()
            except BaseException as exc:
                errors.append(exc)

        # Each worker gets every other batch plus the other's first batch again (redelivery).
        a = [*batches[0::2], batches[1]]
        b = [*batches[1::2], batches[0]]
        threads = [threading.Thread(target=work, args=(x,)) for x in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        with Session(engine) as s:
            for ds in ids:
                raw = {m: v for m, v in _raw_sums(s, ds).items()
                       if m >= datetime.fromtimestamp(start - 60, UTC)}  # fmt: skip
                assert _sums(s, ds) == raw
                assert sum(n for n, _t in raw.values()) == 24 * 40
    finally:
        with Session(engine) as s:
            since, until = start - 60, start + 24 * 10.0 + 60
            s.execute(
                text("DELETE FROM observation WHERE datastream_id = ANY(:ids) AND "
                     "phenomenon_time BETWEEN to_timestamp(:a) AND to_timestamp(:b)"),
                {"ids": ids, "a": since, "b": until},
            )  # fmt: skip
            s.execute(text("DELETE FROM observation_minute WHERE datastream_id = ANY(:ids)"),
                      {"ids": ids})  # fmt: skip
            s.execute(text("DELETE FROM window_sum_stream WHERE datastream_id = ANY(:ids)"),
                      {"ids": ids})  # fmt: skip
            for row in before:
                if row[0] in ids:
                    s.execute(text("INSERT INTO window_sum_stream VALUES (:d, :w, :a, :r)"),
                              {"d": row[0], "w": row[1], "a": row[2], "r": row[3]})  # fmt: skip
            s.commit()


def test_a_batch_copied_straight_into_observation_keeps_the_same_sums(
    db_session: Session, index: DatastreamIndex
) -> None:
    # The worker's usual path (assume_new): rows go into `observation` by COPY and the sums
    # come from arrays the worker computed, not from a staged copy of the rows.
    now = time.time()
    ds = _ds(db_session, index, "AQ-03", "pm25")
    unmarked = _ds(db_session, index, "AQ-03", "pm10")
    _mark(db_session, {ds: DAY})
    start = now - now % 60 - 180  # a whole minute; the batch spans four of them
    for offset, base in ((0.0, 10.0), (0.5, 20.0)):  # the second batch adds to the same minutes
        readings = [Reading("AQ-03", "pm25", start + offset + i * 1.7, base + (i % 13) * 0.1)
                    for i in range(120)]  # fmt: skip
        readings.append(Reading("AQ-03", "pm10", start + offset, 5.0))
        out = ingest_batch(session=db_session, batch=_batch(readings), index=index,
                           assume_new=True)  # fmt: skip
        assert out.result.stored == 121 and {ds, unmarked} <= out.advanced
        got, raw = _sums(db_session, ds), _raw_sums(db_session, ds)
        assert got.keys() == raw.keys() and len(got) == 4
        for minute, (n, total) in raw.items():
            assert got[minute][0] == n and got[minute][1] == pytest.approx(total, rel=1e-12)
    assert _sums(db_session, unmarked) == {}
    latest = db_session.execute(
        text("SELECT phenomenon_time, result FROM datastream_latest WHERE datastream_id = :ds"),
        {"ds": ds},
    ).one()
    newest = max(readings[:-1], key=lambda r: r.ts)
    assert latest.result == newest.value  # to the microsecond: the times travel as integers
    assert latest.phenomenon_time == from_us(epoch_to_us(newest.ts))
