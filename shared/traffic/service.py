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

The snapshot goes into pgRouting's edges query as array literals (live costs, and -1 for
closed segments), so each pgRouting call plans a plain scan of ``road_segment`` instead of the
detector joins.

A routed request is four statements (bench/routing): both ends, the snapshot with where the
ends join the graph, one pgRouting call for the source's forward and the target's backward
shortest-path trees (candidate routes are read off them in Python,
`shared.traffic.alternatives`), and the candidates' segments and signals.

Candidate routes come from the link-time search; they are ranked on their ETA, which adds the
junction, turn and start-up delays of `shared.traffic.eta` to the link times
(``RouteOption.eta_s``; ``link_time_s`` keeps the link-time sum), with the intersections'
junction kinds from a per-process cache (`junction_kinds`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from time import monotonic
from typing import Any

import orjson
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from shared.geo import lonlat
from shared.roads.models import Intersection, RoadSegment
from shared.traffic.alternatives import MAX_STRETCH, Path, Tree, tree_route, via_alternatives
from shared.traffic.derived import congestion_level
from shared.traffic.eta import Hop, junction_kind, route_eta
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
# Segment-id span up to which the edges query indexes one array of cost overrides.
_DENSE_OVERRIDES = 20_000

# The freshest speed per detector segment ('L'), active closures ('C') and the k intersections
# nearest to each request point ('N': id, point number in ``result``, rank in ``cost_s``), in
# one round trip; k replaces __K__.
_SNAPSHOT_SQL = (
    "(SELECT DISTINCT ON (rs.id) 'L' AS kind, rs.id, dl.result, dl.phenomenon_time, rs.cost_s, "
    "rs.length_m FROM thing t JOIN datastream d ON d.thing_id = t.id "
    "JOIN observed_property op ON op.id = d.observed_property_id AND op.code = 'speed' "
    "JOIN datastream_latest dl ON dl.datastream_id = d.id "
    "JOIN road_segment rs ON rs.external_id = t.properties->>'edge_id' "
    "WHERE t.sensor_type = 'traffic' AND dl.phenomenon_time <= %(as_of)s "
    "AND dl.phenomenon_time > %(oldest)s ORDER BY rs.id, dl.phenomenon_time DESC) "
    "UNION ALL (SELECT DISTINCT 'C', segment_id, NULL::float8, NULL::timestamptz, NULL::float8, "
    "NULL::float8 FROM road_closure "
    "WHERE starts_at <= %(as_of)s AND (ends_at IS NULL OR ends_at > %(as_of)s)) "
    "UNION ALL (SELECT 'N', x.id, p.n::float8, NULL::timestamptz, x.rank::float8, NULL::float8 "
    "FROM unnest(%(lons)s::float8[], %(lats)s::float8[]) WITH ORDINALITY AS p(lon, lat, n) "
    "CROSS JOIN LATERAL unnest(ARRAY(SELECT id FROM intersection ORDER BY geom <-> "
    "ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326) LIMIT __K__)) WITH ORDINALITY AS x(id, rank))"
)


def _fetch(session: Session, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """Run one routing statement in the session's transaction through psycopg itself.

    A statement through ``Session.execute`` cost about 1 ms of client CPU on the routing bench
    (0.13 ms through the driver), a tenth of a routed request. The flush keeps what
    ``Session.execute`` would have made visible (pending closures, moved units) visible here.
    """
    session.flush()
    dbapi = session.connection().connection.dbapi_connection
    if dbapi is None:
        raise RuntimeError("the session's connection is closed")
    with dbapi.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description is not None else []


@dataclass(frozen=True)
class LiveSpeed:
    """A fresh detector speed on a segment and the travel time it implies."""

    speed_kmh: float
    observed_at: datetime
    cost_s: float  # max(free-flow cost, length / max(speed, MIN_LIVE_SPEED_KMH))


@dataclass(frozen=True)
class CostSnapshot:
    """Live speeds and closures at one instant: what every route of one request uses.

    ``nearest`` holds, for each point the snapshot was asked about, the ids of the nearest
    intersections, nearest first (where those points join the graph).
    """

    as_of: datetime
    live: dict[int, LiveSpeed] = field(default_factory=dict)
    closed: frozenset[int] = frozenset()
    nearest: tuple[tuple[int, ...], ...] = ()

    def edges_sql(self) -> str:
        """Return pgRouting's edges query (id, source, target, cost) for this snapshot."""
        return self._edges(0)

    def doubled_edges_sql(self, shift: int) -> str:
        """Return the edges query plus a reversed copy with node and edge ids ``+ shift``."""
        return f"{self._edges(0)} UNION ALL {self._edges(int(shift))}"

    @cached_property
    def _overrides(self) -> dict[int, float]:
        return {i: s.cost_s for i, s in self.live.items()} | dict.fromkeys(self.closed, -1.0)

    @cached_property
    def _dense(self) -> str | None:
        """The overrides as one float8[] literal indexed by segment id, if ids are dense enough."""
        override = self._overrides
        lo, hi = min(override), max(override)
        if hi - lo >= _DENSE_OVERRIDES:
            return None
        values = ",".join(
            [repr(float(override[i])) if i in override else "0" for i in range(lo, hi + 1)]
        )
        return f"'[{int(lo)}:{int(hi)}]={{{values}}}'::float8[]"

    def _edges(self, shift: int) -> str:
        ends = (
            f"s.id + {shift}, s.target + {shift}, s.source + {shift}"
            if shift
            else "s.id, s.source, s.target"
        )
        # Live costs, and -1 for closed segments: pgRouting leaves an edge with a negative cost
        # out of its graph. pgRouting runs this query on every call, so it stays a plain scan:
        # the overrides are one array literal indexed by segment id (0 = none), or, for ids too
        # sparse for that, two literals joined by id. Every element is formatted here from a
        # Python int or float.
        override = self._overrides
        if not override:
            return f"SELECT {ends}, s.cost_s AS cost FROM road_segment s"
        if self._dense is not None:
            return (
                f"SELECT {ends}, COALESCE(NULLIF(({self._dense})[s.id], 0), s.cost_s) AS cost "
                "FROM road_segment s"
            )
        ids = sorted(override)
        costs = ",".join(repr(float(override[i])) for i in ids)
        return (
            f"SELECT {ends}, COALESCE(o.c, s.cost_s) AS cost FROM road_segment s "
            f"LEFT JOIN unnest('{{{','.join(str(int(i)) for i in ids)}}}'::int[], "
            f"'{{{costs}}}'::float8[]) AS o(id, c) ON o.id = s.id"
        )


def cost_snapshot(
    *,
    session: Session,
    as_of: datetime | None = None,
    max_age_s: float = LIVE_MAX_AGE_S,
    near: Sequence[tuple[float, float]] = (),
    k: int = 5,
) -> CostSnapshot:
    """Return the live speeds and active closures at ``as_of``, and the ``k`` intersections
    nearest to each WGS84 (lon, lat) point of ``near``."""
    when = as_of or datetime.now(UTC)
    if when.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    live: dict[int, LiveSpeed] = {}
    closed: set[int] = set()
    ranked: list[list[tuple[int, int]]] = [[] for _ in near]
    params = {
        "as_of": when,
        "oldest": when - timedelta(seconds=max_age_s),
        "lons": [float(p[0]) for p in near],
        "lats": [float(p[1]) for p in near],
    }
    # k goes in as a literal: with LIMIT as a parameter the planner never settles on a generic
    # plan and re-plans this statement (about 0.8 ms) on every call.
    rows = _fetch(session, _SNAPSHOT_SQL.replace("__K__", str(int(k))), params)
    for kind, seg, speed, at, cost_s, length_m in rows:
        if kind == "C":
            closed.add(int(seg))
        elif kind == "N":
            ranked[int(speed) - 1].append((int(cost_s), int(seg)))
        else:
            kmh = max(0.0, float(speed))
            cost = max(float(cost_s), float(length_m) * 3.6 / max(kmh, MIN_LIVE_SPEED_KMH))
            live[int(seg)] = LiveSpeed(speed_kmh=kmh, observed_at=at, cost_s=cost)
    return CostSnapshot(
        as_of=when,
        live=live,
        closed=frozenset(closed),
        nearest=tuple(tuple(i for _rank, i in sorted(r)) for r in ranked),
    )


# Alternatives need two shortest-path trees: the source's on the graph and the target's on the
# reversed graph. Both come from one pgr_drivingDistance call over one graph holding both: the
# segments as they are, and a reversed copy whose node and edge ids are shifted by _REVERSED
# (pgRouting reads and builds its graph once per call, and that build is most of a call's
# cost). Only nodes with d_f + d_b <= MAX_STRETCH x the best route come back: every node of an
# admissible alternative is one (d_b(u) is at most the alternative's time from u on), and so is
# every node of its tree paths. Each row is a node, the forward tree's edge into it and that
# edge's source, the backward tree's edge out of it and that edge's target, d_f and d_b.
_REVERSED = 1 << 40  # far above any bigint id the road graph uses
# No distance cap: the whole city (pgRouting wants a finite number; a century of seconds).
_UNBOUNDED_S = 3.2e9
_TREES_SQL = (
    "WITH t AS MATERIALIZED (SELECT from_v, node, edge, agg_cost FROM pgr_drivingDistance("
    "%(edges)s, ARRAY[%(source)s, %(target)s + %(off)s]::bigint[], %(far)s::float8, "
    "directed => true)), "
    # Filter before joining the segments: the planner cannot estimate a function's rows.
    "n AS MATERIALIZED (SELECT f.node, f.edge AS f_in, b.edge - %(off)s AS b_out, "
    "f.agg_cost AS d_f, b.agg_cost AS d_b FROM t f JOIN t b ON b.node = f.node + %(off)s "
    "WHERE f.from_v = %(source)s AND b.from_v <> %(source)s AND f.agg_cost + b.agg_cost <= "
    "(SELECT agg_cost * %(stretch)s FROM t WHERE from_v = %(source)s AND node = %(target)s)) "
    "SELECT n.node, n.f_in, fs.source, n.b_out, bs.target, n.d_f, n.d_b FROM n "
    "LEFT JOIN road_segment fs ON fs.id = n.f_in LEFT JOIN road_segment bs ON bs.id = n.b_out"
)
# What the chosen routes need for display, the ETA model (shared.traffic.eta) and
# pre-emption: their segments' length, free-flow time and geometry, and which of their
# intersections are signalised (the junction kinds come from `junction_kinds`' cache).
_DETAILS_SQL = (
    "SELECT false AS node, s.id, s.length_m, s.cost_s, ST_AsGeoJSON(s.geom, 6), NULL::text "
    "FROM road_segment s WHERE s.id = ANY(%(segments)s) "
    "UNION ALL SELECT true, i.id, NULL, NULL, NULL, i.tls_id FROM intersection i "
    "WHERE i.signalised AND i.id = ANY(%(nodes)s)"
)


def _end_bearings(line: Sequence[Sequence[float]]) -> tuple[float, float]:
    """Return a WGS84 line's bearing where it starts and where it ends (degrees)."""
    head, tail = line[0], line[-1]
    first = line[1] if line[1] != head else next((q for q in line[2:] if q != head), tail)
    last = line[-2] if line[-2] != tail else next((q for q in line[-3::-1] if q != tail), head)
    # bearing_deg(..., lonlat=True) inlined (a segment's ends are metres apart: one cosine of
    # the latitude serves both): route_unit does this for every segment of every option.
    k = math.cos(math.radians(head[1]))
    return (
        math.degrees(math.atan2((first[0] - head[0]) * k, first[1] - head[1])) % 360.0,
        math.degrees(math.atan2((tail[0] - last[0]) * k, tail[1] - last[1])) % 360.0,
    )


def _trees(
    session: Session, source_id: int, target_id: int, snap: CostSnapshot
) -> tuple[Tree, Tree]:
    """The source's forward and the target's backward shortest-path trees (one pgRouting call),
    restricted to the nodes an admissible alternative may use; empty if the target is cut off."""
    rows = _fetch(
        session,
        _TREES_SQL,
        {
            "edges": snap.doubled_edges_sql(_REVERSED),
            "source": source_id,
            "target": target_id,
            "off": _REVERSED,
            "far": _UNBOUNDED_S,
            # The same float tolerance as via_alternatives' own stretch test.
            "stretch": MAX_STRETCH * (1.0 + 1e-9),
        },
    )
    f_cost: dict[int, float] = {}
    f_edge: dict[int, int] = {}
    f_hop: dict[int, int] = {}
    b_cost: dict[int, float] = {}
    b_edge: dict[int, int] = {}
    b_hop: dict[int, int] = {}
    for node, f_in, f_from, b_out, b_to, d_f, d_b in rows:
        f_cost[node] = d_f
        b_cost[node] = d_b
        if f_in >= 0:
            f_edge[node] = f_in
            f_hop[node] = f_from
        if b_out >= 0:
            b_edge[node] = b_out
            b_hop[node] = b_to
    return Tree(cost=f_cost, edge=f_edge, hop=f_hop), Tree(cost=b_cost, edge=b_edge, hop=b_hop)


def _options(session: Session, paths: Sequence[Path], snap: CostSnapshot) -> list[RouteOption]:
    """Turn paths into route options: one round trip for their segments and signals."""
    segments = sorted({e for p in paths for e in p.edges})
    nodes = sorted({n for p in paths for n in p.nodes})
    seg: dict[int, tuple[float, float, list[list[float]], tuple[float, float]]] = {}
    signal: dict[int, str | None] = {}
    for is_node, oid, length_m, cost_s, gj, tls_id in _fetch(
        session, _DETAILS_SQL, {"segments": segments, "nodes": nodes}
    ):
        if is_node:
            signal[oid] = tls_id
        else:
            line = orjson.loads(gj)["coordinates"]
            seg[oid] = (float(length_m), float(cost_s), line, _end_bearings(line))
    kind = junction_kinds(session=session, nodes=nodes)
    options = []
    for p in paths:
        coords: list[list[float]] = []
        signals: list[SignalStop] = []
        hops: list[Hop] = []
        length = free = 0.0
        for n, edge in enumerate(p.edges, start=1):
            length_m, cost_s, line, (head_in, head_out) = seg[edge]
            length += length_m
            free += cost_s
            coords.extend(line[1:] if coords and coords[-1] == line[0] else line)
            hops.append(
                Hop(
                    link_s=p.arrival_s[n] - p.arrival_s[n - 1],
                    # cost_s is length / speed limit (the column's definition).
                    speed_ms=length_m / cost_s if cost_s > 0 else 0.0,
                    heading_in_deg=head_in,
                    heading_out_deg=head_out,
                    kind=kind.get(p.nodes[n], "priority"),
                )
            )
        est = route_eta(hops)
        for n, edge in enumerate(p.edges, start=1):
            if p.nodes[n] in signal:
                signals.append(
                    SignalStop(
                        intersection_id=p.nodes[n],
                        tls_id=signal[p.nodes[n]],
                        approach_segment_id=edge,
                        eta_s=est.stop_line_s[n - 1],
                    )
                )
        options.append(
            RouteOption(
                source_id=p.nodes[0],
                target_id=p.nodes[-1],
                eta_s=est.eta_s,
                link_time_s=p.cost_s,
                junction_delay_s=est.eta_s - p.cost_s,
                free_flow_s=free,
                length_m=length,
                segment_ids=list(p.edges),
                intersection_ids=list(p.nodes),
                geometry={"type": "LineString", "coordinates": coords},
                signals=signals,
                live_segment_ids=[e for e in p.edges if e in snap.live],
            )
        )
    return options


def _here(session: Session, node_id: int) -> RouteOption:
    """The empty route of a unit already at the incident's intersection."""
    node = session.get(Intersection, node_id)
    if node is None:
        raise NoRouteError(f"no intersection {node_id}")
    point = list(lonlat(node.geom))
    return RouteOption(
        source_id=node_id,
        target_id=node_id,
        eta_s=0.0,
        link_time_s=0.0,
        junction_delay_s=0.0,
        free_flow_s=0.0,
        length_m=0.0,
        segment_ids=[],
        intersection_ids=[node_id],
        # A GeoJSON LineString needs two positions: the same point twice.
        geometry={"type": "LineString", "coordinates": [point, point]},
        signals=[],
    )


# route_between ranks on ETA a pool of candidates from the link-time search: the
# link-time-shortest path and up to RANKED_POOL via routes, or ``alternatives`` + RANKED_EXTRA
# when more are asked. Two beyond the console's three alternatives give the ranking a choice
# even when all three are offered: on 399 random pairs of the seeded city the ETA ranking
# lowered the best route's ETA in 117 with 3 candidates and in 122 with 5, for about 2-3 %
# more CPU per call (bench/routing README, 2026-12-07).
RANKED_POOL = 5
RANKED_EXTRA = 2


def route_between(
    *,
    session: Session,
    source_id: int,
    target_id: int,
    alternatives: int = 3,
    as_of: datetime | None = None,
    snapshot: CostSnapshot | None = None,
) -> list[RouteOption]:
    """Return the live-cost route with the lowest ETA first, then up to ``alternatives`` others
    by ETA.

    The candidates come from the link-time search: the link-time-shortest path and via routes
    read off the source's and the target's shortest-path trees, both from one pgRouting call
    (`shared.traffic.alternatives`): at most 40 % slower than the link-time-shortest path in
    link time, sharing at most 80 % of their link time with it and with each other, and free of
    local detours. They are then ranked on ``eta_s`` (link times plus the junction, turn and
    start-up delays of `shared.traffic.eta`), which is what operators are shown: the
    link-time-shortest path may come second or drop out. The pool holds ``RANKED_POOL`` via
    candidates (more if more alternatives are asked), so for 0 to ``RANKED_POOL`` -
    ``RANKED_EXTRA`` alternatives the best route is the same. A route with a lower ETA that
    the link-time search does not offer as a candidate is not found. Fewer (or no)
    alternatives come back when the network offers no such route.

    Raises:
        NoRouteError: the target cannot be reached from the source.
        ValueError: a negative number of alternatives.
    """
    if alternatives < 0:
        raise ValueError(f"alternatives must be >= 0, got {alternatives}")
    snap = snapshot or cost_snapshot(session=session, as_of=as_of)
    if source_id == target_id:
        return [_here(session, source_id)]
    forward, backward = _trees(session, source_id, target_id, snap)
    if target_id not in forward.cost or source_id not in backward.cost:
        raise NoRouteError(
            f"no route from intersection {source_id} to {target_id} "
            "(one-way streets or closures cut it off)"
        )
    shortest = tree_route(forward, backward, target_id)
    pool = max(RANKED_POOL, alternatives + RANKED_EXTRA)
    others = via_alternatives(forward, backward, shortest, k=pool)
    # Stable sort on ETA; link time breaks ties, then the link-time search's own order.
    options = _options(session, [shortest, *sorted(others, key=lambda p: p.cost_s)], snap)
    options.sort(key=lambda o: (o.eta_s, o.link_time_s))
    return options[: alternatives + 1]


# Each intersection's delay class for the ETA model (shared.traffic.eta.junction_kind): its
# signal, its SUMO junction type and how many intersections its segments lead to or come from.
_KINDS_SQL = (
    "SELECT i.id, i.signalised, i.node_type, count(DISTINCT n.other) FROM intersection i "
    "LEFT JOIN (SELECT source AS node, target AS other FROM road_segment UNION ALL "
    "SELECT target, source FROM road_segment) AS n ON n.node = i.id GROUP BY i.id"
)
_kinds: dict[str, tuple[float, dict[int, str]]] = {}


def junction_kinds(*, session: Session, nodes: Sequence[int] = ()) -> Mapping[int, str]:
    """Return every intersection's junction kind for the ETA model, by id.

    Counting a node's neighbours per request cost 2-3 ms per route request (bench/routing), so
    a process keeps the whole graph's kinds for ``_COMPONENT_TTL_S``, and reloads early when
    one of ``nodes`` is missing (a network imported since). A stale kind only shifts an ETA by
    a junction's delay class.
    """
    bind = session.get_bind()
    key = str(getattr(bind, "engine", bind).url)
    now = monotonic()
    cached = _kinds.get(key)
    if cached is not None and cached[0] > now and all(n in cached[1] for n in nodes):
        return cached[1]
    kinds = {
        int(i): junction_kind(signalised=bool(sig), node_type=typ, neighbours=int(count))
        for i, sig, typ, count in _fetch(session, _KINDS_SQL, {})
    }
    _kinds[key] = (now + _COMPONENT_TTL_S, kinds)
    return kinds


# How long a process trusts its copy of the graph's main component (the road graph changes
# only when a network is seeded or imported; a stale copy only changes which candidate is tried
# first, never a route's correctness).
_COMPONENT_TTL_S = 300.0
_components: dict[str, tuple[float, frozenset[int]]] = {}


def main_component(*, session: Session) -> frozenset[int]:
    """Return the intersections of the road graph's largest strongly connected component.

    Any two of them are connected both ways (closures aside), so snapping both ends of a route
    into it spares the failed graph build that a one-way dead end costs.
    """
    bind = session.get_bind()
    key = str(getattr(bind, "engine", bind).url)  # a Connection in tests, else the Engine
    now = monotonic()
    cached = _components.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    rows = _fetch(
        session,
        "SELECT component, node FROM pgr_strongComponents("
        "'SELECT id, source, target, cost_s AS cost FROM road_segment')",
        {},
    )
    sizes: dict[int, list[int]] = {}
    for component, node in rows:
        sizes.setdefault(int(component), []).append(int(node))
    nodes = frozenset(max(sizes.values(), key=len)) if sizes else frozenset()
    _components[key] = (now + _COMPONENT_TTL_S, nodes)
    return nodes


def preferred_pair(
    *, sources: Sequence[int], targets: Sequence[int], component: frozenset[int]
) -> tuple[int, int]:
    """Return the candidate pair to route first: the nearest pair (by summed rank) with both
    ends in ``component``, else the two nearest."""
    pairs = sorted(
        (i + j, i, s, t)
        for i, s in enumerate(sources)
        for j, t in enumerate(targets)
        if s in component and t in component
    )
    if pairs:
        return pairs[0][2], pairs[0][3]
    return sources[0], targets[0]


def reachable_pair(
    *,
    session: Session,
    sources: Sequence[int],
    targets: Sequence[int],
    snapshot: CostSnapshot,
) -> tuple[int, int] | None:
    """Return the first (source, target) candidate pair with a path, by summed rank, or None."""
    rows = _fetch(
        session,
        "SELECT start_vid, end_vid FROM pgr_dijkstraCost(%(edges)s, "
        "%(s)s::bigint[], %(t)s::bigint[], directed => true)",
        {"edges": snapshot.edges_sql(), "s": list(sources), "t": list(targets)},
    )
    found = {(int(a), int(b)) for a, b in rows}
    pairs = [(i + j, i, s, t) for i, s in enumerate(sources) for j, t in enumerate(targets)]
    for _rank, _i, s, t in sorted(pairs):
        if s == t or (s, t) in found:
            return (s, t)
    return None


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


def mark_signal_plan_pushed(
    *, session: Session, plan_id: int, pushed_by: str | None = None
) -> SignalPlan:
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
    if pushed_by:
        # A new list, not an in-place append: JSONB columns do not track mutation.
        plan.notes = [
            *plan.notes,
            f"pushed by {pushed_by} at {plan.pushed_at:%Y-%m-%d %H:%M:%S} UTC",
        ]
    session.flush()
    return plan


def signalised_intersections(*, session: Session) -> list[Intersection]:
    """Return the signalised intersections, by id."""
    stmt = select(Intersection).where(Intersection.signalised.is_(True)).order_by(Intersection.id)
    return list(session.scalars(stmt))
