"""Congestion per segment from the detectors' latest speeds, for the console map."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from shared.traffic.service import congestion_geojson, cost_snapshot, segment_congestion
from tests.shared.traffic.detectors import detectors, set_latest


@pytest.fixture(autouse=True)
def _no_live_speeds(db_session: Session) -> None:
    """Start from a city with no detector readings: earlier tests in the run (integration,
    twin, simulator) commit real ones. Deleted inside the test's savepoint, so rolled back."""
    db_session.execute(text("DELETE FROM datastream_latest"))


def test_levels_from_latest_speeds_and_stale_readings_ignored(db_session: Session) -> None:
    dets = detectors(db_session)[:6]
    speeds = [50.0, 35.0, 20.0, 8.0, 2.0]
    expected = ["FREE_FLOW", "LIGHT", "MODERATE", "HEAVY", "SEVERE"]
    for det, speed in zip(dets, speeds, strict=False):
        set_latest(db_session, det.speed_ds, speed)
    set_latest(db_session, dets[5].speed_ds, 3.0, at=datetime.now(UTC) - timedelta(hours=1))

    found = {c.segment_id: c for c in segment_congestion(session=db_session)}
    assert set(found) == {d.segment_id for d in dets[:5]}
    for det, speed, level in zip(dets, speeds, expected, strict=False):
        assert found[det.segment_id].level == level
        assert found[det.segment_id].speed_kmh == speed
        assert found[det.segment_id].geometry["type"] == "LineString"

    fc = congestion_geojson(session=db_session)
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 5
    assert {f["properties"]["level"] for f in fc["features"]} == set(expected)

    # The routing snapshot prices the same segments; 2 km/h is floored at 5 km/h.
    snap = cost_snapshot(session=db_session)
    assert set(snap.live) == set(found)
    slow = snap.live[dets[4].segment_id]
    assert slow.speed_kmh == 2.0 and slow.cost_s > 0


def test_no_readings_no_congestion(db_session: Session) -> None:
    assert segment_congestion(session=db_session) == []
    assert congestion_geojson(session=db_session)["features"] == []
