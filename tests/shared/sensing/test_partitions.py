"""The observation table: daily partitions created ahead, one row per (datastream, time)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from shared.sensing.models import Observation
from shared.sensing.service import (
    ensure_observation_partitions,
    ensure_partitions_around_now,
    list_observation_partitions,
)


def test_partitions_are_created_ahead_and_idempotent(db_session: Session) -> None:
    names = list_observation_partitions(session=db_session)
    today = datetime.now(UTC).date()
    for offset in range(0, 8):
        assert f"observation_p{(today + timedelta(days=offset)):%Y%m%d}" in names
    assert ensure_partitions_around_now(session=db_session, ahead_days=7) == 0

    far = date(2031, 1, 30)
    assert (
        ensure_observation_partitions(
            session=db_session, first_day=far, last_day=far + timedelta(days=2)
        )
        == 3
    )
    assert (
        ensure_observation_partitions(
            session=db_session, first_day=far, last_day=far + timedelta(days=2)
        )
        == 0
    )
    bound = db_session.scalar(
        text(
            "SELECT pg_get_expr(relpartbound, oid) FROM pg_class "
            "WHERE relname = 'observation_p20310131'"
        )
    )
    assert bound == "FOR VALUES FROM ('2031-01-31 00:00:00+00') TO ('2031-02-01 00:00:00+00')"


def test_rows_land_in_their_day_and_are_unique_per_datastream_and_time(db_session: Session) -> None:
    t = datetime.now(UTC).replace(microsecond=0)
    db_session.add(Observation(datastream_id=1, phenomenon_time=t, result=12.5))
    db_session.flush()
    part = db_session.scalar(
        text(
            "SELECT tableoid::regclass::text FROM observation "
            "WHERE datastream_id = 1 AND phenomenon_time = :t"
        ),
        {"t": t},
    )
    assert part == f"observation_p{t:%Y%m%d}"

    # A redelivered reading changes nothing under ON CONFLICT DO NOTHING...
    res = db_session.execute(
        text("INSERT INTO observation VALUES (1, :t, 99.0) ON CONFLICT DO NOTHING"),
        {"t": t},
    )
    assert res.rowcount == 0
    assert (
        db_session.scalar(select(Observation.result).where(Observation.phenomenon_time == t))
        == 12.5
    )
    # ...and is refused outright without it.
    with pytest.raises(IntegrityError), db_session.begin_nested():
        db_session.execute(text("INSERT INTO observation VALUES (1, :t, 1.0)"), {"t": t})


def test_a_time_without_a_partition_is_refused(db_session: Session) -> None:
    with (
        pytest.raises((IntegrityError, OperationalError, ProgrammingError)),
        db_session.begin_nested(),
    ):
        db_session.execute(text("INSERT INTO observation VALUES (1, '1999-01-01T00:00:00Z', 1.0)"))
    assert (
        db_session.scalar(
            select(func.count())
            .select_from(Observation)
            .where(Observation.phenomenon_time < datetime(2000, 1, 1, tzinfo=UTC))
        )
        == 0
    )
