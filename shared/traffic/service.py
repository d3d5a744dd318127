"""Live-cost routing over the road graph, congestion per segment, road closures, signal plans.

Travel costs (seconds per segment) come from a snapshot taken once per request
(`cost_snapshot`):

- a segment with a traffic detector whose latest ``speed`` reading is at most
  ``LIVE_MAX_AGE_S`` old costs ``length_m / speed``, the detector being tied to its approach
  by ``thing.properties->>'edge_id' = road_segment.external_id`` (see the seed);
- every other segment costs its free-flow ``cost_s`` (length at the speed limit);
- live costs never go below free flow (an ETA never assumes speeding), and speeds are floored
  at ``MIN_LIVE_SPEED_KMH`` so a standstill reading slows a route instead of cutting it;
- segments under an active closure at ``as_of`` are left out of the graph.

The snapshot goes into pgRouting's edges query as a small VALUES list, so each pgRouting call
plans a plain scan of ``road_segment`` instead of the detector joins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from shared.geo import lonlat
from shared.roads.models import Intersection, RoadSegment
from shared.traffic.derived import congestion_level
from shared.traffic.models import RoadClosure, SignalPlan, SignalPlanStatus
from shared.traffic.schemas import (
    NoRouteError,
    PhaseChange,
    RoadClosureCreate,
    RouteOption,
    SegmentCongestion,
    SignalPlanDiff,
    SignalStop,
)
from shared.traffic.timing import (
    DEFAULT_LOST_TIME_PER_PHASE_S,
    PhaseDemand,
    webster_delay,
    webster_plan,
)

# A detector reading older than this no longer describes the road (15 min, the usual horizon
# of traffic-information services; the demo simulator reports far more often).
LIVE_MAX_AGE_S = 900.0
# The SEVERE band's upper bound (derived.py): walking pace, slow but passable.
MIN_LIVE_SPEED_KMH = 5.0
# Alternatives: the k-th search makes the best route's segments cost this many times more.
ALTERNATIVE_PENALTIES = (1.5, 3.0, 10.0)

# One round trip: the freshest speed per detector segment ('L'), then active closures ('C').
_SNAPSHOT_SQL = text(
    "(SELECT DISTINCT ON (rs.id) 'L' AS kind, rs.id, dl.result, dl.phenomenon_time, rs.cost_s, "
    "rs.length_m FROM thing t JOIN datastream d ON d.thing_id = t.id "
    "JOIN observed_property op ON op.id = d.observed_property_id AND op.code = 'speed' "
    "JOIN datastream_latest dl ON dl.datastream_id = d.id "
    "JOIN road_segment rs ON rs.external_id = t.properties->>'edge_id' "
    "WHERE t.sensor_type = 'traffic' AND dl.phenomenon_time <= :as_of "
    "AND dl.phenomenon_time > :oldest ORDER BY rs.id, dl.phenomenon_time DESC) "
    "UNION ALL (SELECT DISTINCT 'C', segment_id, NULL::float8, NULL::timestamptz, NULL::float8, "
    "NULL::float8 FROM road_closure "
    "WHERE starts_at <= :as_of AND (ends_at IS NULL OR ends_at > :as_of))"
)


@dataclass(frozen=True)
class LiveSpeed:
    """A fresh detector speed on a segment and the travel time it implies."""

    speed_kmh: float
    observed_at: datetime
    cost_s: float  # max(free-flow cost, length / max(speed, MIN_LIVE_SPEED_KMH))


@dataclass(frozen=True)
class CostSnapshot:
    """Live speeds and closures at one instant: what every route of one request uses."""

    as_of: datetime
    live: dict[int, LiveSpeed] = field(default_factory=dict)
    closed: frozenset[int] = frozenset()

    def edges_sql(self) -> str:
        """Return pgRouting's edges query (id, source, target, cost) for this snapshot."""
        return self._edges("")

    def penalised_edges_template(self) -> str:
        """The edges query with ``__IDS__`` (comma-separated segment ids) and ``__F__`` (their
        cost factor) left to fill in SQL, so alternatives run in the best route's statement."""
        return self._edges(" * (CASE WHEN s.id = ANY('{__IDS__}'::int[]) THEN __F__ ELSE 1.0 END)")

    def _edges(self, factor: str) -> str:
        sql = "SELECT s.id, s.source, s.target, "
        if self.live:
            # Two array literals keep the query cheap to plan (pgRouting plans it on every
            # call); every element is a Python int or float formatted here.
            ids = sorted(self.live)
            costs = ",".join(repr(float(self.live[i].cost_s)) for i in ids)
            sql += (
                f"COALESCE(o.c, s.cost_s){factor} AS cost FROM road_segment s "
                f"LEFT JOIN unnest('{{{','.join(map(str, ids))}}}'::int[], "
                f"'{{{costs}}}'::float8[]) AS o(id, c) ON o.id = s.id"
            )
        else:
            sql += f"s.cost_s{factor} AS cost FROM road_segment s"
        if self.closed:
            sql += f" WHERE s.id <> ALL('{{{','.join(str(int(c)) for c in sorted(self.closed))}}}')"
        return sql


def cost_snapshot(
    *, session: Session, as_of: datetime | None = None, max_age_s: float = LIVE_MAX_AGE_S
) -> CostSnapshot:
    """Return the live speeds (fresh detector readings) and active closures at ``as_of``."""
    when = as_of or datetime.now(UTC)
    if when.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    live: dict[int, LiveSpeed] = {}
    closed: set[int] = set()
    params = {"as_of": when, "oldest": when - timedelta(seconds=max_age_s)}
    for kind, seg, speed, at, cost_s, length_m in session.execute(_SNAPSHOT_SQL, params):
        if kind == "C":
            closed.add(int(seg))
            continue
        kmh = max(0.0, float(speed))
        cost = max(float(cost_s), float(length_m) * 3.6 / max(kmh, MIN_LIVE_SPEED_KMH))
        live[int(seg)] = LiveSpeed(speed_kmh=kmh, observed_at=at, cost_s=cost)
    return CostSnapshot(as_of=when, live=live, closed=frozenset(closed))


# Several searches in one round trip: one pgr_dijkstra per (k, edges query) row.
# The best route and its alternatives in one round trip. The alternatives' edges queries are
# built in SQL from the best path (its segment ids replace __IDS__, the factor __F__).
_ROUTES_SQL = (
    "WITH best AS MATERIALIZED (SELECT 0 AS k, seq, node, edge, cost "
    "FROM pgr_dijkstra(:edges, :source, :target, directed => true)), "
    "ids AS (SELECT COALESCE(string_agg(edge::text, ','), '') AS l FROM best WHERE edge > 0), "
    "alts AS (SELECT f.k, p.seq, p.node, p.edge, p.cost FROM (VALUES {factors}) AS f(k, factor) "
    "CROSS JOIN ids CROSS JOIN LATERAL pgr_dijkstra(replace(replace(CAST(:template AS text), "
    "'__IDS__', ids.l), '__F__', f.factor::text), :source, :target, directed => true) AS p "
    "WHERE ids.l <> ''), "
    "paths AS (SELECT * FROM best UNION ALL SELECT * FROM alts) "
    "SELECT q.k, q.seq, q.node, q.edge, q.cost, s.length_m, s.cost_s, i.signalised, i.tls_id, "
    "ST_AsGeoJSON(s.geom, 6) AS gj FROM paths q JOIN intersection i ON i.id = q.node "
    "LEFT JOIN road_segment s ON s.id = q.edge ORDER BY q.k, q.seq"
)


def _penalty_factors(alternatives: int) -> list[float]:
    """1.5x, 3x, 10x, then 10x, 20x, 30x ... for the k-th alternative."""
    last = len(ALTERNATIVE_PENALTIES) - 1
    return [ALTERNATIVE_PENALTIES[min(k, last)] * max(1, k - last + 1) for k in range(alternatives)]


def _route(
    rows: Sequence[Any],
    source_id: int,
    target_id: int,
    snapshot: CostSnapshot,
    penalties: Mapping[int, float],
) -> RouteOption:
    eta = 0.0
    free = 0.0
    length = 0.0
    segment_ids: list[int] = []
    coords: list[list[float]] = []
    signals: list[SignalStop] = []
    previous_edge: int | None = None
    for r in rows:
        if previous_edge is not None and r.signalised:
            signals.append(
                SignalStop(
                    intersection_id=r.node,
                    tls_id=r.tls_id,
                    approach_segment_id=previous_edge,
                    eta_s=eta,
                )
            )
        if r.edge == -1:
            break
        # pgRouting reports the penalised cost; the ETA uses the real one.
        eta += float(r.cost) / penalties.get(r.edge, 1.0)
        free += float(r.cost_s)
        length += float(r.length_m)
        segment_ids.append(int(r.edge))
        line = orjson.loads(r.gj)["coordinates"]
        coords.extend(line[1:] if coords and coords[-1] == line[0] else line)
        previous_edge = int(r.edge)
    return RouteOption(
        source_id=source_id,
        target_id=target_id,
        eta_s=eta,
        free_flow_s=free,
        length_m=length,
        segment_ids=segment_ids,
        intersection_ids=[int(r.node) for r in rows],
        geometry={"type": "LineString", "coordinates": coords},
        signals=signals,
        live_segment_ids=[s for s in segment_ids if s in snapshot.live],
    )


def _here(session: Session, node_id: int, snapshot: CostSnapshot) -> RouteOption:
    """The empty route of a unit already at the incident's intersection."""
    node = session.get(Intersection, node_id)
    if node is None:
        raise NoRouteError(f"no intersection {node_id}")
    point = list(lonlat(node.geom))
    return RouteOption(
        source_id=node_id,
        target_id=node_id,
        eta_s=0.0,
        free_flow_s=0.0,
        length_m=0.0,
        segment_ids=[],
        intersection_ids=[node_id],
        # A GeoJSON LineString needs two positions: the same point twice.
        geometry={"type": "LineString", "coordinates": [point, point]},
        signals=[],
    )


def route_between(
    *,
    session: Session,
    source_id: int,
    target_id: int,
    alternatives: int = 3,
    as_of: datetime | None = None,
    snapshot: CostSnapshot | None = None,
) -> list[RouteOption]:
    """Return the fastest live-cost route first, then up to ``alternatives`` distinct others.

    Alternatives come from penalised re-runs: the best route's segments cost
    ``ALTERNATIVE_PENALTIES[k]`` times more in the k-th search (1.5x, 3x, 10x, ...), which
    gives routes that really differ (Yen's k-shortest paths mostly returns one-segment
    variations on a street grid). Everything runs in one statement; identical results are
    dropped, so fewer alternatives may come back. Their ETAs use the real, unpenalised costs.

    Raises:
        NoRouteError: the target cannot be reached from the source.
        ValueError: a negative number of alternatives.
    """
    if alternatives < 0:
        raise ValueError(f"alternatives must be >= 0, got {alternatives}")
    snap = snapshot or cost_snapshot(session=session, as_of=as_of)
    if source_id == target_id:
        return [_here(session, source_id, snap)]
    factors = _penalty_factors(alternatives)
    values = ", ".join(f"({k}, {f!r}::float8)" for k, f in enumerate(factors, start=1))
    sql = _ROUTES_SQL.format(factors=values or "(1, 1.0::float8)")
    if not factors:
        sql = sql.replace("WHERE ids.l <> ''", "WHERE false")
    rows = session.execute(
        text(sql),
        {
            "edges": snap.edges_sql(),
            "template": snap.penalised_edges_template(),
            "source": source_id,
            "target": target_id,
        },
    ).all()
    by_k: dict[int, list[Any]] = {}
    for r in rows:
        by_k.setdefault(int(r.k), []).append(r)
    if 0 not in by_k:
        raise NoRouteError(
            f"no route from intersection {source_id} to {target_id} "
            "(one-way streets or closures cut it off)"
        )
    best = _route(by_k[0], source_id, target_id, snap, {})
    routes = [best]
    seen = {tuple(best.segment_ids)}
    for k, factor in enumerate(factors, start=1):
        if k not in by_k:
            continue
        penalties = dict.fromkeys(best.segment_ids, factor)
        option = _route(by_k[k], source_id, target_id, snap, penalties)
        if tuple(option.segment_ids) not in seen:
            seen.add(tuple(option.segment_ids))
            routes.append(option)
    return [best, *sorted(routes[1:], key=lambda r: r.eta_s)]


def reachable_pair(
    *,
    session: Session,
    sources: Sequence[int],
    targets: Sequence[int],
    snapshot: CostSnapshot,
) -> tuple[int, int] | None:
    """Return the first (source, target) candidate pair with a path, by summed rank, or None."""
    rows = session.execute(
        text(
            "SELECT start_vid, end_vid FROM pgr_dijkstraCost(:edges, "
            "CAST(:s AS bigint[]), CAST(:t AS bigint[]), directed => true)"
        ),
        {"edges": snapshot.edges_sql(), "s": list(sources), "t": list(targets)},
    ).all()
    found = {(int(a), int(b)) for a, b in rows}
    pairs = [(i + j, i, s, t) for i, s in enumerate(sources) for j, t in enumerate(targets)]
    for _rank, _i, s, t in sorted(pairs):
        if s == t or (s, t) in found:
            return (s, t)
    return None


def snap_points(
    *, session: Session, points: Sequence[tuple[float, float]], k: int = 5
) -> list[list[int]]:
    """Return the ``k`` nearest intersection ids (nearest first) of each WGS84 point, at once."""
    if not points:
        return []
    cols = ", ".join(
        f"ARRAY(SELECT id FROM intersection ORDER BY geom <-> "
        f"ST_SetSRID(ST_MakePoint(:x{n}, :y{n}), 4326) LIMIT :k)"
        for n in range(len(points))
    )
    params: dict[str, Any] = {"k": k}
    for n, (lon, lat) in enumerate(points):
        params[f"x{n}"], params[f"y{n}"] = float(lon), float(lat)
    row = session.execute(text(f"SELECT {cols}"), params).one()
    return [list(ids) for ids in row]


def nearest_intersections(*, session: Session, lon: float, lat: float, k: int = 5) -> list[int]:
    """Return the ids of the ``k`` intersections nearest to a WGS84 point, nearest first."""
    pt = func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326)
    stmt = select(Intersection.id).order_by(Intersection.geom.op("<->")(pt)).limit(k)
    return list(session.scalars(stmt))


# ---------------------------------------------------------------------------------------------
# congestion


def segment_congestion(
    *, session: Session, as_of: datetime | None = None
) -> list[SegmentCongestion]:
    """Return the congestion level of every segment with a fresh detector speed."""
    snap = cost_snapshot(session=session, as_of=as_of)
    if not snap.live:
        return []
    rows = session.execute(
        select(
            RoadSegment.id,
            RoadSegment.external_id,
            RoadSegment.name,
            RoadSegment.speed_limit_kmh,
            func.ST_AsGeoJSON(RoadSegment.geom, 6),
        )
        .where(RoadSegment.id.in_(list(snap.live)))
        .order_by(RoadSegment.id)
    ).all()
    return [
        SegmentCongestion(
            segment_id=seg_id,
            external_id=ext,
            name=name or "",
            speed_kmh=snap.live[seg_id].speed_kmh,
            free_flow_kmh=float(limit),
            level=congestion_level(snap.live[seg_id].speed_kmh),
            observed_at=snap.live[seg_id].observed_at,
            geometry=orjson.loads(gj),
        )
        for seg_id, ext, name, limit, gj in rows
    ]


def congestion_geojson(*, session: Session, as_of: datetime | None = None) -> dict[str, Any]:
    """Return the congestion levels as a GeoJSON FeatureCollection for the console map."""
    features = [
        {
            "type": "Feature",
            "id": c.segment_id,
            "geometry": c.geometry,
            "properties": {
                "segment_id": c.segment_id,
                "name": c.name,
                "speed_kmh": round(c.speed_kmh, 1),
                "free_flow_kmh": c.free_flow_kmh,
                "level": c.level,
                "observed_at": c.observed_at.isoformat(),
            },
        }
        for c in segment_congestion(session=session, as_of=as_of)
    ]
    return {"type": "FeatureCollection", "features": features}


# ---------------------------------------------------------------------------------------------
# closures


def _reverse_segment(session: Session, segment: RoadSegment) -> RoadSegment | None:
    return session.scalar(
        select(RoadSegment)
        .where(RoadSegment.source == segment.target, RoadSegment.target == segment.source)
        .order_by(func.abs(RoadSegment.length_m - segment.length_m))
        .limit(1)
    )


def close_road(*, session: Session, data: RoadClosureCreate) -> list[RoadClosure]:
    """Close a segment (and its opposite direction by default) to routing; return the rows.

    Raises:
        LookupError: unknown segment.
        ValueError: a window that ends before it starts.
    """
    segment = session.get(RoadSegment, data.segment_id)
    if segment is None:
        raise LookupError(f"no road segment {data.segment_id}")
    now = datetime.now(UTC)
    starts = data.starts_at or now
    if data.ends_at is not None and data.ends_at <= starts:
        raise ValueError(f"closure ends ({data.ends_at}) before it starts ({starts})")
    segments = [segment]
    if data.both_directions and (reverse := _reverse_segment(session, segment)) is not None:
        segments.append(reverse)
    rows = [
        RoadClosure(
            segment_id=s.id,
            reason=data.reason,
            created_by=data.created_by,
            created_at=now,
            starts_at=starts,
            ends_at=data.ends_at,
        )
        for s in segments
    ]
    session.add_all(rows)
    session.flush()
    return rows


def lift_closure(*, session: Session, closure_id: int, at: datetime | None = None) -> RoadClosure:
    """End a closure now (or at ``at``); routing uses the segment again from then on."""
    closure = session.get(RoadClosure, closure_id, with_for_update=True)
    if closure is None:
        raise LookupError(f"no road closure {closure_id}")
    end = at or datetime.now(UTC)
    if closure.ends_at is not None and closure.ends_at <= end:
        raise ValueError(f"road closure {closure_id} already ended at {closure.ends_at}")
    closure.ends_at = max(end, closure.starts_at + timedelta(microseconds=1))
    session.flush()
    return closure


def active_closures(*, session: Session, as_of: datetime | None = None) -> list[RoadClosure]:
    """Return the closures in force at ``as_of`` (default now)."""
    when = as_of or datetime.now(UTC)
    stmt = (
        select(RoadClosure)
        .where(RoadClosure.starts_at <= when)
        .where((RoadClosure.ends_at.is_(None)) | (RoadClosure.ends_at > when))
        .order_by(RoadClosure.id)
    )
    return list(session.scalars(stmt))


# ---------------------------------------------------------------------------------------------
# signal plans

# Base saturation flow per lane (veh/h of green). HCM's ideal is 1,900 pc/h/ln; 1,800 allows for
# the usual urban adjustments (lane width, heavy vehicles, turns) and matches the simulator.
SATURATION_PER_LANE_VPH = 1800.0
LANE_WIDTH_M = 3.5
# Approaches whose axes differ by less than this share a phase (opposing through movements).
_SAME_AXIS_DEG = 45.0


@dataclass(frozen=True)
class Approach:
    """An incoming segment of a signalised intersection with its measured flow."""

    segment_id: int
    axis_deg: float  # bearing modulo 180: opposite approaches share an axis
    lanes: int
    crossing_m: float  # curb to curb of the street this approach belongs to
    flow_vph: float | None  # None: no detector on this approach


def _approaches(session: Session, intersection_id: int) -> list[tuple[int, float, int, float]]:
    """Return (segment id, axis degrees, lanes, street width m) of each incoming segment."""
    rows = session.execute(
        text(
            "SELECT s.id, degrees(ST_Azimuth(geography(ST_PointN(s.geom, -2)), "
            "geography(ST_PointN(s.geom, -1)))), s.lanes, "
            "s.lanes + COALESCE((SELECT r.lanes FROM road_segment r WHERE r.source = s.target "
            "AND r.target = s.source LIMIT 1), 0) "
            "FROM road_segment s WHERE s.target = :i ORDER BY s.id"
        ),
        {"i": intersection_id},
    ).all()
    return [(int(r[0]), float(r[1] or 0.0) % 180.0, int(r[2]), r[3] * LANE_WIDTH_M) for r in rows]


def measured_approach_flows(
    *, session: Session, intersection_id: int, since: datetime, until: datetime
) -> tuple[dict[int, float], datetime | None]:
    """Return each detector approach's flow (veh/h) in the design hour, and that hour.

    The design hour is the hourly roll-up bucket in [since, until) with the highest total
    count over the intersection's detectors (the peak hour, as fixed-time plans are designed
    for). An hourly bucket's total of ``vehicle_count`` is the flow in veh/h.
    """
    rows = session.execute(
        text(
            "SELECT rs.id, h.bucket, h.total FROM road_segment rs "
            "JOIN thing t ON t.properties->>'edge_id' = rs.external_id "
            "AND t.sensor_type = 'traffic' "
            "JOIN datastream d ON d.thing_id = t.id "
            "JOIN observed_property op ON op.id = d.observed_property_id "
            "AND op.code = 'vehicle_count' "
            "JOIN observation_hourly h ON h.datastream_id = d.id "
            "AND h.bucket >= :since AND h.bucket < :until "
            "WHERE rs.target = :i"
        ),
        {"i": intersection_id, "since": since, "until": until},
    ).all()
    per_hour: dict[datetime, dict[int, float]] = {}
    for seg, bucket, total in rows:
        hour = per_hour.setdefault(bucket, {})
        hour[int(seg)] = hour.get(int(seg), 0.0) + float(total)
    if not per_hour:
        return {}, None
    design = max(per_hour, key=lambda b: (sum(per_hour[b].values()), b))
    return per_hour[design], design


def _axis_gap(a: float, b: float) -> float:
    d = abs(a - b) % 180.0
    return min(d, 180.0 - d)


def group_phases(approaches: Sequence[Approach]) -> list[list[Approach]]:
    """Group approaches into two phases by axis: opposing approaches run together.

    The approach with the highest flow (else the first) fixes phase A's axis; approaches
    within 45 degrees of it join A, the rest form B. One axis only (a mid-block pedestrian
    signal, a one-way street) gives a single vehicle phase; the caller adds a pedestrian one.
    """
    if not approaches:
        return []
    lead = max(approaches, key=lambda a: (a.flow_vph or 0.0, -a.segment_id))
    first = [a for a in approaches if _axis_gap(a.axis_deg, lead.axis_deg) < _SAME_AXIS_DEG]
    second = [a for a in approaches if a not in first]
    return [first, second] if second else [first]


def _phase_demand(
    name: str, group: Sequence[Approach], crossing_m: float, saturation_per_lane: float
) -> PhaseDemand:
    """The critical lane group of a phase: the approach with the highest flow ratio."""
    best_q, best_s, best_y = 0.0, saturation_per_lane, -1.0
    for a in group:
        q = a.flow_vph or 0.0
        s = saturation_per_lane * max(1, a.lanes)
        if q / s > best_y:
            best_q, best_s, best_y = q, s, q / s
    return PhaseDemand(name=name, flow_vph=best_q, saturation_vph=best_s, crossing_m=crossing_m)


def _next_version(session: Session, intersection_id: int) -> int:
    current = session.scalar(
        select(func.max(SignalPlan.version)).where(SignalPlan.intersection_id == intersection_id)
    )
    return int(current or 0) + 1


def propose_signal_plan(
    *,
    session: Session,
    intersection_id: int,
    author: str,
    since: datetime | None = None,
    until: datetime | None = None,
    saturation_per_lane_vph: float = SATURATION_PER_LANE_VPH,
    lost_time_per_phase_s: float = DEFAULT_LOST_TIME_PER_PHASE_S,
    min_cycle_s: float = 30.0,
    max_cycle_s: float = 120.0,
) -> SignalPlan:
    """Compute a Webster plan from the measured flows and store it as the next draft version.

    Flows come from the hourly roll-ups of the approach detectors over [since, until)
    (default: the last 24 hours) in the design (peak) hour. Pedestrians are assumed to cross
    the other phase's street, curb to curb at 3.5 m per lane.

    Raises:
        LookupError: unknown intersection.
        ValueError: the intersection is not signalised, has no approaches, or no measured flow.
    """
    node = session.get(Intersection, intersection_id)
    if node is None:
        raise LookupError(f"no intersection {intersection_id}")
    if not node.signalised:
        raise ValueError(f"intersection {intersection_id} has no traffic signals")
    until = until or datetime.now(UTC)
    since = since or until - timedelta(hours=24)
    if since >= until:
        raise ValueError(f"empty flow window: since {since} is not before until {until}")
    flows, design_hour = measured_approach_flows(
        session=session, intersection_id=intersection_id, since=since, until=until
    )
    if not flows:
        raise ValueError(
            f"no hourly vehicle counts for intersection {intersection_id} between {since} and "
            f"{until}: run the roll-up first (smartcity db roll-up) or widen the window"
        )
    approaches = [
        Approach(segment_id=s, axis_deg=ax, lanes=ln, crossing_m=w, flow_vph=flows.get(s))
        for s, ax, ln, w in _approaches(session, intersection_id)
    ]
    if not approaches:
        raise ValueError(f"intersection {intersection_id} has no incoming road segments")
    groups = group_phases(approaches)
    names = ["A", "B"]
    demands: list[PhaseDemand] = []
    members: list[list[int]] = []
    for i, group in enumerate(groups):
        others = [a for j, g in enumerate(groups) if j != i for a in g]
        crossing = max((a.crossing_m for a in others), default=0.0)
        demands.append(_phase_demand(names[i], group, crossing, saturation_per_lane_vph))
        members.append([a.segment_id for a in group])
    if len(groups) == 1:
        crossing = max(a.crossing_m for a in groups[0])
        demands.append(PhaseDemand(name="P", flow_vph=0.0, saturation_vph=1.0, crossing_m=crossing))
        members.append([])
    plan = webster_plan(
        demands,
        lost_time_per_phase_s=lost_time_per_phase_s,
        min_cycle_s=min_cycle_s,
        max_cycle_s=max_cycle_s,
    )
    notes = list(plan.notes)
    unmeasured = [a.segment_id for a in approaches if a.flow_vph is None]
    if unmeasured:
        notes.append(f"approaches without a detector counted as 0 veh/h: {unmeasured}")
    row = SignalPlan(
        intersection_id=intersection_id,
        tls_id=node.tls_id,
        version=_next_version(session, intersection_id),
        status=SignalPlanStatus.draft.value,
        cycle_s=plan.cycle_s,
        lost_time_s=plan.lost_time_s,
        expected_delay_s=plan.expected_delay_s,
        phases=[
            {
                "name": t.name,
                "approaches": m,
                "flow_vph": t.flow_vph,
                "saturation_vph": t.saturation_vph,
                "flow_ratio": t.flow_ratio,
                "green_s": t.green_s,
                "min_green_s": t.min_green_s,
                "degree_of_saturation": t.degree_of_saturation,
                "delay_s": t.delay_s,
            }
            for t, m in zip(plan.phases, members, strict=True)
        ],
        basis={
            "since": since.isoformat(),
            "until": until.isoformat(),
            "design_hour": design_hour.isoformat() if design_hour else None,
            "approach_flows_vph": {str(k): v for k, v in sorted(flows.items())},
            "optimum_cycle_s": plan.optimum_cycle_s,
            "flow_ratio_sum": plan.flow_ratio_sum,
            "saturation_per_lane_vph": saturation_per_lane_vph,
        },
        notes=notes,
        author=author,
        created_at=datetime.now(UTC),
    )
    session.add(row)
    session.flush()
    return row


def current_signal_plan(*, session: Session, intersection_id: int) -> SignalPlan | None:
    """Return the plan in force: the newest pushed one, else the newest approved one."""
    for status in (SignalPlanStatus.pushed, SignalPlanStatus.approved):
        found = session.scalar(
            select(SignalPlan)
            .where(SignalPlan.intersection_id == intersection_id, SignalPlan.status == status)
            .order_by(SignalPlan.version.desc())
            .limit(1)
        )
        if found is not None:
            return found
    return None


def list_signal_plans(*, session: Session, intersection_id: int | None = None) -> list[SignalPlan]:
    """Return signal plans, newest version first (optionally of one intersection)."""
    stmt = select(SignalPlan).order_by(SignalPlan.intersection_id, SignalPlan.version.desc())
    if intersection_id is not None:
        stmt = stmt.where(SignalPlan.intersection_id == intersection_id)
    return list(session.scalars(stmt))


def _get_plan(session: Session, plan_id: int) -> SignalPlan:
    plan = session.get(SignalPlan, plan_id, with_for_update=True)
    if plan is None:
        raise LookupError(f"no signal plan {plan_id}")
    return plan


def _delay_at(plan: SignalPlan, flows: Mapping[str, tuple[float, float]]) -> float | None:
    """The plan's flow-weighted Webster delay if its phases served ``flows`` (name -> q, s)."""
    total_q = 0.0
    weighted = 0.0
    for phase in plan.phases:
        q, s = flows.get(phase["name"], (0.0, float(phase["saturation_vph"])))
        try:
            d = webster_delay(
                cycle_s=plan.cycle_s, green_s=float(phase["green_s"]), flow_vph=q,
                saturation_vph=s,
            )  # fmt: skip
        except ValueError:
            return None
        total_q += q
        weighted += q * d
    return weighted / total_q if total_q > 0 else 0.0


def diff_signal_plan(*, session: Session, plan_id: int) -> SignalPlanDiff:
    """Explain a plan against the intersection's current one: splits and expected delay."""
    plan = session.get(SignalPlan, plan_id)
    if plan is None:
        raise LookupError(f"no signal plan {plan_id}")
    current = current_signal_plan(session=session, intersection_id=plan.intersection_id)
    if current is not None and current.id == plan.id:
        current = None
    new_flows = {p["name"]: (float(p["flow_vph"]), float(p["saturation_vph"])) for p in plan.phases}
    old_by_name = {p["name"]: p for p in (current.phases if current else [])}
    changes: list[PhaseChange] = []
    for p in plan.phases:
        old = old_by_name.pop(p["name"], None)
        changes.append(
            PhaseChange(
                name=p["name"],
                approaches=list(p["approaches"]),
                old_green_s=float(old["green_s"]) if old else None,
                new_green_s=float(p["green_s"]),
                old_split=float(old["green_s"]) / current.cycle_s if old and current else None,
                new_split=float(p["green_s"]) / plan.cycle_s,
            )
        )
    for name, old in old_by_name.items():
        changes.append(
            PhaseChange(
                name=name,
                approaches=list(old["approaches"]),
                old_green_s=float(old["green_s"]),
                new_green_s=None,
                old_split=float(old["green_s"]) / current.cycle_s if current else None,
                new_split=None,
            )
        )
    old_delay = _delay_at(current, new_flows) if current else None
    new_delay = plan.expected_delay_s
    change = new_delay - old_delay if new_delay is not None and old_delay is not None else None
    if current is None:
        explanation = (
            f"first plan for intersection {plan.intersection_id}: cycle {plan.cycle_s:.0f} s, "
            + ", ".join(f"{c.name} {c.new_green_s:.1f} s" for c in changes if c.new_green_s)
        )
    else:
        parts = [
            f"cycle {current.cycle_s:.0f} s -> {plan.cycle_s:.0f} s",
            *(
                f"{c.name} {c.old_green_s or 0:.1f} s -> {c.new_green_s or 0:.1f} s"
                for c in changes
            ),
        ]
        if change is not None:
            parts.append(
                f"expected delay at the measured flows {old_delay:.1f} -> {new_delay:.1f} s/veh"
            )
        else:
            parts.append("the current plan is oversaturated at the measured flows")
        explanation = "; ".join(parts)
    return SignalPlanDiff(
        plan_id=plan.id,
        intersection_id=plan.intersection_id,
        version=plan.version,
        current_plan_id=current.id if current else None,
        current_version=current.version if current else None,
        old_cycle_s=current.cycle_s if current else None,
        new_cycle_s=plan.cycle_s,
        old_expected_delay_s=old_delay,
        new_expected_delay_s=new_delay,
        delay_change_s=change,
        phases=changes,
        explanation=explanation,
    )


def approve_signal_plan(*, session: Session, plan_id: int, approver: str) -> SignalPlan:
    """Approve a draft (callers check the operator role); older unpushed approvals lapse."""
    plan = _get_plan(session, plan_id)
    if plan.status != SignalPlanStatus.draft.value:
        raise ValueError(f"signal plan {plan_id} is {plan.status}, only a draft can be approved")
    if not approver.strip():
        raise ValueError("an approver is required")
    for other in session.scalars(
        select(SignalPlan).where(
            SignalPlan.intersection_id == plan.intersection_id,
            SignalPlan.status == SignalPlanStatus.approved.value,
            SignalPlan.id != plan.id,
        )
    ):
        other.status = SignalPlanStatus.superseded.value
    plan.status = SignalPlanStatus.approved.value
    plan.approver = approver
    plan.approved_at = datetime.now(UTC)
    session.flush()
    return plan


def reject_signal_plan(*, session: Session, plan_id: int, approver: str) -> SignalPlan:
    """Reject a draft; it stays in the history."""
    plan = _get_plan(session, plan_id)
    if plan.status != SignalPlanStatus.draft.value:
        raise ValueError(f"signal plan {plan_id} is {plan.status}, only a draft can be rejected")
    plan.status = SignalPlanStatus.rejected.value
    plan.approver = approver
    plan.approved_at = datetime.now(UTC)
    session.flush()
    return plan


def mark_signal_plan_pushed(*, session: Session, plan_id: int) -> SignalPlan:
    """Record that an approved plan now runs on the controller; the previous one is superseded."""
    plan = _get_plan(session, plan_id)
    if plan.status != SignalPlanStatus.approved.value:
        raise ValueError(
            f"signal plan {plan_id} is {plan.status}: only an approved plan can be pushed"
        )
    for other in session.scalars(
        select(SignalPlan).where(
            SignalPlan.intersection_id == plan.intersection_id,
            SignalPlan.status == SignalPlanStatus.pushed.value,
        )
    ):
        other.status = SignalPlanStatus.superseded.value
    plan.status = SignalPlanStatus.pushed.value
    plan.pushed_at = datetime.now(UTC)
    session.flush()
    return plan


def signalised_intersections(*, session: Session) -> list[Intersection]:
    """Return the signalised intersections, by id."""
    stmt = select(Intersection).where(Intersection.signalised.is_(True)).order_by(Intersection.id)
    return list(session.scalars(stmt))
