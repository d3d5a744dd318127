"""Spatial sensing queries: things inside a district, things near a point."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.districts.models import District
from shared.sensing.models import SensorType, Thing
from shared.sensing.service import things_in_district, things_near
from tests.factories import make_district, make_thing


def test_things_in_district_uses_the_boundary(db_session: Session) -> None:
    # A district far from the demo city, so only our factory rows can fall inside.
    d = make_district(db_session, bounds=(10.0, 50.0, 10.1, 50.1))
    inside = make_thing(db_session, lon=10.05, lat=50.05)
    on_edge = make_thing(db_session, lon=10.1, lat=50.05, sensor_type=SensorType.noise)
    make_thing(db_session, lon=10.2, lat=50.05)  # outside

    found = things_in_district(session=db_session, district_id=d.id)
    # ST_Covers: a station on the boundary line belongs to the district.
    assert {t.id for t in found} == {inside.id, on_edge.id}
    only_noise = things_in_district(
        session=db_session, district_id=d.id, sensor_type=SensorType.noise
    )
    assert [t.id for t in only_noise] == [on_edge.id]


def test_seeded_things_fall_in_the_district_they_are_assigned_to(db_session: Session) -> None:
    for district in db_session.scalars(select(District)):
        spatial = {t.id for t in things_in_district(session=db_session, district_id=district.id)}
        assigned = set(db_session.scalars(select(Thing.id).where(Thing.district_id == district.id)))
        assert assigned, district.code
        # Grid cells share edges, so a thing on a border may be covered by two districts.
        assert assigned <= spatial


def test_things_near_orders_by_distance_in_metres(db_session: Session) -> None:
    a = make_thing(db_session, lon=11.0, lat=48.0)
    b = make_thing(db_session, lon=11.001, lat=48.0)  # about 74.5 m east at 48°N
    make_thing(db_session, lon=11.02, lat=48.0)  # about 1.5 km: outside the radius
    found = things_near(session=db_session, lon=11.0, lat=48.0, radius_m=500)
    assert [t.id for t, _ in found] == [a.id, b.id]
    assert found[0][1] == 0.0
    assert 73.0 < found[1][1] < 76.0
