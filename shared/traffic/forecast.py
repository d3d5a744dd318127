"""Short-term flow forecasts (15/30/60 min ahead) from 15-minute detector counts.

The model is a day-type profile with an exponentially smoothed, damped level correction:

    P(d, s)   mean count of 15-min slot s (0..95, local time) on day type d (weekday / weekend)
    e_t       y_t - P(t), the residual of the latest complete bin
    l_t       alpha * e_t + (1 - alpha) * l_(t-1)            (simple exponential smoothing)
    y_(t+h)   P(t+h) + phi^h * l_t                           (h in 15-min steps; 0 < phi < 1)

It is the deseasonalised exponential-smoothing forecast of Holt-Winters practice with the
seasonal part held as a profile (Hyndman & Athanasopoulos, "Forecasting: Principles and
Practice", 3rd ed., ch. 8) and the damped level of Gardner & McKenzie (1985). Weekday and weekend
profiles pool five and two days per slot, so they are far less noisy than the single value a
seasonal-naive forecast copies from one week earlier. alpha and phi are chosen per series by a
small grid search on its own history (never on the data being forecast).

Accuracy is scored with MASE (Hyndman & Koehler 2006): the forecast MAE divided by the in-sample
MAE of the seasonal-naive forecast with a one-week season (672 bins of 15 minutes).

The same `fit_flow_model` / `forecast_paths` code serves `forecast_flow` (one origin, from the
database) and the held-out evaluation in `shared.traffic.evaluation` (every origin of a test set).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from pydantic import BaseModel
from sqlalchemy import select, text
from sqlalchemy.orm import Session

__all__ = [
    "BIN",
    "DEFAULT_HORIZONS",
    "FlowForecast",
    "FlowForecastPoint",
    "FlowModel",
    "fit_flow_model",
    "forecast_flow",
    "forecast_flow_series",
    "forecast_paths",
    "horizon_steps",
    "mase",
    "prepare_counts",
    "seasonal_naive_paths",
]

BIN: Final[pd.Timedelta] = pd.Timedelta(minutes=15)
BIN_MIN: Final[int] = 15
SLOTS_PER_DAY: Final[int] = 96
WEEK_BINS: Final[int] = 7 * SLOTS_PER_DAY
DAY_BINS: Final[int] = SLOTS_PER_DAY
DEFAULT_HORIZONS: Final[tuple[int, ...]] = (15, 30, 60)
# Grid for alpha and phi; small on purpose: fitting must stay cheap enough to run per request.
ALPHAS: Final[tuple[float, ...]] = (0.1, 0.2, 0.3, 0.5)
PHIS: Final[tuple[float, ...]] = (0.8, 0.9, 0.95)
# Gaps up to this many bins (one hour) are interpolated; longer gaps stay missing.
MAX_GAP_BINS: Final[int] = 4


@dataclass(frozen=True)
class FlowModel:
    """A fitted profile (2 day types x 96 slots, vehicles per 15 min) and smoothing constants."""

    profile: np.ndarray
    alpha: float
    phi: float


def horizon_steps(horizons: Iterable[int]) -> list[int]:
    """Return the 15-min step count of each horizon in minutes.

    Raises:
        ValueError: empty horizons, or a horizon that is not a positive multiple of 15 minutes.
    """
    out: list[int] = []
    for h in horizons:
        if isinstance(h, bool) or not isinstance(h, int | np.integer) or h <= 0 or h % BIN_MIN:
            raise ValueError(f"horizons must be positive multiples of 15 minutes, got {h!r}")
        out.append(int(h) // BIN_MIN)
    if not out:
        raise ValueError("horizons must not be empty")
    return out


def prepare_counts(history: pd.Series) -> pd.Series:
    """Return the counts on a regular 15-min grid (bin starts), short gaps interpolated.

    Raises:
        ValueError: not a DatetimeIndex, bins not aligned to 15 minutes, negative counts, or
            less than one day of data.
    """
    if not isinstance(history, pd.Series):
        raise ValueError(f"history must be a pandas Series, got {type(history).__name__}")
    if not isinstance(history.index, pd.DatetimeIndex):
        raise ValueError("history must be indexed by bin start times (a DatetimeIndex)")
    y = pd.to_numeric(history, errors="raise").astype(float).sort_index()
    y = y[~y.index.duplicated(keep="last")]
    if len(y) and (y.index != y.index.floor(BIN)).any():
        raise ValueError("history index must hold 15-minute bin starts (e.g. 08:00, 08:15)")
    if (y < 0).any():
        raise ValueError("history holds negative vehicle counts")
    if len(y.dropna()) < SLOTS_PER_DAY:
        raise ValueError(
            f"need at least one day ({SLOTS_PER_DAY} bins) of 15-min counts, got {len(y.dropna())}"
        )
    full = pd.date_range(y.index[0], y.index[-1], freq=BIN)
    return y.reindex(full).interpolate(limit=MAX_GAP_BINS, limit_area="inside")


def _day_type(index: pd.DatetimeIndex) -> np.ndarray:
    # 0 = Monday..Friday, 1 = Saturday/Sunday, in the index's own (local) time.
    return (index.dayofweek >= 5).astype(np.int64)


def _slot(index: pd.DatetimeIndex) -> np.ndarray:
    return (index.hour * 4 + index.minute // BIN_MIN).to_numpy(dtype=np.int64)


def _profile(y: pd.Series) -> np.ndarray:
    values = y.to_numpy(dtype=float)
    ok = ~np.isnan(values)
    dt, sl = _day_type(y.index)[ok], _slot(y.index)[ok]
    sums = np.zeros((2, SLOTS_PER_DAY))
    counts = np.zeros((2, SLOTS_PER_DAY))
    np.add.at(sums, (dt, sl), values[ok])
    np.add.at(counts, (dt, sl), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        prof = sums / counts
    # A day type never seen (e.g. only weekdays so far) borrows the other's slot means; a slot
    # never seen at all borrows the overall mean.
    for d in (0, 1):
        missing = np.isnan(prof[d])
        prof[d, missing] = prof[1 - d, missing]
    prof[np.isnan(prof)] = float(np.nanmean(values))
    return prof


def _levels(y: pd.Series, profile: np.ndarray, alpha: float) -> np.ndarray:
    """Smoothed residual level after each bin (a missing bin keeps the previous level)."""
    resid = y.to_numpy(dtype=float) - profile[_day_type(y.index), _slot(y.index)]
    # adjust=False is the recursive form l_t = alpha e_t + (1 - alpha) l_(t-1), seeded by the
    # first residual; ignore_na carries the level across missing bins.
    smoothed = pd.Series(resid).ewm(alpha=alpha, adjust=False, ignore_na=True).mean()
    return smoothed.ffill().fillna(0.0).to_numpy()


def forecast_paths(
    y: pd.Series, model: FlowModel, origins: np.ndarray, steps: Sequence[int]
) -> np.ndarray:
    """Return forecasts, shape (len(origins), len(steps)), made at each origin bin position.

    An origin is the position in `y` of the latest bin counted; the forecast for step h is the
    count of the bin h positions later. Only y[: origin + 1] informs the level.
    """
    levels = _levels(y, model.profile, model.alpha)
    origins = np.asarray(origins, dtype=np.int64)
    starts = y.index[origins]
    out = np.empty((len(origins), len(steps)))
    for j, h in enumerate(steps):
        target = starts + h * BIN
        prof = model.profile[_day_type(target), _slot(target)]
        out[:, j] = np.maximum(prof + model.phi**h * levels[origins], 0.0)
    return out


def seasonal_naive_paths(
    y: pd.Series, origins: np.ndarray, steps: Sequence[int], season: int = WEEK_BINS
) -> np.ndarray:
    """Return seasonal-naive forecasts: the count `season` bins before each target bin."""
    values = y.to_numpy(dtype=float)
    origins = np.asarray(origins, dtype=np.int64)
    out = np.empty((len(origins), len(steps)))
    for j, h in enumerate(steps):
        if h > season:
            raise ValueError(f"step {h} exceeds the season of {season} bins")
        src = origins + h - season
        if (src < 0).any():
            raise ValueError("seasonal-naive needs one full season of history before each origin")
        out[:, j] = values[src]
    return out


def fit_flow_model(
    history: pd.Series,
    *,
    alphas: Sequence[float] = ALPHAS,
    phis: Sequence[float] = PHIS,
    steps: Sequence[int] = (1, 2, 4),
) -> FlowModel:
    """Fit the day-type profile and pick alpha, phi minimising in-sample MAE over `steps`."""
    y = prepare_counts(history)
    profile = _profile(y)
    values = y.to_numpy(dtype=float)
    at_bins = profile[_day_type(y.index), _slot(y.index)]
    origins = np.arange(0, len(y) - max(steps))
    best: tuple[float, float, float] | None = None
    for alpha in alphas:
        levels = _levels(y, profile, float(alpha))[origins]
        for phi in phis:
            # In-sample targets lie inside y, so the profile there is at_bins[origin + h].
            err = np.concatenate([
                np.abs(np.maximum(at_bins[origins + h] + phi**h * levels, 0.0)
                       - values[origins + h])
                for h in steps
            ])  # fmt: skip
            mae = float(np.nanmean(err))
            if best is None or mae < best[0]:
                best = (mae, float(alpha), float(phi))
    assert best is not None
    return FlowModel(profile=profile, alpha=best[1], phi=best[2])


def forecast_flow_series(
    history: pd.Series,
    *,
    horizons: Iterable[int] = DEFAULT_HORIZONS,
    model: FlowModel | None = None,
) -> dict[int, float]:
    """Return {horizon minutes: forecast vehicles in that 15-min bin} from the last bin on.

    `history` holds vehicle counts per 15-min bin, indexed by bin start in local time; the
    last bin must be complete. Horizon 15 is the next bin, 60 the bin ending one hour later.
    """
    steps = horizon_steps(horizons)
    y = prepare_counts(history)
    model = model or fit_flow_model(y)
    pred = forecast_paths(y, model, np.array([len(y) - 1]), steps)[0]
    return {h * BIN_MIN: float(v) for h, v in zip(steps, pred, strict=True)}


def mase(
    actual: np.ndarray, forecast: np.ndarray, train: np.ndarray, season: int = WEEK_BINS
) -> float:
    """Return MASE: MAE of forecast over the in-sample MAE of the seasonal-naive forecast.

    Raises:
        ValueError: training series no longer than one season, or a zero scale (constant
            seasonal pattern), where MASE is undefined.
    """
    train = np.asarray(train, dtype=float)
    if len(train) <= season:
        raise ValueError(f"MASE needs more than one season ({season}) of training data")
    diffs = np.abs(train[season:] - train[:-season])
    scale = float(np.nanmean(diffs))
    if not np.isfinite(scale) or scale == 0.0:
        raise ValueError("MASE is undefined: the in-sample seasonal-naive MAE is zero")
    err = np.abs(np.asarray(actual, dtype=float) - np.asarray(forecast, dtype=float))
    return float(np.nanmean(err) / scale)


class FlowForecastPoint(BaseModel):
    """The forecast count of one future 15-min bin."""

    horizon_min: int
    bin_start: datetime
    bin_end: datetime
    vehicles: float
    vehicles_per_hour: float


class FlowForecast(BaseModel):
    """Forecasts for one vehicle-count datastream, made at `origin` (end of the last full bin)."""

    datastream_id: int
    thing_code: str
    origin: datetime
    history_bins: int
    alpha: float
    phi: float
    points: list[FlowForecastPoint]


# 15-minute sums of raw readings, cut in the jurisdiction's local time by date_bin from a
# midnight origin; hourly roll-ups (UTC hours) fill the time before the raw window, split evenly
# over their four bins.
_RAW_BINS = text(
    "SELECT date_bin('15 minutes', phenomenon_time, TIMESTAMPTZ '2000-01-01 00:00+00') AS b,"
    " sum(result) FROM observation WHERE datastream_id = :ds AND phenomenon_time >= :since"
    " AND phenomenon_time < :until GROUP BY 1 ORDER BY 1"
)
_HOURLY = text(
    "SELECT bucket, total FROM observation_hourly WHERE datastream_id = :ds"
    " AND bucket >= :since AND bucket < :until ORDER BY bucket"
)


def forecast_flow(
    *,
    session: Session,
    datastream_id: int,
    horizons: Iterable[int] = DEFAULT_HORIZONS,
    now: datetime | None = None,
    history_days: int = 28,
) -> FlowForecast:
    """Forecast a vehicle-count datastream's 15-min counts from its stored history."""
    from shared.districts.models import District, Jurisdiction
    from shared.sensing.models import Datastream, ObservedProperty, Thing

    steps = horizon_steps(horizons)
    if history_days < 1:
        raise ValueError(f"history_days must be at least 1, got {history_days}")
    row = session.execute(
        select(ObservedProperty.code, Thing.code, Jurisdiction.timezone)
        .select_from(Datastream)
        .join(ObservedProperty, ObservedProperty.id == Datastream.observed_property_id)
        .join(Thing, Thing.id == Datastream.thing_id)
        .outerjoin(District, District.id == Thing.district_id)
        .outerjoin(Jurisdiction, Jurisdiction.id == District.jurisdiction_id)
        .where(Datastream.id == datastream_id)
    ).first()
    if row is None:
        raise LookupError(f"no datastream with id {datastream_id}")
    metric, thing_code, tz_name = row
    if metric != "vehicle_count":
        raise ValueError(
            f"datastream {datastream_id} measures {metric!r}; forecasts need a vehicle_count stream"
        )
    now = (now or datetime.now(UTC)).astimezone(UTC)
    # The origin is the end of the last complete 15-min bin; the running bin is left out.
    until = pd.Timestamp(now).floor(BIN).to_pydatetime()
    since = until - timedelta(days=history_days)
    params = {"ds": datastream_id, "since": since, "until": until}
    raw = {pd.Timestamp(b): float(v) for b, v in session.execute(_RAW_BINS, params)}
    # Only whole hours before the first raw bin: a part-covered hour would be split wrongly.
    first_raw = (min(raw) if raw else pd.Timestamp(until)).floor("h")
    bins: dict[pd.Timestamp, float] = {}
    for bucket, total in session.execute(_HOURLY, {**params, "until": first_raw}):
        for k in range(4):
            bins[pd.Timestamp(bucket) + k * BIN] = float(total) / 4.0
    bins.update(raw)
    if not bins:
        raise ValueError(
            f"datastream {datastream_id} has no counts in the last {history_days} days"
        )
    tz = ZoneInfo(tz_name or "UTC")
    series = pd.Series(bins).sort_index()
    series.index = pd.DatetimeIndex(series.index).tz_convert("UTC")
    series = series[series.index >= pd.Timestamp(since)]
    # A bin with no reading stays missing, not zero: a silent detector is not an empty road.
    # prepare_counts fills gaps of up to an hour; a missing last bin is refused below.
    grid = pd.date_range(series.index[0], pd.Timestamp(until).tz_convert("UTC") - BIN, freq=BIN)
    series = series.reindex(grid)
    local = series.copy()
    local.index = series.index.tz_convert(tz)
    if np.isnan(local.iloc[-1]):
        raise ValueError(
            f"datastream {datastream_id} has no count for the last complete bin before {until}"
        )
    y = prepare_counts(local)
    model = fit_flow_model(y)
    pred = forecast_paths(y, model, np.array([len(y) - 1]), steps)[0]
    points = []
    for h, v in zip(steps, pred, strict=True):
        start = until + (h - 1) * BIN.to_pytimedelta()
        points.append(
            FlowForecastPoint(
                horizon_min=h * BIN_MIN,
                bin_start=start,
                bin_end=start + BIN.to_pytimedelta(),
                vehicles=round(float(v), 2),
                vehicles_per_hour=round(float(v) * 4.0, 1),
            )
        )
    return FlowForecast(
        datastream_id=datastream_id,
        thing_code=thing_code,
        origin=until,
        history_bins=int(y.notna().sum()),
        alpha=model.alpha,
        phi=model.phi,
        points=points,
    )
