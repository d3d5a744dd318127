"""Test helpers: the seeded detectors' segments and datastreams, and readings written to them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Detector:
    """A seeded traffic detector and the road segment (approach) it measures."""

    code: str
    segment_id: int
    intersection_id: int
    speed_ds: int
    count_ds: int


def detectors(session: Session) -> list[Detector]:
    """Return the seeded detectors with their segment and datastream ids, by code."""
    rows = session.execute(
        text(
            "SELECT t.code, rs.id, rs.target, "
            "max(d.id) FILTER (WHERE op.code = 'speed'), "
            "max(d.id) FILTER (WHERE op.code = 'vehicle_count') "
            "FROM thing t JOIN road_segment rs ON rs.external_id = t.properties->>'edge_id' "
            "JOIN datastream d ON d.thing_id = t.id "
            "JOIN observed_property op ON op.id = d.observed_property_id "
            "WHERE t.sensor_type = 'traffic' GROUP BY t.code, rs.id, rs.target ORDER BY t.code"
        )
    ).all()
    return [Detector(r[0], int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows]


def set_latest(
    session: Session, datastream_id: int, value: float, at: datetime | None = None
) -> None:
    """Write a datastream's latest reading, as the ingest worker does."""
    when = at or datetime.now(UTC)
    session.execute(
        text(
            "INSERT INTO datastream_latest (datastream_id, phenomenon_time, result, updated_at) "
            "VALUES (:d, :t, :v, :t) ON CONFLICT (datastream_id) DO UPDATE SET "
            "phenomenon_time = EXCLUDED.phenomenon_time, result = EXCLUDED.result, "
            "updated_at = EXCLUDED.updated_at"
        ),
        {"d": datastream_id, "t": when, "v": value},
    )
