"""Automatic incident detection (AID) from pairs of detector stations.

The decision logic is California algorithm #7 (Payne & Tignor 1978, "Freeway incident-detection
algorithms based on decision trees with states", Transportation Research Record 682, 30-40),
which compares occupancy at an upstream station i and the next station downstream i+1:

    OCCDF  = OCC(i) - OCC(i+1)          spatial occupancy difference, percentage points
    OCCRDF = OCCDF / OCC(i)             relative difference
    DOCC   = OCC(i+1)                   downstream occupancy, percent

An incident between the stations queues traffic upstream (OCC(i) jumps) and starves the road
downstream (OCC(i+1) stays low). #7 raises a tentative incident when OCCDF >= T1, OCCRDF >= T2 and
DOCC < T3, confirms it when the test still holds after a persistence check, and clears it when
OCCRDF falls below T2. Checking DOCC (not its change, as #1 does) is what suppresses the false
alarms of compression waves, which raise occupancy downstream first.

We add one test to #7, the speed drop at the upstream station: its mean speed must be under
(1 - speed_drop) x free-flow speed. Dense but moving traffic (high occupancy at speed) then never
alarms, which removes most of the remaining false alarms on busy roads.

Intervals are fixed-length aggregation periods (60 s by default, as the California algorithms
used); occupancy is the percent of the period a loop was covered, averaged over lanes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, NamedTuple

import numpy as np
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.orm import Session

__all__ = [
    "CALIFORNIA7",
    "CLEAR",
    "DEFAULT_AID",
    "INCIDENT",
    "TENTATIVE",
    "AidParams",
    "AlarmSpan",
    "DetectorPair",
    "IncidentDetection",
    "aid_states",
    "alarm_spans",
    "detect_incidents",
    "detector_pairs",
]

CLEAR: Final[int] = 0
TENTATIVE: Final[int] = 1
INCIDENT: Final[int] = 2


@dataclass(frozen=True)
class AidParams:
    """Thresholds of the detector-pair test (occupancies in percent, speeds as fractions)."""

    # T1, T2, T3 of California #7.
    occdf_min: float = 10.0
    occrdf_min: float = 0.5
    docc_max: float = 15.0
    # Upstream speed must be below (1 - speed_drop) x free flow; None switches the test off.
    speed_drop: float | None = 0.4
    # Consecutive intervals the test must hold before an alarm (1 = alarm at once).
    persistence: int = 1

    def __post_init__(self) -> None:
        if not (math.isfinite(self.occdf_min) and 0.0 <= self.occdf_min <= 100.0):
            raise ValueError(f"occdf_min must be within 0..100 %, got {self.occdf_min!r}")
        if not (math.isfinite(self.occrdf_min) and 0.0 <= self.occrdf_min <= 1.0):
            raise ValueError(f"occrdf_min must be within 0..1, got {self.occrdf_min!r}")
        if not (math.isfinite(self.docc_max) and 0.0 < self.docc_max <= 100.0):
            raise ValueError(f"docc_max must be within (0, 100] %, got {self.docc_max!r}")
        if self.speed_drop is not None and not 0.0 < self.speed_drop < 1.0:
            raise ValueError(f"speed_drop must be within (0, 1) or None, got {self.speed_drop!r}")
        if isinstance(self.persistence, bool) or int(self.persistence) != self.persistence:
            raise ValueError(f"persistence must be an integer, got {self.persistence!r}")
        if self.persistence < 1:
            raise ValueError(f"persistence must be at least 1 interval, got {self.persistence}")


# Our setting: #7's occupancy tests plus the upstream speed drop. The speed test does the job of
# #7's persistence check (rejecting short occupancy spikes), so an alarm needs one interval, not
# two. Thresholds set on the SUMO calibration seeds (shared.traffic.evaluation), not the test ones.
DEFAULT_AID: Final[AidParams] = AidParams()
# The baseline: #7 as published (no speed test; tentative, then confirmed one interval later).
CALIFORNIA7: Final[AidParams] = AidParams(speed_drop=None, persistence=2)


def _as_array(name: str, values: Sequence[float] | np.ndarray, n: int | None) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if n is not None and len(arr) != n:
        raise ValueError(f"{name} has {len(arr)} intervals, expected {n} like the others")
    return arr


def aid_states(
    up_occupancy: Sequence[float] | np.ndarray,
    down_occupancy: Sequence[float] | np.ndarray,
    up_speed_kmh: Sequence[float] | np.ndarray,
    *,
    free_flow_kmh: float,
    params: AidParams = DEFAULT_AID,
) -> np.ndarray:
    """Return the state after each interval: 0 clear, 1 tentative, 2 incident.

    Inputs are aligned per interval. A missing occupancy (NaN) holds the state unchanged, as a
    station that did not report can neither raise nor clear an alarm. A missing upstream speed
    (no vehicle crossed the loop) counts as a drop: a standing queue reports no speed.

    Raises:
        ValueError: arrays of different lengths, occupancy outside 0..100 %, negative speed,
            or a free-flow speed that is not positive.
    """
    up = _as_array("up_occupancy", up_occupancy, None)
    down = _as_array("down_occupancy", down_occupancy, len(up))
    speed = _as_array("up_speed_kmh", up_speed_kmh, len(up))
    if not (math.isfinite(free_flow_kmh) and free_flow_kmh > 0.0):
        raise ValueError(f"free_flow_kmh must be a positive number, got {free_flow_kmh!r}")
    for name, arr in (("up_occupancy", up), ("down_occupancy", down)):
        bad = arr[~np.isnan(arr)]
        if ((bad < 0.0) | (bad > 100.0)).any():
            raise ValueError(f"{name} must be within 0..100 %")
    if (speed[~np.isnan(speed)] < 0.0).any():
        raise ValueError("up_speed_kmh must not be negative")

    occdf = up - down
    with np.errstate(invalid="ignore", divide="ignore"):
        occrdf = np.where(up > 0.0, occdf / up, 0.0)
    test = (occdf >= params.occdf_min) & (occrdf >= params.occrdf_min) & (down < params.docc_max)
    if params.speed_drop is not None:
        slow = np.isnan(speed) | (speed < (1.0 - params.speed_drop) * free_flow_kmh)
        test &= slow
    missing = np.isnan(up) | np.isnan(down)

    states = np.zeros(len(up), dtype=np.int8)
    state, run = CLEAR, 0
    for t in range(len(up)):
        if not missing[t]:
            if state == INCIDENT:
                # #7 keeps an incident while the relative difference stays above T2.
                if occrdf[t] < params.occrdf_min:
                    state, run = CLEAR, 0
            elif test[t]:
                run += 1
                state = INCIDENT if run >= params.persistence else TENTATIVE
            else:
                state, run = CLEAR, 0
        states[t] = state
    return states


@dataclass(frozen=True)
class AlarmSpan:
    """One alarm: intervals [start, end) in the incident state (end None: still active)."""

    start: int
    end: int | None


def alarm_spans(states: np.ndarray) -> list[AlarmSpan]:
    """Return the spans of consecutive INCIDENT states, in order."""
    spans: list[AlarmSpan] = []
    begin: int | None = None
    for t, s in enumerate(np.asarray(states)):
        if s == INCIDENT and begin is None:
            begin = t
        elif s != INCIDENT and begin is not None:
            spans.append(AlarmSpan(start=begin, end=t))
            begin = None
    if begin is not None:
        spans.append(AlarmSpan(start=begin, end=None))
    return spans


class IncidentDetection(BaseModel):
    """A detected (or tentative) incident between two detector stations on one road."""

    upstream_code: str
    downstream_code: str
    road_name: str
    gap_m: float
    state: str
    # Start of the interval in which the test first held, and of the interval that confirmed it.
    first_seen: datetime
    confirmed_at: datetime | None
    last_interval: datetime
    up_occupancy_pct: float
    down_occupancy_pct: float
    up_speed_kmh: float | None
    # The upstream detector's position (WGS84), where the console pins the detection.
    lon: float
    lat: float


# ---------------------------------------------------------------------------------------------
# Service: pairs of seeded detectors along the road graph, and detections from stored readings

# Detectors in the seed sit this far before the stop line of their approach (shared.seed.demo).
_DEFAULT_SETBACK_M: Final[float] = 30.0


@dataclass(frozen=True)
class DetectorPair:
    """An upstream and the next downstream detector station on the same road."""

    upstream_code: str
    downstream_code: str
    road_name: str
    gap_m: float
    free_flow_kmh: float
    up_occupancy_ds: int
    down_occupancy_ds: int
    up_speed_ds: int
    lon: float
    lat: float


_DETECTORS = text(
    "SELECT t.code, t.properties ->> 'edge_id', t.properties ->> 'free_flow_kmh',"
    " max(d.id) FILTER (WHERE op.code = 'occupancy'), max(d.id) FILTER (WHERE op.code = 'speed'),"
    " ST_X(l.geom), ST_Y(l.geom)"
    " FROM thing t JOIN datastream d ON d.thing_id = t.id"
    " JOIN observed_property op ON op.id = d.observed_property_id"
    " LEFT JOIN LATERAL (SELECT loc.geom FROM thing_location tl"
    "  JOIN location loc ON loc.id = tl.location_id WHERE tl.thing_id = t.id"
    "  ORDER BY loc.id LIMIT 1) l ON true"
    " WHERE t.sensor_type = 'traffic' AND t.properties ? 'edge_id' GROUP BY t.id, l.geom"
)
# Entry and exit bearings (degrees from north, on the spheroid) of each directed segment.
_SEGMENTS = text(
    "SELECT external_id, name, source, target, length_m, speed_limit_kmh,"
    " degrees(ST_Azimuth(geography(ST_StartPoint(geom)), geography(ST_PointN(geom, 2)))),"
    " degrees(ST_Azimuth(geography(ST_PointN(geom, -2)), geography(ST_EndPoint(geom))))"
    " FROM road_segment"
)
# Straight on means turning by less than this at a junction; more is a turn onto another road
# (or onto the other carriageway of the same one, which shares its name).
_MAX_TURN_DEG: Final[float] = 45.0
# Loops closer than this sit in one junction cluster and see the same traffic.
_MIN_GAP_M: Final[float] = 50.0


class _Segment(NamedTuple):
    edge: str
    name: str
    source: int
    target: int
    length_m: float
    speed_limit_kmh: float
    entry_deg: float | None
    exit_deg: float | None


class _Detector(NamedTuple):
    code: str
    free_flow_kmh: float | None
    occupancy_ds: int
    speed_ds: int
    lon: float
    lat: float


def _turn(exit_deg: float | None, entry_deg: float | None) -> float:
    if exit_deg is None or entry_deg is None:
        return 0.0
    return abs((float(entry_deg) - float(exit_deg) + 180.0) % 360.0 - 180.0)


def detector_pairs(*, session: Session, max_gap_m: float = 1500.0) -> list[DetectorPair]:
    """Pair each traffic detector with the next detector straight on downstream, same road."""
    if not max_gap_m > 0:
        raise ValueError(f"max_gap_m must be positive, got {max_gap_m!r}")
    detectors: dict[str, _Detector] = {}
    for code, edge, ff, occ_ds, spd_ds, lon, lat in session.execute(_DETECTORS):
        if occ_ds is not None and spd_ds is not None:
            ff_kmh = float(ff) if ff is not None else None
            detectors[edge] = _Detector(code, ff_kmh, occ_ds, spd_ds, float(lon), float(lat))
    segs = {r[0]: _Segment(*r) for r in session.execute(_SEGMENTS)}
    out_of: dict[int, list[_Segment]] = {}
    for seg in segs.values():
        out_of.setdefault(seg.source, []).append(seg)
    pairs: list[DetectorPair] = []
    for edge, up in sorted(detectors.items()):
        first = segs.get(edge)
        if first is None:
            continue
        name = first.name or ""
        free_flow = up.free_flow_kmh or float(first.speed_limit_kmh)
        # Distance from the upstream loop to the end of its own edge.
        frontier = [(first, min(_DEFAULT_SETBACK_M, float(first.length_m)))]
        seen = {edge}
        while frontier:
            prev, dist = frontier.pop()
            nexts = [
                s for s in out_of.get(prev.target, [])
                if s.target != prev.source and s.edge not in seen
                and _turn(prev.exit_deg, s.entry_deg) <= _MAX_TURN_DEG
            ]  # fmt: skip
            # Follow the same street name; an unnamed road only where it does not fork.
            nexts = [s for s in nexts if s.name == name] if name else nexts
            if not name and len(nexts) != 1:
                continue
            for nxt in nexts:
                seen.add(nxt.edge)
                down = detectors.get(nxt.edge)
                if down is not None:
                    gap = dist + max(0.0, float(nxt.length_m) - _DEFAULT_SETBACK_M)
                    if _MIN_GAP_M <= gap <= max_gap_m:
                        pairs.append(
                            DetectorPair(upstream_code=up.code, downstream_code=down.code,
                                         road_name=name, gap_m=round(gap, 1),
                                         free_flow_kmh=free_flow, up_occupancy_ds=up.occupancy_ds,
                                         down_occupancy_ds=down.occupancy_ds,
                                         up_speed_ds=up.speed_ds, lon=up.lon, lat=up.lat)
                        )  # fmt: skip
                elif dist + float(nxt.length_m) <= max_gap_m:
                    frontier.append((nxt, dist + float(nxt.length_m)))
    return pairs


_BINNED = text(
    "SELECT datastream_id, date_bin(make_interval(secs => :step), phenomenon_time,"
    " TIMESTAMPTZ '2000-01-01 00:00+00') AS b, avg(result) FROM observation"
    " WHERE datastream_id = ANY(:ids) AND phenomenon_time >= :since AND phenomenon_time < :until"
    " GROUP BY 1, 2"
)


def detect_incidents(
    *,
    session: Session,
    now: datetime | None = None,
    window_min: int = 15,
    interval_s: int = 60,
    params: AidParams = DEFAULT_AID,
    max_gap_m: float = 1500.0,
) -> list[IncidentDetection]:
    """Run the detector-pair test over the latest stored readings; return current detections."""
    if window_min < 1:
        raise ValueError(f"window_min must be at least 1, got {window_min}")
    if not 10 <= interval_s <= 900:
        raise ValueError(f"interval_s must be within 10..900 s, got {interval_s}")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    step = timedelta(seconds=interval_s)
    # Only complete intervals: the one still running would show a part-filled occupancy.
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    until = epoch + ((now - epoch) // step) * step
    since = until - timedelta(minutes=window_min)
    pairs = detector_pairs(session=session, max_gap_m=max_gap_m)
    if not pairs:
        return []
    ids = sorted(
        {i for p in pairs for i in (p.up_occupancy_ds, p.down_occupancy_ds, p.up_speed_ds)}
    )
    bins = int((until - since) / step)
    grid = {ds: np.full(bins, np.nan) for ds in ids}
    rows = session.execute(
        _BINNED, {"step": interval_s, "ids": ids, "since": since, "until": until}
    )
    for ds, b, value in rows:
        k = int((b - since) / step)
        if 0 <= k < bins:
            grid[ds][k] = float(value)
    found: list[IncidentDetection] = []
    for p in pairs:
        up, down = grid[p.up_occupancy_ds], grid[p.down_occupancy_ds]
        states = aid_states(np.clip(up, 0.0, 100.0), np.clip(down, 0.0, 100.0),
                            grid[p.up_speed_ds], free_flow_kmh=p.free_flow_kmh,
                            params=params)  # fmt: skip
        if not len(states) or states[-1] == CLEAR:
            continue
        last = len(states) - 1
        first = last
        while first > 0 and states[first - 1] != CLEAR:
            first -= 1
        # The test first held at `first`; the alarm was confirmed `persistence - 1` later.
        confirmed = first + params.persistence - 1
        speed = grid[p.up_speed_ds][last]
        found.append(
            IncidentDetection(
                upstream_code=p.upstream_code,
                downstream_code=p.downstream_code,
                road_name=p.road_name,
                gap_m=p.gap_m,
                state="incident" if states[-1] == INCIDENT else "tentative",
                first_seen=since + first * step,
                confirmed_at=since + confirmed * step if states[-1] == INCIDENT else None,
                last_interval=since + last * step,
                up_occupancy_pct=round(float(up[last]), 1),
                down_occupancy_pct=round(float(down[last]), 1),
                up_speed_kmh=None if np.isnan(speed) else round(float(speed), 1),
                lon=p.lon,
                lat=p.lat,
            )
        )
    found.sort(key=lambda d: (d.state != "incident", d.first_seen, d.upstream_code))
    return found
