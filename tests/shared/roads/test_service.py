"""Road network: nearest intersection (KNN) and pgRouting shortest paths on the demo city."""

from __future__ import annotations

import heapq

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from shared.geo import lonlat
from shared.roads.models import Intersection, RoadSegment
from shared.roads.service import nearest_intersection, shortest_path
from tests.factories import make_intersection, make_segment


def _dijkstra(edges: list[tuple[int, int, int, float]], source: int, target: int) -> float | None:
    """An independent Dijkstra over (id, source, target, cost) to check pgRouting against."""
    adj: dict[int, list[tuple[int, float]]] = {}
    for _id, s, t, c in edges:
        adj.setdefault(s, []).append((t, c))
    dist = {source: 0.0}
    heap = [(0.0, source)]
    while heap:
        d, u = heapq.heappop(heap)
        if u == target:
            return d
        if d > dist.get(u, float("inf")):
            continue
        for v, c in adj.get(u, []):
            nd = d + c
            if nd < dist.get(v, float("inf")):
                dist[v] = nd
                heapq.heappush(heap, (nd, v))
    return None


def test_nearest_intersection_on_factory_rows(db_session: Session) -> None:
    a = make_intersection(db_session, lon=9.0, lat=45.0)
    b = make_intersection(db_session, lon=9.01, lat=45.0, signalised=True)
    assert nearest_intersection(session=db_session, lon=9.002, lat=45.0).id == a.id
    assert nearest_intersection(session=db_session, lon=9.008, lat=45.0).id == b.id
    assert nearest_intersection(session=db_session, lon=9.0, lat=45.0, signalised=True).id == b.id


def test_nearest_intersection_in_the_demo_city(db_session: Session) -> None:
    some = db_session.scalars(select(Intersection).order_by(Intersection.id).limit(25)).all()
    for node in some:
        lon, lat = lonlat(node.geom)
        # A point 1 m north of a junction finds that junction.
        found = nearest_intersection(session=db_session, lon=lon, lat=lat + 0.000009)
        assert found is not None
        assert lonlat(found.geom) == (lon, lat) or found.id == node.id


def test_shortest_path_between_demo_intersections_matches_an_independent_dijkstra(
    db_session: Session,
) -> None:
    edges = [
        (s.id, s.source, s.target, s.cost_s)
        for s in db_session.scalars(select(RoadSegment).order_by(RoadSegment.id))
    ]
    # The signalised junctions farthest apart, so that routes cross the city.
    a, b = aliased(Intersection), aliased(Intersection)
    pairs = db_session.execute(
        select(a.id, b.id)
        .where(a.signalised, b.signalised, a.id != b.id)
        .order_by(func.ST_Distance(a.geom, b.geom).desc())
        .limit(4)
    ).all()
    checked = 0
    for source, target in pairs:
        expected = _dijkstra(edges, source, target)
        route = shortest_path(session=db_session, source_id=source, target_id=target)
        if expected is None:
            assert route is None
            continue
        assert route is not None
        assert abs(route.cost_s - expected) < 1e-6
        # The legs chain from source to target.
        by_id = {e[0]: e for e in edges}
        node = source
        for leg in route.legs:
            _id, s, t, _c = by_id[leg.segment_id]
            assert s == node
            node = t
        assert node == target
        assert route.intersection_ids[0] == source and route.intersection_ids[-1] == target
        assert route.length_m > 1000
        checked += 1
    assert checked >= 2


def test_shortest_path_respects_direction(db_session: Session) -> None:
    a = make_intersection(db_session, lon=8.0, lat=47.0)
    b = make_intersection(db_session, lon=8.001, lat=47.0)
    c = make_intersection(db_session, lon=8.002, lat=47.0)
    make_segment(db_session, source=a, target=b, length_m=100, speed_limit_kmh=36)  # 10 s
    make_segment(db_session, source=b, target=c, length_m=100, speed_limit_kmh=36)
    route = shortest_path(session=db_session, source_id=a.id, target_id=c.id)
    assert route is not None and abs(route.cost_s - 20.0) < 1e-9
    assert shortest_path(session=db_session, source_id=c.id, target_id=a.id) is None
