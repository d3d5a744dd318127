"""The simulated fleet, the models that turn replayed series into readings, and the messages.

Values are *replayed* from real series (see sources.py) except noise, which is *simulated*. Where
a metric has no real series, it is derived from one with a documented model:

Traffic (per detector, replaying Oregon DOT 15-minute counts):
- Each approach with L lanes replays the sum of L Oregon detectors (chosen by a stable hash of
  its code) and one of the 3 source weeks, so approaches differ but stay real.
- vehicle_count: vehicles in the reporting interval, Poisson-distributed with mean
  count_15min x interval / 900 s (vehicle arrivals are close to Poisson at low flows), so the
  sum over many reports reproduces the real 15-minute counts.
- speed (km/h): Greenshields' linear speed-density relation v = vf (1 - k / kj) on the
  uncongested branch, with vf the approach's `free_flow_kmh`. On a signalised approach the
  usable capacity is the saturation flow 1,800 veh/h/lane times a green ratio of 0.45, i.e.
  c = 810 veh/h/lane, and kj = 4c / vf makes Greenshields' maximum flow vf kj / 4 equal c. Per-lane
  flow q = 4 count_15min / L (clipped to c) gives k = kj/2 (1 - sqrt(1 - q/c)), so speed falls
  from vf at night to vf/2 at capacity (and lower when queues reach the loop, below). Multiplied
  by N(1, 0.04) measurement noise.
- occupancy (%): moving traffic covers the loop k x (5.5 m vehicle + 2 m loop) / 1000 m of the
  time. The detector sits 30 m before the stop line: the queue that builds in each red (49.5 s of a
  90 s cycle) is q x red x 7 m per lane long, and while it reaches back over the loop the loop is
  occupied, adding 55 % x (1 - 30 m / queue length); speed drops by half that share (vehicles
  crawl over the loop in the discharge). Occupancy times N(1, 0.08) noise.

Air quality (12 stations; by a stable hash of the code, each replays the roadside or the urban
background NO2 column, and one of the 3 source years):
- no2 (ppb): the replayed NO2 in µg/m³ x 24.45 / 46.0055 (molar volume at 25 °C and 1 atm over
  NO2's molar mass), times a per-station factor 0.85-1.15 and 5 % noise.
- pm25 (µg/m³): the replayed daily mean, interpolated between days, times a diurnal factor with
  mean 1 so the daily mean is kept: 1 + 0.20 cos(2π(h-21)/24) + 0.10 cos(4π(h-8)/24) (a night
  peak under the shallow boundary layer, a morning rush-hour peak, an afternoon minimum).
- pm10 (µg/m³): pm25 / 0.65, a typical urban PM2.5/PM10 ratio in Europe, with 5 % noise.
- o3 (ppm): oxidant OX = O3 + NO2 is nearly conserved in a city (NO titrates O3 to NO2), so
  O3 = max(1, OX - NO2) ppb with a regional OX of 40 + 8 cos(2π(h-15)/24) + 6 cos(2π(doy-160)/365)
  ppb (afternoon photochemistry, spring/summer maximum), then / 1000 for ppm.
- co (ppm): 0.12 + 0.012 x NO2 ppb: urban background CO plus a traffic share that tracks NO2.

Weather (6 stations, one city-wide replayed day, small per-station offsets):
- temperature (°C): the classic two-branch diurnal curve: a half-cosine from the day's minimum
  at 06:00 to its maximum at 15:00, then down to the next day's minimum at 06:00; +-0.5 °C/site.
- humidity (%): the Magnus formula (Alduchov & Eskridge 1996) with the dew point at the day's
  minimum temperature (2 °C below it on dry days), so humidity peaks at dawn.
- wind_speed (m/s): the daily mean x (1 + 0.3 sin(2π(h-9)/24)) (afternoon maximum), x 0.8-1.2 per
  site exposure and 10 % noise.
- precipitation (mm in the reporting interval): the daily total falls in 3 + total_mm wet hours
  (at most 24) drawn per day from a fixed seed, so a day's reports add up to the real total.

Noise (SIMULATED, no real series): LAeq of road traffic at each monitor, from a typical urban
hourly flow profile (weekday / weekend) times a site AADT of 6,000-30,000 vehicles a day, with
the CRTN hourly level L10 = 42.2 + 10 lg q dB at 13.5 m, LAeq = L10 - 3 dB, a distance term
-10 lg(d / 13.5 m) for a site 8-40 m from the road, an ambient floor of 40 dB, 1.5 dB noise and
rare transient events (sirens, horns) of +5-15 dB.
"""

from __future__ import annotations

import functools
import math
import random
import re
import time
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.districts.models import District, Jurisdiction
from shared.sensing.catalogue import METRICS_BY_TYPE
from shared.sensing.models import Datastream, ObservedProperty, SensorType, Thing
from shared.simulate.sources import DAY_S, EPOCH_ORDINAL, Sources, load_sources, wall_seconds

# Sensor types the simulator has models for, in the order the fleet interleaves them.
SIMULATED_TYPES: tuple[SensorType, ...] = (
    SensorType.traffic,
    SensorType.air_quality,
    SensorType.noise,
    SensorType.weather,
)

SPIKE, STUCK, GAP = "spike", "stuck", "gap"
MALFORMED_KINDS: tuple[str, ...] = (
    "not_json",
    "missing_ts",
    "string_value",
    "out_of_range",
    "unknown_sensor",
)
FAULT_KINDS: tuple[str, ...] = (SPIKE, STUCK, GAP, *MALFORMED_KINDS)

# Decimal places a real instrument would report (vehicle_count is an integer).
DECIMALS: dict[str, int] = {
    "speed": 1,
    "occupancy": 1,
    "pm25": 1,
    "pm10": 1,
    "no2": 1,
    "o3": 4,
    "co": 3,
    "laeq": 1,
    "temperature": 1,
    "humidity": 1,
    "wind_speed": 1,
    "precipitation": 4,
}

# Traffic model constants (see the module docstring).
SATURATION_FLOW = 1800.0  # veh/h/lane, a standard urban saturation flow
GREEN_RATIO = 0.45  # share of the signal cycle an approach has green
CAPACITY = SATURATION_FLOW * GREEN_RATIO  # veh/h/lane usable capacity
OCCUPANCY_LENGTH_M = 7.5  # 5.5 m mean vehicle + 2 m loop: length a vehicle covers the loop for
CYCLE_S = 90.0  # signal cycle; red lasts (1 - GREEN_RATIO) of it
RED_S = CYCLE_S * (1.0 - GREEN_RATIO)
JAM_SPACING_M = 7.0  # metres of queue per stopped vehicle
DETECTOR_SETBACK_M = 30.0  # the seed puts detectors 30 m before the stop line
# Air-quality model constants.
NO2_UGM3_TO_PPB = 24.45 / 46.0055  # molar volume at 25 °C, 1 atm / NO2 molar mass
PM25_TO_PM10 = 0.65
# Noise model: typical urban hourly shares of daily traffic (%), Monday-Friday and weekends.
WEEKDAY_SHARES = (0.8, 0.5, 0.4, 0.4, 0.7, 1.8, 4.6, 7.0, 6.6, 5.5, 5.2, 5.4,
                  5.6, 5.6, 5.9, 6.6, 7.2, 7.3, 6.2, 4.8, 3.6, 2.9, 2.2, 1.5)  # fmt: skip
WEEKEND_SHARES = (1.5, 1.0, 0.8, 0.6, 0.6, 0.9, 1.6, 2.6, 3.8, 5.2, 6.4, 7.1,
                  7.4, 7.4, 7.3, 7.2, 7.1, 6.8, 6.2, 5.2, 4.2, 3.5, 2.9, 2.2)  # fmt: skip
WEEKEND_FACTOR = 0.8  # weekend days carry 80 % of a weekday's traffic
AMBIENT_DB = 40.0


@dataclass(frozen=True, slots=True)
class SimSensor:
    """One simulated Thing: where it publishes and what it reports, from the database."""

    code: str
    sensor_type: SensorType
    district_code: str
    metrics: tuple[str, ...]
    properties: dict[str, Any]
    units: dict[str, str] = field(default_factory=dict)  # metric -> datastream unit_symbol
    ranges: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    timezone: str = "UTC"  # the jurisdiction's zone: series are replayed in local time

    @property
    def topic(self) -> str:
        """Return the MQTT topic of this sensor's single readings."""
        return f"city/{self.district_code}/{self.sensor_type.value}/{self.code}"


@dataclass(frozen=True)
class FaultOptions:
    """Fault injection, all off by default.

    Each kind has a probability per opportunity and an optional cap on its count (None: no cap);
    for an exact count set a probability and the cap, and run long enough. Counts are in
    readings for spike, stuck and gap (readings skipped), and in messages for the malformed
    kinds, each of which carries exactly one reading so that it makes exactly one dead letter.
    """

    spike_prob: float = 0.0  # per reading: value x 5-20, clamped to the valid range
    spike_max: int | None = None
    stuck_prob: float = 0.0  # per sensor report: repeat the last values for stuck_len reports
    stuck_len: int = 10
    stuck_max: int | None = None
    gap_prob: float = 0.0  # per sensor report: skip the sensor for gap_len reports
    gap_len: int = 10
    gap_max: int | None = None
    malformed_prob: float = 0.0  # per message: insert one malformed message before it
    malformed_max: int | None = None
    malformed_kinds: tuple[str, ...] = MALFORMED_KINDS  # used in turn

    def __post_init__(self) -> None:
        for name in ("spike_prob", "stuck_prob", "gap_prob", "malformed_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.stuck_len < 1 or self.gap_len < 1:
            raise ValueError("stuck_len and gap_len must be at least 1")
        unknown = set(self.malformed_kinds) - set(MALFORMED_KINDS)
        if unknown or not self.malformed_kinds:
            raise ValueError(f"malformed_kinds must be some of {', '.join(MALFORMED_KINDS)}")


@dataclass
class SimStats:
    """What the generator produced so far (updated as it yields)."""

    messages: int = 0
    readings: int = 0  # valid readings (including spiked and stuck values, which are in range)
    invalid: int = 0  # malformed messages, one reading each
    # Faults injected, in the units their caps count: readings (spike), sensor reports (stuck,
    # gap) and messages (malformed kinds).
    faults: Counter[str] = field(default_factory=Counter)
    # Readings sent with each fault (gap: readings skipped; malformed: one per message).
    fault_readings: Counter[str] = field(default_factory=Counter)


# ---------------------------------------------------------------------------------------------
# fleet


def load_fleet(*, session: Session) -> list[SimSensor]:
    """Return the simulatable sensors with their metrics, units and district codes."""
    rows = session.execute(
        select(
            Thing.code,
            Thing.sensor_type,
            District.code,
            Thing.properties,
            Jurisdiction.timezone,
            ObservedProperty.code,
            Datastream.unit_symbol,
            Datastream.valid_min,
            Datastream.valid_max,
        )
        # Things without a district have no topic (city/<district>/...): they are left out.
        .join(District, District.id == Thing.district_id)
        .join(Jurisdiction, Jurisdiction.id == District.jurisdiction_id)
        .join(Datastream, Datastream.thing_id == Thing.id)
        .join(ObservedProperty, ObservedProperty.id == Datastream.observed_property_id)
        .where(Thing.sensor_type.in_(SIMULATED_TYPES))
        .order_by(Thing.code, Datastream.id)
    ).all()
    by_code: dict[str, dict[str, Any]] = {}
    for code, st, district, props, tz, metric, unit, vmin, vmax in rows:
        entry = by_code.setdefault(
            code,
            {"st": st, "district": district, "props": dict(props or {}), "tz": tz, "m": {}},
        )
        entry["m"][metric] = (unit, vmin, vmax)
    by_type: dict[SensorType, list[SimSensor]] = {st: [] for st in SIMULATED_TYPES}
    for code, e in by_code.items():
        # Metrics in catalogue order, limited to the datastreams the Thing actually has.
        metrics = tuple(m for m in METRICS_BY_TYPE[e["st"]] if m in e["m"])
        if not metrics:
            continue
        by_type[e["st"]].append(
            SimSensor(
                code=code,
                sensor_type=e["st"],
                district_code=e["district"],
                metrics=metrics,
                properties=e["props"],
                units={m: e["m"][m][0] for m in metrics},
                ranges={m: (e["m"][m][1], e["m"][m][2]) for m in metrics},
                timezone=e["tz"] or "UTC",
            )
        )
    # Interleave the types so that "the first N sensors" is a mix, not N traffic detectors.
    fleet: list[SimSensor] = []
    queues = [q for q in by_type.values() if q]
    for i in range(max((len(q) for q in queues), default=0)):
        fleet.extend(q[i] for q in queues if i < len(q))
    return fleet


def select_sensors(*, fleet: Sequence[SimSensor], count: int | None) -> list[SimSensor]:
    """Return the first `count` sensors of the fleet (all if None); never more than exist."""
    if count is None:
        return list(fleet)
    if count < 1:
        raise ValueError("the number of sensors must be at least 1")
    if count > len(fleet):
        raise ValueError(
            f"{count} sensors requested but the seeded city has only {len(fleet)}: seed a "
            f"bigger city (more sensors) or ask for at most {len(fleet)}"
        )
    return list(fleet[:count])


_RATE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)(?:[eE]([+-]?\d+))?\s*(?:/\s*(s|sec|min|h))?\s*")
_PER = {None: 1.0, "s": 1.0, "sec": 1.0, "min": 60.0, "h": 3600.0}


def parse_rate(text: str) -> float:
    """Return a rate in per-second units from "500/s", "30000/min", "2/h" or "500"."""
    m = _RATE.fullmatch(text)
    if m is None:
        raise ValueError(f"not a rate: {text!r} (use e.g. 500/s, 30000/min or 500)")
    value = float(m.group(1) + (f"e{m.group(2)}" if m.group(2) else "")) / _PER[m.group(3)]
    if not value > 0 or not math.isfinite(value):
        raise ValueError(f"the rate must be positive: {text!r}")
    return value


def parse_faults(text: str) -> FaultOptions:
    """Return fault options from "spike=0.01,spike_max=50,malformed=0.02,gap_len=5"."""
    names = {f.name for f in fields(FaultOptions)}
    values: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, raw = part.partition("=")
        key = key.strip()
        key = f"{key}_prob" if key in (SPIKE, STUCK, GAP, "malformed") else key
        if not sep or key not in names:
            raise ValueError(f"unknown fault option {part!r}; known: {', '.join(sorted(names))}")
        raw = raw.strip()
        if key == "malformed_kinds":
            values[key] = tuple(k for k in raw.split("+") if k)
        elif key.endswith("_prob"):
            values[key] = float(raw)
        else:
            values[key] = None if raw.lower() == "none" else int(raw)
    return FaultOptions(**values)


# ---------------------------------------------------------------------------------------------
# models


def _stable(code: str, salt: str) -> int:
    """A hash of a code that is the same in every process (unlike hash())."""
    return zlib.crc32(f"{salt}:{code}".encode())


def _unit(code: str, salt: str) -> float:
    """A stable number in [0, 1) for a code."""
    return _stable(code, salt) / 2**32


@functools.lru_cache(maxsize=4096)
def _day_of_year(day: int) -> int:
    return date.fromordinal(EPOCH_ORDINAL + day).timetuple().tm_yday


@functools.lru_cache(maxsize=4096)
def _wet_hours(src_day: int, total_mm: float) -> frozenset[int]:
    """The hours of a source day in which its rain falls (fixed per day, 3 + total_mm hours)."""
    n = max(1, min(24, round(3 + total_mm)))
    return frozenset(random.Random(src_day).sample(range(24), n))


def _profile_share(shares: tuple[float, ...], hour: float) -> float:
    """Return the hourly share (fraction of the day) at a fractional hour, interpolated."""
    x = hour - 0.5  # shares are hour means: place them at the hour's centre
    i = math.floor(x)
    f = x - i
    total = sum(shares)
    return (shares[i % 24] * (1 - f) + shares[(i + 1) % 24] * f) / total


@dataclass
class _Site:
    """Per-sensor constants drawn once from a stable hash of its code."""

    sensor: SimSensor
    tz: ZoneInfo
    detectors: np.ndarray | None = None  # traffic: Oregon detector columns summed
    week_offset: int = 0
    lanes: int = 1
    vf: float = 50.0
    roadside: bool = True  # air quality: roadside or urban background NO2
    year_offset: int = 0
    scale: float = 1.0
    offset: float = 0.0
    aadt: float = 15_000.0  # noise: vehicles a day on the nearby road
    distance_m: float = 13.5


def _make_site(sensor: SimSensor, sources: Sources) -> _Site:
    site = _Site(sensor=sensor, tz=ZoneInfo(sensor.timezone))
    code = sensor.code
    if sensor.sensor_type is SensorType.traffic:
        n = sources.traffic_detectors
        site.lanes = max(1, int(sensor.properties.get("lanes") or 1))
        site.vf = float(sensor.properties.get("free_flow_kmh") or 50.0)
        first = _stable(code, "detector") % n
        site.detectors = np.array([(first + i) % n for i in range(site.lanes)])
        site.week_offset = _stable(code, "week") % sources.traffic_weeks
    elif sensor.sensor_type is SensorType.air_quality:
        site.roadside = _stable(code, "site") % 2 == 1
        site.year_offset = _stable(code, "year") % 3
        site.scale = 0.85 + 0.30 * _unit(code, "scale")
    elif sensor.sensor_type is SensorType.weather:
        site.offset = -0.5 + _unit(code, "temp")  # °C, siting differences
        site.scale = 0.8 + 0.4 * _unit(code, "wind")  # exposure
    elif sensor.sensor_type is SensorType.noise:
        site.aadt = 6_000 + 24_000 * _unit(code, "aadt")
        site.distance_m = 8 + 32 * _unit(code, "distance")
    return site


class _Models:
    """Compute one report (all metrics) of a sensor at a time."""

    def __init__(self, *, sources: Sources, interval_s: float, seed: int | None) -> None:
        self.sources = sources
        self.interval_s = interval_s
        self.rng = random.Random(seed)
        self.np_rng = np.random.default_rng(seed)

    def values(self, site: _Site, ts: float) -> dict[str, float]:
        wall = wall_seconds(ts=ts, tz=site.tz)
        st = site.sensor.sensor_type
        if st is SensorType.traffic:
            return self._traffic(site, wall)
        if st is SensorType.air_quality:
            return self._air(site, wall)
        if st is SensorType.weather:
            return self._weather(site, wall)
        return self._noise(site, wall)

    def _traffic(self, site: _Site, wall: float) -> dict[str, float]:
        counts = self.sources.traffic_counts(wall=wall, week_offset=site.week_offset)
        per_15min = float(counts[site.detectors].sum())
        vehicles = int(self.np_rng.poisson(per_15min * self.interval_s / 900.0))
        q = min(per_15min * 4.0 / site.lanes, CAPACITY)  # veh/h/lane
        kj = 4.0 * CAPACITY / site.vf  # jam density (veh/km/lane) giving capacity CAPACITY
        k = kj / 2.0 * (1.0 - math.sqrt(max(0.0, 1.0 - q / CAPACITY)))
        # Share of the red time the stop-line queue covers the loop (0 while it stays short).
        queue_m = q / 3600.0 * RED_S * JAM_SPACING_M
        covered = max(0.0, 1.0 - DETECTOR_SETBACK_M / queue_m) if queue_m > 0 else 0.0
        speed = site.vf * (1.0 - k / kj) * (1.0 - 0.5 * covered) * self.rng.gauss(1.0, 0.04)
        moving = k * OCCUPANCY_LENGTH_M / 10.0  # percent of time a moving vehicle is on the loop
        occupancy = (moving + 100.0 * (1.0 - GREEN_RATIO) * covered) * self.rng.gauss(1.0, 0.08)
        return {
            "vehicle_count": vehicles,
            "speed": min(max(speed, 0.0), 250.0),
            "occupancy": min(max(occupancy, 0.0), 100.0),
        }

    def _air(self, site: _Site, wall: float) -> dict[str, float]:
        hour = (wall % DAY_S) / 3600.0
        road, background = self.sources.no2_ugm3(wall=wall, year_offset=site.year_offset)
        no2_ugm3 = road if site.roadside else background
        no2 = no2_ugm3 * NO2_UGM3_TO_PPB * site.scale * self.rng.lognormvariate(0.0, 0.05)
        diurnal = (
            1.0
            + 0.20 * math.cos(2 * math.pi * (hour - 21.0) / 24.0)
            + 0.10 * math.cos(4 * math.pi * (hour - 8.0) / 24.0)
        )
        daily = self.sources.pm25_daily_ugm3(wall=wall)
        pm25 = daily * diurnal * site.scale * self.rng.lognormvariate(0.0, 0.08)
        pm10 = pm25 / PM25_TO_PM10 * self.rng.lognormvariate(0.0, 0.05)
        doy = _day_of_year(int(wall // DAY_S))
        ox = (
            40.0
            + 8.0 * math.cos(2 * math.pi * (hour - 15.0) / 24.0)
            + 6.0 * math.cos(2 * math.pi * (doy - 160) / 365.0)
        )
        o3_ppb = max(1.0, ox - no2)
        return {
            "pm25": pm25,
            "pm10": pm10,
            "no2": no2,
            "o3": o3_ppb / 1000.0,
            "co": 0.12 + 0.012 * no2,
        }

    def _weather(self, site: _Site, wall: float) -> dict[str, float]:
        hour = (wall % DAY_S) / 3600.0
        yesterday, today, tomorrow = self.sources.weather_days(wall=wall)
        tmin, tmax = float(today[0]), float(today[1])
        if hour < 6.0:  # falling from yesterday's maximum at 15:00 to today's minimum
            t_prev = float(yesterday[1])
            temp = tmin + (t_prev - tmin) * (1 + math.cos(math.pi * (hour + 9) / 15)) / 2
        elif hour < 15.0:  # rising from the minimum at 06:00 to the maximum at 15:00
            temp = tmin + (tmax - tmin) * (1 - math.cos(math.pi * (hour - 6) / 9)) / 2
        else:  # falling towards tomorrow's minimum at 06:00
            t_next = float(tomorrow[0])
            temp = t_next + (tmax - t_next) * (1 + math.cos(math.pi * (hour - 15) / 15)) / 2
        temp += site.offset
        dew = tmin - (0.0 if today[4] else 2.0)
        # Magnus formula: RH = 100 e_s(Td) / e_s(T).
        rh = 100.0 * math.exp(17.625 * dew / (243.04 + dew) - 17.625 * temp / (243.04 + temp))
        rh = min(100.0, max(5.0, rh + self.rng.gauss(0.0, 1.5)))
        wind = float(today[3]) * (1 + 0.3 * math.sin(2 * math.pi * (hour - 9.0) / 24.0))
        wind *= site.scale * self.rng.lognormvariate(0.0, 0.1)
        src_day = int(self.sources.weather_time(wall=wall) // DAY_S)
        total = float(today[2])
        rain = 0.0
        if total > 0:
            wet = _wet_hours(src_day, total)
            if int(hour) in wet:
                rain = total / len(wet) * self.interval_s / 3600.0
        return {
            "temperature": min(max(temp, -60.0), 60.0),
            "humidity": rh,
            "wind_speed": max(0.0, wind),
            "precipitation": rain,
        }

    def _noise(self, site: _Site, wall: float) -> dict[str, float]:
        # SIMULATED: no real noise series ships in any package (see the module docstring).
        day = int(wall // DAY_S)
        hour = (wall % DAY_S) / 3600.0
        weekend = (day + 3) % 7 >= 5  # 1970-01-01 was a Thursday (weekday 3)
        shares = WEEKEND_SHARES if weekend else WEEKDAY_SHARES
        flow = site.aadt * (WEEKEND_FACTOR if weekend else 1.0) * _profile_share(shares, hour)
        l10 = 42.2 + 10 * math.log10(max(flow, 1.0))  # CRTN hourly L10 at 13.5 m
        laeq = l10 - 3.0 - 10 * math.log10(site.distance_m / 13.5)
        laeq = 10 * math.log10(10 ** (laeq / 10) + 10 ** (AMBIENT_DB / 10))
        laeq += self.rng.gauss(0.0, 1.5)
        if self.rng.random() < 0.002:  # a siren or a horn close by
            laeq += self.rng.uniform(5.0, 15.0)
        return {"laeq": min(max(laeq, 0.0), 160.0)}


# ---------------------------------------------------------------------------------------------
# messages


def iso_ms(ms: int) -> str:
    """Return ISO-8601 UTC with millisecond precision and a Z, from epoch milliseconds."""
    sec, milli = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{milli:03d}Z"


def _rounded(metric: str, value: float) -> float | int:
    if metric == "vehicle_count":
        return round(value)
    return round(value, DECIMALS.get(metric, 3))


class _Allowance:
    """A fault kind's probability and remaining count (None: no cap)."""

    def __init__(self, prob: float, cap: int | None) -> None:
        self.prob = prob
        self.left = cap

    def roll(self, rng: random.Random) -> bool:
        """Return True if the fault strikes now (and the cap allows one more)."""
        if self.prob <= 0.0 or self.left == 0:
            return False
        return self.prob >= 1.0 or rng.random() < self.prob

    def take(self) -> bool:
        """Use one of the remaining count; False once the cap is reached."""
        if self.left is None:
            return True
        if self.left == 0:
            return False
        self.left -= 1
        return True


# (site index, reading time in epoch ms, metric, value, fault tag "" / "spike" / "stuck")
_Record = tuple[int, int, str, float | int, str]


def generate_messages(
    *,
    fleet: Sequence[SimSensor],
    start: float,
    rate_per_s: float,
    packed: int = 0,
    faults: FaultOptions | None = None,
    stamp_schedule: bool = False,
    max_readings: int | None = None,
    stats: SimStats | None = None,
    seed: int | None = 0,
    gateways: int = 1,
    sources: Sources | None = None,
) -> Iterator[tuple[str, bytes]]:
    """Yield (topic, payload) messages; message i is scheduled at start + i / rate_per_s.

    Single mode (packed=0): one JSON message per sensor report on the sensor's topic,
    {"ts": "...Z", "<metric>": value, ...}. Packed mode (packed=K): SenML packs (RFC 8428) of K
    readings on city/gateway/gw-NN. Malformed faults are always single-reading messages on a
    sensor topic, inserted between the others (each is one dead letter). Readings are stamped
    with their message's scheduled time, but at least 1 ms after the same sensor's previous
    reading so that each is unique. Stops after max_readings valid readings (None: never).
    `stats` is updated as messages are yielded.
    """
    if not fleet:
        raise ValueError("the fleet is empty: seed the demo city first (smartcity seed demo)")
    if not rate_per_s > 0:
        raise ValueError("rate_per_s must be positive")
    if packed < 0 or gateways < 1:
        raise ValueError("packed must be >= 0 and gateways >= 1")
    faults = faults or FaultOptions()
    stats = stats if stats is not None else SimStats()
    src = sources or load_sources()
    sites = [_make_site(s, src) for s in fleet]
    mean_metrics = sum(len(s.metrics) for s in fleet) / len(fleet)
    reports_per_s = rate_per_s * (packed / mean_metrics if packed else 1.0)
    if reports_per_s / len(fleet) > 1000:
        # Readings carry millisecond times and must be unique per sensor: faster, they would
        # run ahead of the clock (and look like future readings).
        raise ValueError(
            f"{reports_per_s / len(fleet):,.0f} reports a second per sensor: at most 1,000 "
            "(timestamps have millisecond precision); use more sensors or a lower rate"
        )
    # Every sensor reports once per round of the fleet: that is its reporting interval.
    models = _Models(sources=src, interval_s=len(fleet) / reports_per_s, seed=seed)
    rng = models.rng
    spike = _Allowance(faults.spike_prob, faults.spike_max)
    stuck = _Allowance(faults.stuck_prob, faults.stuck_max)
    gap = _Allowance(faults.gap_prob, faults.gap_max)
    malformed = _Allowance(faults.malformed_prob, faults.malformed_max)
    n = len(sites)
    last_ms = [0] * n
    last_values: list[dict[str, float] | None] = [None] * n
    stuck_left = [0] * n
    gap_left = [0] * n
    may_gap = [True] * n
    turn = 0  # round-robin position over the fleet
    i = 0  # message index: the schedule

    def next_report(ts: float) -> list[_Record]:
        """Return the records of the next sensor that reports (gapped sensors are skipped)."""
        nonlocal turn
        while True:
            k = turn % n
            turn += 1
            nm = len(sites[k].sensor.metrics)
            if gap_left[k] == 0 and may_gap[k] and gap.roll(rng):
                gap_left[k] = faults.gap_len
            if gap_left[k] > 0 and gap.take():
                gap_left[k] -= 1
                # A sensor reports at least once between two gaps: the generator never starves.
                may_gap[k] = gap_left[k] > 0
                stats.faults[GAP] += 1
                stats.fault_readings[GAP] += nm
                continue
            gap_left[k] = 0
            may_gap[k] = True
            return report(k, ts)

    def report(k: int, ts: float) -> list[_Record]:
        """Return one sensor's records now, stuck or spiked as the faults decide."""
        site = sites[k]
        ms = max(round(ts * 1000), last_ms[k] + 1)
        last_ms[k] = ms
        fresh = models.values(site, ms / 1000)
        prior = last_values[k]
        if prior is not None and stuck_left[k] == 0 and stuck.roll(rng):
            stuck_left[k] = faults.stuck_len
        if prior is not None and stuck_left[k] > 0 and stuck.take():
            stuck_left[k] -= 1
            stats.faults[STUCK] += 1
            # A stuck sensor repeats the values it last sent, metric by metric.
            return [(k, ms, m, prior[m], STUCK) for m in site.sensor.metrics]
        stuck_left[k] = 0
        out: list[_Record] = []
        sent: dict[str, float] = {}
        for metric in site.sensor.metrics:
            value = _rounded(metric, fresh[metric])
            sent[metric] = value
            if spike.roll(rng) and spike.take():
                stats.faults[SPIKE] += 1
                out.append((k, ms, metric, _spiked(site.sensor, metric, value, rng), SPIKE))
            else:
                out.append((k, ms, metric, value, ""))
        last_values[k] = sent
        return out

    def bad_message(ts: float) -> tuple[str, bytes]:
        kind = faults.malformed_kinds[stats.invalid % len(faults.malformed_kinds)]
        sensor = sites[rng.randrange(n)].sensor
        metric = sensor.metrics[0]
        topic = sensor.topic
        body: dict[str, Any] = {"ts": iso_ms(round(ts * 1000)), metric: 1}
        if kind == "missing_ts":
            del body["ts"]
        elif kind == "string_value":
            body[metric] = "n/a"
        elif kind == "out_of_range":
            low, high = sensor.ranges.get(metric, (None, None))
            body[metric] = high * 2 + 1 if high is not None else (low or 0) - 1000
        elif kind == "unknown_sensor":
            topic = topic.rsplit("/", 1)[0] + f"/ZZ-{rng.getrandbits(24):06X}"
        payload = orjson.dumps(body)
        if kind == "not_json":
            payload = payload[: len(payload) // 2] + b"\xff\xfe"
        stats.faults[kind] += 1
        stats.fault_readings[kind] += 1
        stats.invalid += 1
        stats.messages += 1
        return topic, payload

    def count_sent(records: list[_Record]) -> None:
        stats.readings += len(records)
        for rec in records:
            if rec[4]:
                stats.fault_readings[rec[4]] += 1

    carry: list[_Record] = []  # packed mode: records generated but not yet sent
    while max_readings is None or stats.readings < max_readings:
        ts = start + i / rate_per_s
        if malformed.roll(rng) and malformed.take():
            yield bad_message(ts)
            i += 1
            continue
        left = None if max_readings is None else max_readings - stats.readings
        if not packed:
            records = next_report(ts)[:left]  # the last report may be cut to hit max_readings
            body: dict[str, Any] = {"ts": iso_ms(records[0][1])}
            body.update((rec[2], rec[3]) for rec in records)
            if stamp_schedule:
                body["sched"] = round(ts, 6)
            count_sent(records)
            stats.messages += 1
            yield sites[records[0][0]].sensor.topic, orjson.dumps(body)
            i += 1
            continue
        want = packed if left is None else min(packed, left)
        while len(carry) < want:
            carry.extend(next_report(ts))
        records, carry = carry[:want], carry[want:]
        count_sent(records)
        stats.messages += 1
        pack = _senml(records, sites, ts if stamp_schedule else None)
        yield f"city/gateway/gw-{i % gateways + 1:02d}", orjson.dumps(pack)
        i += 1


def _spiked(sensor: SimSensor, metric: str, value: float | int, rng: random.Random) -> float | int:
    """Return a spike: value x 5-20, clamped to the valid range so the reading is still stored."""
    low, high = sensor.ranges.get(metric, (None, None))
    base = value if value != 0 else (high or 100.0) * 0.01  # a zero would stay zero
    spiked = base * rng.uniform(5.0, 20.0)
    if high is not None:
        spiked = min(spiked, high)
    if low is not None:
        spiked = max(spiked, low)
    return round(spiked) if metric == "vehicle_count" else round(spiked, DECIMALS.get(metric, 3))


def _senml(
    records: list[_Record],
    sites: list[_Site],
    sched: float | None,
) -> list[dict[str, Any]]:
    """Return a SenML pack: bn changes per sensor group, bt once, t relative to it."""
    bt_ms = min(rec[1] for rec in records)
    pack: list[dict[str, Any]] = []
    current = -1
    for k, ms, metric, value, _tag in records:
        rec: dict[str, Any] = {}
        if not pack:
            rec["bt"] = bt_ms / 1000
            if sched is not None:
                rec["sched"] = round(sched, 6)  # not a SenML field: recipients may ignore it
        if k != current:
            rec["bn"] = f"{sites[k].sensor.code}:"  # applies until the next bn (RFC 8428 §4.6)
            current = k
        rec["n"] = metric
        rec["u"] = sites[k].sensor.units[metric]
        rec["v"] = value
        rec["t"] = (ms - bt_ms) / 1000
        pack.append(rec)
    return pack
