"""The demo city: the real Adlershof network, drawn districts and sensors on signal approaches."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from shared.districts.models import District
from shared.roads.models import Intersection, RoadSegment
from shared.seed.demo import adlershof_net_path, count_rows, seed_demo
from shared.sensing.models import Datastream, SensorType, Thing


def test_counts_match_the_network_file(db_session: Session) -> None:
    import sumolib

    net = sumolib.net.readNet(str(adlershof_net_path()), withInternal=False)
    road_edges = [
        e
        for e in net.getEdges()
        if any(e.allows(v) for v in ("passenger", "emergency", "bus", "delivery"))
    ]
    counts = count_rows(session=db_session)
    assert counts["road_segments"] == len(road_edges)
    endpoints = {e.getFromNode().getID() for e in road_edges} | {
        e.getToNode().getID() for e in road_edges
    }
    assert counts["intersections"] == len(endpoints)
    assert counts["districts"] == 6
    assert 10 <= counts["signalised_intersections"] <= len(net.getTrafficLights()) + 5


def test_geometry_is_in_adlershof_and_topology_matches(db_session: Session) -> None:
    # Adlershof lies at about 13.51-13.55 E, 52.42-52.44 N.
    minx, miny, maxx, maxy = db_session.execute(
        select(
            func.ST_XMin(func.ST_Extent(Intersection.geom)),
            func.ST_YMin(func.ST_Extent(Intersection.geom)),
            func.ST_XMax(func.ST_Extent(Intersection.geom)),
            func.ST_YMax(func.ST_Extent(Intersection.geom)),
        ).where(Intersection.external_id.not_like("test-%"))
    ).one()
    assert 13.49 < minx < maxx < 13.57 and 52.40 < miny < maxy < 52.46
    # Each segment starts at its source and ends at its target junction (within 60 m).
    far = db_session.scalar(
        select(func.count())
        .select_from(RoadSegment)
        .join(Intersection, Intersection.id == RoadSegment.source)
        .where(
            func.ST_Distance(
                func.Geography(func.ST_StartPoint(RoadSegment.geom)),
                func.Geography(Intersection.geom),
            )
            > 60
        )
    )
    assert far == 0
    lengths = db_session.execute(
        select(RoadSegment.length_m, func.ST_Length(func.Geography(RoadSegment.geom)))
    ).all()
    # SUMO lengths run along lanes; the shapes' geodesic lengths agree within a few percent.
    assert abs(sum(a for a, _ in lengths) / sum(b for _, b in lengths) - 1) < 0.05


def test_districts_are_labelled_as_drawn(db_session: Session) -> None:
    districts = db_session.scalars(select(District)).all()
    assert {d.code for d in districts} == {"nw", "n", "ne", "sw", "s", "se"}
    for d in districts:
        assert "(drawn)" in d.name and "not an official boundary" in d.provenance
    # The cells tile the area without overlapping (shared edges have zero area).
    other = aliased(District)
    overlap = db_session.scalar(
        select(
            func.coalesce(
                func.max(func.ST_Area(func.ST_Intersection(District.geom, other.geom))), 0
            )
        ).where(District.id < other.id)
    )
    assert overlap < 1e-12


def test_every_signalised_approach_has_a_detector_and_stations_exist(db_session: Session) -> None:
    signalised_ids = set(db_session.scalars(select(Intersection.id).where(Intersection.signalised)))
    detectors = db_session.scalars(
        select(Thing).where(Thing.sensor_type == SensorType.traffic)
    ).all()
    assert {t.properties["intersection_id"] for t in detectors} <= signalised_ids
    approaches = db_session.scalar(
        select(func.count()).select_from(RoadSegment).where(RoadSegment.target.in_(signalised_ids))
    )
    assert len(detectors) == approaches
    per_type = dict(
        db_session.execute(
            select(Thing.sensor_type, func.count()).group_by(Thing.sensor_type)
        ).all()
    )
    assert per_type[SensorType.air_quality] == 12
    assert per_type[SensorType.noise] == 12
    assert per_type[SensorType.weather] == 6
    assert (
        db_session.scalar(
            select(func.count()).select_from(Thing).where(Thing.district_id.is_(None))
        )
        == 0
    )
    # Every datastream has a unit and a physically valid range.
    bad = db_session.scalar(
        select(func.count())
        .select_from(Datastream)
        .where(
            (Datastream.unit_symbol == "")
            | Datastream.valid_min.is_(None)
            | Datastream.valid_max.is_(None)
        )
    )
    assert bad == 0


def test_seeding_twice_is_harmless(db_session: Session) -> None:
    before = count_rows(session=db_session)
    report = seed_demo(session=db_session)
    assert report.already_seeded and report.staff_credentials == [] and report.api_key == ""
    assert count_rows(session=db_session) == before
