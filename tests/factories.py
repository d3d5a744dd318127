"""Small factories for test rows; each returns a flushed ORM object with sensible defaults."""

from __future__ import annotations

import itertools
from typing import Any

from shapely.geometry import LineString, MultiPolygon, Point, box
from sqlalchemy.orm import Session

from shared.districts.models import District, Jurisdiction
from shared.geo import to_db
from shared.roads.models import Intersection, RoadSegment
from shared.sensing.models import Location, SensorType, Thing

_seq = itertools.count(1)


def make_jurisdiction(session: Session, **kw: Any) -> Jurisdiction:
    n = next(_seq)
    j = Jurisdiction(
        code=kw.pop("code", f"test-{n}"),
        name=kw.pop("name", f"Test city {n}"),
        country_code=kw.pop("country_code", "DE"),
        **kw,
    )
    session.add(j)
    session.flush()
    return j


def make_district(
    session: Session, *, bounds: tuple[float, float, float, float], **kw: Any
) -> District:
    n = next(_seq)
    jurisdiction = kw.pop("jurisdiction", None) or make_jurisdiction(session)
    d = District(
        jurisdiction_id=jurisdiction.id,
        code=kw.pop("code", f"d{n}"),
        name=kw.pop("name", f"District {n}"),
        geom=to_db(MultiPolygon([box(*bounds)])),
        **kw,
    )
    session.add(d)
    session.flush()
    return d


def make_thing(
    session: Session,
    *,
    lon: float,
    lat: float,
    sensor_type: SensorType = SensorType.air_quality,
    **kw: Any,
) -> Thing:
    n = next(_seq)
    loc = Location(name=f"site {n}", geom=to_db(Point(lon, lat)))
    t = Thing(
        code=kw.pop("code", f"T-{n:05d}"),
        name=kw.pop("name", f"Thing {n}"),
        sensor_type=sensor_type,
        locations=[loc],
        **kw,
    )
    session.add_all([loc, t])
    session.flush()
    return t


def make_intersection(session: Session, *, lon: float, lat: float, **kw: Any) -> Intersection:
    n = next(_seq)
    i = Intersection(external_id=kw.pop("external_id", f"test-node-{n}"),
                     geom=to_db(Point(lon, lat)), **kw)  # fmt: skip
    session.add(i)
    session.flush()
    return i


def make_segment(
    session: Session, *, source: Intersection, target: Intersection, **kw: Any
) -> RoadSegment:
    n = next(_seq)
    from shared.geo import lonlat

    line = LineString([lonlat(source.geom), lonlat(target.geom)])
    s = RoadSegment(
        external_id=kw.pop("external_id", f"test-edge-{n}"),
        source=source.id,
        target=target.id,
        length_m=kw.pop("length_m", 100.0),
        speed_limit_kmh=kw.pop("speed_limit_kmh", 36.0),
        geom=to_db(line),
        **kw,
    )
    session.add(s)
    session.flush()
    return s
