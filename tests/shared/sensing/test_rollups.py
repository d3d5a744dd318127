"""Roll-ups (hourly, daily; UTC) and retention (drop whole partitions; roll-ups kept 10 years)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from shared.sensing.models import ObservationDaily, ObservationHourly
from shared.sensing.service import (
    apply_retention,
    ensure_observation_partitions,
    list_observation_partitions,
    roll_up,
)

DS = 999_001  # a datastream id no seeded row uses (observation has no FK by design)


def _insert(session: Session, rows: list[tuple[datetime, float]]) -> None:
    session.execute(
        text("INSERT INTO observation VALUES (:ds, :t, :v)"),
        [{"ds": DS, "t": t, "v": v} for t, v in rows],
    )


def test_hourly_and_daily_aggregates_are_exact_and_idempotent(db_session: Session) -> None:
    now = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)
    h0 = now.replace(minute=0) - timedelta(hours=1)
    ensure_observation_partitions(session=db_session, first_day=h0.date(), last_day=now.date())
    _insert(db_session, [(h0 + timedelta(minutes=m), float(m)) for m in range(0, 60, 10)])
    _insert(db_session, [(h0 + timedelta(hours=1, minutes=5), 100.0)])
    roll_up(session=db_session, lookback_hours=2, now=now)
    roll_up(session=db_session, lookback_hours=2, now=now)  # again: same result

    hours = db_session.scalars(
        select(ObservationHourly).where(ObservationHourly.datastream_id == DS)
        .order_by(ObservationHourly.bucket)
    ).all()  # fmt: skip
    assert [(h.bucket, h.count, h.total, h.min, h.max) for h in hours] == [
        (h0, 6, 150.0, 0.0, 50.0),
        (h0 + timedelta(hours=1), 1, 100.0, 100.0, 100.0),
    ]
    days = db_session.scalars(
        select(ObservationDaily).where(ObservationDaily.datastream_id == DS)
    ).all()
    assert sum(d.count for d in days) == 7 and sum(d.total for d in days) == 250.0
    assert all(d.bucket.hour == 0 and d.bucket.utcoffset() == timedelta(0) for d in days)


def test_retention_drops_old_partitions_whole_and_keeps_recent_ones(db_session: Session) -> None:
    now = datetime.now(UTC)
    old_day = (now - timedelta(days=120)).date()
    ensure_observation_partitions(session=db_session, first_day=old_day, last_day=old_day)
    _insert(db_session, [(datetime(old_day.year, old_day.month, old_day.day, 12, tzinfo=UTC), 1.0)])
    old_name = f"observation_p{old_day:%Y%m%d}"
    assert old_name in list_observation_partitions(session=db_session)

    ancient = now.replace(year=now.year - 11)
    db_session.execute(
        text("INSERT INTO observation_hourly VALUES (:ds, :t, 1, 1, 1, 1)"),
        {"ds": DS, "t": ancient},
    )
    out = apply_retention(session=db_session, raw_days=90, now=now)
    assert out["partitions_dropped"] >= 1 and out["hourly_deleted"] == 1
    names = list_observation_partitions(session=db_session)
    assert old_name not in names
    assert f"observation_p{now:%Y%m%d}" in names
