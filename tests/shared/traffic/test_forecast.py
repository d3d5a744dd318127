"""Flow forecasts: the pure model, its evaluation on held-out real counts, and the DB service."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from shared.sensing.models import Datastream, ObservedProperty, Thing
from shared.sensing.service import ensure_observation_partitions
from shared.traffic.evaluation import evaluate_forecasts, load_sample_counts
from shared.traffic.forecast import (
    fit_flow_model,
    forecast_flow,
    forecast_flow_series,
    horizon_steps,
    mase,
    prepare_counts,
)


def _pattern(index: pd.DatetimeIndex) -> np.ndarray:
    """A weekday/weekend daily shape: peaks at 08:00 and 17:00, lower at weekends."""
    hours = index.hour + index.minute / 60.0
    base = 5 + 40 * np.exp(-((hours - 8) ** 2) / 2) + 50 * np.exp(-((hours - 17) ** 2) / 3)
    return np.where(index.dayofweek >= 5, 0.5 * base, base)


def test_a_noise_free_day_type_pattern_is_forecast_exactly() -> None:
    idx = pd.date_range("2024-03-04", periods=14 * 96, freq="15min")  # two weeks from a Monday
    y = pd.Series(_pattern(idx), index=idx)
    out = forecast_flow_series(y, horizons=(15, 30, 60))
    assert sorted(out) == [15, 30, 60]
    nxt = pd.DatetimeIndex([idx[-1] + pd.Timedelta(minutes=m) for m in (15, 30, 60)])
    for (h, v), want in zip(sorted(out.items()), _pattern(nxt), strict=True):
        assert v == pytest.approx(want, abs=1e-6), h


def test_a_level_shift_is_carried_into_the_next_bins_and_damped() -> None:
    idx = pd.date_range("2024-03-04", periods=14 * 96, freq="15min")
    values = _pattern(idx)
    values[-8:] += 30.0  # the last two hours run 30 vehicles per bin above normal
    y = pd.Series(values, index=idx)
    model = fit_flow_model(y)
    out = forecast_flow_series(y, model=model)
    nxt = pd.DatetimeIndex([idx[-1] + pd.Timedelta(minutes=m) for m in (15, 30, 60)])
    excess = [out[h] - p for h, p in zip((15, 30, 60), _pattern(nxt), strict=True)]
    assert all(e > 5.0 for e in excess)
    assert excess[0] > excess[1] > excess[2]  # phi < 1 damps the correction with horizon
    assert 0 < model.phi < 1 and 0 < model.alpha <= 1


def test_mase_matches_a_hand_computed_value() -> None:
    train = np.array([1.0, 2.0, 3.0, 2.0, 4.0, 6.0])  # season 3: |2-1| + |4-2| + |6-3| -> MAE 2
    assert mase(np.array([10.0, 12.0]), np.array([11.0, 9.0]), train, season=3) == 1.0
    with pytest.raises(ValueError, match="more than one season"):
        mase(np.array([1.0]), np.array([1.0]), train[:3], season=3)
    with pytest.raises(ValueError, match="undefined"):
        mase(np.array([1.0]), np.array([1.0]), np.ones(8), season=3)


@pytest.mark.parametrize(
    ("horizons", "message"),
    [((20,), "multiples of 15"), ((0,), "multiples of 15"), ((), "must not be empty")],
)
def test_bad_horizons_are_refused(horizons: tuple[int, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        horizon_steps(horizons)


def test_bad_histories_are_refused_with_a_reason() -> None:
    idx = pd.date_range("2024-03-04", periods=200, freq="15min")
    with pytest.raises(ValueError, match="at least one day"):
        prepare_counts(pd.Series(1.0, index=idx[:50]))
    with pytest.raises(ValueError, match="negative"):
        prepare_counts(pd.Series(-1.0, index=idx))
    with pytest.raises(ValueError, match="bin starts"):
        prepare_counts(pd.Series(1.0, index=idx + pd.Timedelta(minutes=5)))
    with pytest.raises(ValueError, match="DatetimeIndex"):
        prepare_counts(pd.Series(np.ones(200)))


def test_held_out_real_counts_ours_beats_seasonal_naive() -> None:
    wide = load_sample_counts()
    # The four busiest detectors; on all 22 ours wins everywhere (python -m bench.traffic).
    busiest = list(wide.mean().sort_values(ascending=False).index[:4])
    ev = evaluate_forecasts(wide, test_days=7, detectors=busiest)
    assert ev.detectors == 4 and ev.horizons_min == [15, 30, 60]
    for method in ("ours", "seasonal_naive_week", "seasonal_naive_day"):
        assert set(ev.median_mase[method]) == {15, 30, 60}
        assert all(math.isfinite(v) and v > 0 for v in ev.median_mase[method].values())
    for h in (15, 30, 60):
        assert ev.median_mase["ours"][h] < ev.median_mase["seasonal_naive_week"][h]
    # Errors grow with the horizon for our model (the level correction fades).
    assert ev.median_mase["ours"][15] <= ev.median_mase["ours"][60]


def _hourly(index: pd.DatetimeIndex) -> np.ndarray:
    """The pattern held flat within each hour, so hourly roll-ups lose nothing by the split."""
    return _pattern(index.floor("h"))


def _count_stream(session: Session) -> Datastream:
    return session.scalars(
        select(Datastream)
        .join(ObservedProperty, ObservedProperty.id == Datastream.observed_property_id)
        .join(Thing, Thing.id == Datastream.thing_id)
        .where(ObservedProperty.code == "vehicle_count", Thing.code == "TD-0001")
    ).one()


@pytest.mark.stack
def test_forecast_flow_reads_raw_and_hourly_history_from_the_db(db_session: Session) -> None:
    ds = _count_stream(db_session)
    tz = _tz(db_session, ds)
    db_session.execute(text("DELETE FROM observation WHERE datastream_id = :d"), {"d": ds.id})
    # Yesterday 06:37 UTC, in the morning rise (07:37 in Berlin in winter, 08:37 in summer).
    now = datetime.now(UTC).replace(hour=6, minute=37, second=0, microsecond=0) - timedelta(days=1)
    origin = now.replace(minute=30)
    raw_from = origin.replace(minute=0) - timedelta(days=3)  # raw windows start on the hour
    ensure_observation_partitions(
        session=db_session, first_day=raw_from.date(), last_day=now.date()
    )
    # Raw readings every 5 minutes (each a third of the bin's count) for three days...
    raw_idx = pd.date_range(raw_from, now, freq="5min", inclusive="left")
    counts = _hourly(raw_idx.tz_convert(tz)) / 3.0
    db_session.execute(
        text("INSERT INTO observation VALUES (:d, :t, :v)"),
        [
            {"d": ds.id, "t": t.to_pydatetime(), "v": float(v)}
            for t, v in zip(raw_idx, counts, strict=True)
        ],
    )
    # ...and hourly roll-ups (the sum of their four bins) for the four days before.
    old = pd.date_range(raw_from - timedelta(days=4), raw_from, freq="15min", inclusive="left")
    per_hour = pd.Series(_hourly(old.tz_convert(tz)), index=old).resample("1h").sum()
    db_session.execute(
        text("INSERT INTO observation_hourly VALUES (:d, :t, 4, :v, 0, 0)"),
        [{"d": ds.id, "t": t.to_pydatetime(), "v": float(v)} for t, v in per_hour.items()],
    )

    fc = forecast_flow(session=db_session, datastream_id=ds.id, now=now)
    assert fc.origin == origin and fc.thing_code == "TD-0001"
    assert [p.horizon_min for p in fc.points] == [15, 30, 60]
    assert [p.bin_end - origin for p in fc.points] == [timedelta(minutes=m) for m in (15, 30, 60)]
    assert fc.history_bins >= 7 * 96 - 4  # three raw days plus four rolled-up days
    want = _hourly(pd.DatetimeIndex([p.bin_start for p in fc.points]).tz_convert(tz))
    assert want[0] != want[-1]  # the horizons cross an hour with a different count
    for p, w in zip(fc.points, want, strict=True):
        assert p.vehicles == pytest.approx(w, abs=0.02)
        assert p.vehicles_per_hour == pytest.approx(4 * p.vehicles, abs=0.1)


def _tz(session: Session, ds: Datastream) -> str:
    return session.scalar(
        text(
            "SELECT coalesce(j.timezone, 'UTC') FROM thing t LEFT JOIN district d"
            " ON d.id = t.district_id LEFT JOIN jurisdiction j ON j.id = d.jurisdiction_id"
            " WHERE t.id = :t"
        ),
        {"t": ds.thing_id},
    )


@pytest.mark.stack
def test_forecast_flow_refuses_unknown_and_non_count_streams(db_session: Session) -> None:
    with pytest.raises(LookupError, match="no datastream"):
        forecast_flow(session=db_session, datastream_id=987_654_321)
    speed = db_session.scalars(
        select(Datastream)
        .join(ObservedProperty, ObservedProperty.id == Datastream.observed_property_id)
        .where(ObservedProperty.code == "speed")
    ).first()
    assert speed is not None
    with pytest.raises(ValueError, match="vehicle_count"):
        forecast_flow(session=db_session, datastream_id=speed.id)
    with pytest.raises(ValueError, match="multiples of 15"):
        forecast_flow(session=db_session, datastream_id=speed.id, horizons=(10,))
