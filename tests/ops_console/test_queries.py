"""The console's read queries against the seeded demo city."""

from __future__ import annotations

from datetime import UTC, datetime

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
    assert all(k.open_requests is None for k in kpis)


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
