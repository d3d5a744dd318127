"""The console's read queries against the seeded demo city."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from sqlalchemy import text
from sqlalchemy.orm import Session

from ops_console import queries


def test_every_seeded_sensor_is_on_the_map(db_session: Session) -> None:
    points = queries.list_sensor_points(session=db_session)
    assert len(points) >= 60
    assert {p.status for p in points} <= set(queries.SENSOR_STATUSES)
    assert all(52.3 < p.lat < 52.5 and 13.4 < p.lon < 13.7 for p in points)


def test_a_fresh_reading_makes_a_sensor_ok(db_session: Session) -> None:
    db_session.execute(
        text(
            "INSERT INTO datastream_latest (datastream_id, phenomenon_time, result, updated_at) "
            "SELECT d.id, now(), 40, now() FROM datastream d JOIN thing t ON t.id = d.thing_id "
            "WHERE t.code = 'WX-01' ON CONFLICT (datastream_id) DO UPDATE SET "
            "updated_at = now()"
        )
    )
    wx = next(p for p in queries.list_sensor_points(session=db_session) if p.code == "WX-01")
    assert wx.status == "ok" and wx.latest


def test_districts_carry_kpis_and_geometry(db_session: Session) -> None:
    feats = queries.list_district_features(session=db_session)
    assert len(feats) == 6
    assert all(f["geometry"]["type"] == "MultiPolygon" for f in feats)
    kpis = queries.list_district_kpis(session=db_session, now=datetime.now(UTC))
    assert all(isinstance(k.open_requests, int) for k in kpis)
    assert {f["properties"]["code"]: f["properties"]["open_requests"] for f in feats} == {
        k.code: k.open_requests for k in kpis
    }


def _request(session: Session, district: str, status: str, *, outside: bool = False) -> None:
    """File a citizen request at a point inside a district (or just beyond the city's edge)."""
    where = (
        "ST_SetSRID(ST_MakePoint(14.55, 52.43), 4326)"
        if outside
        else "(SELECT ST_PointOnSurface(geom) FROM district WHERE code = :district)"
    )
    session.execute(
        text(
            "INSERT INTO service_request (token, service_id, status, status_notes, description,"
            " geom, attributes, contact) SELECT :token, (SELECT min(id) FROM service), :status,"
            f" '', 'test', {where}, '{{}}', '{{}}'"
        ),
        {"token": str(uuid4()), "status": status, "district": district},
    )


def test_open_citizen_requests_are_counted_per_district_by_location(db_session: Session) -> None:
    before = {k.code: k.open_requests for k in queries.list_district_kpis(session=db_session)}
    for status in ("open", "acknowledged", "in_progress", "closed", "closed"):
        _request(db_session, "nw", status)
    _request(db_session, "se", "open")
    _request(db_session, "se", "closed")
    _request(db_session, "nw", "open", outside=True)  # a degree east: no district
    # The district a request was filed under does not count, only where its point lies.
    db_session.execute(
        text(
            "UPDATE service_request SET district_id = (SELECT id FROM district WHERE code = 'n')"
            " WHERE description = 'test'"
        )
    )
    after = {k.code: k.open_requests for k in queries.list_district_kpis(session=db_session)}
    assert {c: after[c] - (before[c] or 0) for c in after} == {
        "nw": 3, "n": 0, "ne": 0, "sw": 0, "s": 0, "se": 1,
    }  # fmt: skip
    feats = {f["properties"]["code"]: f for f in queries.list_district_features(session=db_session)}
    assert feats["nw"]["properties"]["open_requests"] == after["nw"]


def test_active_staff_and_alert_assignees(db_session: Session) -> None:
    staff = dict(queries.list_active_staff(session=db_session))
    assert {"viewer", "operator", "dispatcher", "admin"} <= set(staff)
    db_session.execute(text("UPDATE staff_user SET is_active = false WHERE username = 'viewer'"))
    assert "viewer" not in dict(queries.list_active_staff(session=db_session))
    assert queries.list_alert_assignees(session=db_session, alert_ids=[]) == {}


def test_roads_have_a_congestion_level(db_session: Session) -> None:
    roads = queries.list_road_features(session=db_session)
    assert len(roads) > 100
    assert {r["properties"]["congestion"] for r in roads} <= {
        "FREE_FLOW", "LIGHT", "MODERATE", "HEAVY", "SEVERE", "UNKNOWN",
    }  # fmt: skip


def test_city_bounds_enclose_the_sensors(db_session: Session) -> None:
    bounds = queries.get_city_bounds(session=db_session)
    assert bounds is not None
    (s, w), (n, e) = bounds
    for p in queries.list_sensor_points(session=db_session):
        assert s <= p.lat <= n and w <= p.lon <= e


def test_a_sensor_without_a_place_in_the_city_stays_off_the_map(db_session: Session) -> None:
    db_session.execute(
        text("UPDATE thing SET properties = properties || '{\"geo\": false}' WHERE code = 'WX-01'")
    )
    codes = {p.code for p in queries.list_sensor_points(session=db_session)}
    assert "WX-01" not in codes and "AQ-01" in codes
