"""Road-network queries: nearest intersection and pgRouting shortest paths."""

from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from shared.geo import SRID
from shared.roads.models import Intersection
from shared.roads.schemas import Route, RouteLeg

# Directed graph: every segment is one direction, so reverse_cost is not given.
_EDGES_SQL = "SELECT id, source, target, cost_s AS cost FROM road_segment"


def nearest_intersection(
    *, session: Session, lon: float, lat: float, signalised: bool | None = None
) -> Intersection | None:
    """Return the intersection nearest to a WGS84 point (KNN on the GiST index)."""
    pt = func.ST_SetSRID(func.ST_MakePoint(lon, lat), SRID)
    stmt = select(Intersection).order_by(Intersection.geom.op("<->")(pt)).limit(1)
    if signalised is not None:
        stmt = stmt.where(Intersection.signalised.is_(signalised))
    return session.scalar(stmt)


def shortest_path(*, session: Session, source_id: int, target_id: int) -> Route | None:
    """Return the free-flow fastest route between two intersections, or None if unreachable."""
    rows = session.execute(
        text(
            "SELECT p.seq, p.node, p.edge, s.name, s.length_m, s.cost_s "
            "FROM pgr_dijkstra(:edges, :source, :target, directed => true) AS p "
            "LEFT JOIN road_segment s ON s.id = p.edge ORDER BY p.seq"
        ),
        {"edges": _EDGES_SQL, "source": source_id, "target": target_id},
    ).all()
    if not rows:
        return None
    legs = [
        RouteLeg(segment_id=r.edge, name=r.name or "", length_m=r.length_m, cost_s=r.cost_s)
        for r in rows
        if r.edge != -1
    ]
    return Route(
        source_id=source_id,
        target_id=target_id,
        legs=legs,
        intersection_ids=[r.node for r in rows],
    )
