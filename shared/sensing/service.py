"""Sensing queries and changes: things, datastreams and observation partitions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from shared.districts.models import District
from shared.geo import SRID
from shared.sensing.models import Location, SensorType, Thing, thing_location


def ensure_observation_partitions(*, session: Session, first_day: date, last_day: date) -> int:
    """Create the missing daily observation partitions in [first_day, last_day]; return how many."""
    created = session.scalar(
        text("SELECT smartcity_ensure_observation_partitions(:first, :last)"),
        {"first": first_day, "last": last_day},
    )
    return int(created or 0)


def ensure_partitions_around_now(
    *, session: Session, ahead_days: int, back_days: int = 1, now: datetime | None = None
) -> int:
    """Create partitions from `back_days` ago to `ahead_days` ahead (UTC days); return how many."""
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    return ensure_observation_partitions(
        session=session,
        first_day=today - timedelta(days=back_days),
        last_day=today + timedelta(days=ahead_days),
    )


def list_observation_partitions(*, session: Session) -> list[str]:
    """Return the names of the observation partitions, oldest first."""
    rows = session.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'observation'::regclass ORDER BY c.relname"
        )
    )
    return [r[0] for r in rows]


def things_in_district(
    *, session: Session, district_id: int, sensor_type: SensorType | None = None
) -> list[Thing]:
    """Return the things whose location lies inside the district's boundary (spatial test)."""
    stmt = (
        select(Thing)
        .join(thing_location, thing_location.c.thing_id == Thing.id)
        .join(Location, Location.id == thing_location.c.location_id)
        .join(District, func.ST_Covers(District.geom, Location.geom))
        .where(District.id == district_id)
        .order_by(Thing.code)
    )
    if sensor_type is not None:
        stmt = stmt.where(Thing.sensor_type == sensor_type)
    return list(session.scalars(stmt).unique())


def things_near(
    *, session: Session, lon: float, lat: float, radius_m: float
) -> list[tuple[Thing, float]]:
    """Return (thing, distance in metres) within radius_m of a WGS84 point, nearest first."""
    # Geography casts give metres on the spheroid, not degrees.
    pt = func.ST_SetSRID(func.ST_MakePoint(lon, lat), SRID)
    dist = func.ST_Distance(func.Geography(Location.geom), func.Geography(pt))
    stmt = (
        select(Thing, dist.label("d"))
        .join(thing_location, thing_location.c.thing_id == Thing.id)
        .join(Location, Location.id == thing_location.c.location_id)
        .where(func.ST_DWithin(func.Geography(Location.geom), func.Geography(pt), radius_m))
        .order_by(dist)
    )
    return [(row[0], float(row[1])) for row in session.execute(stmt)]
