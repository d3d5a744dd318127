"""District queries."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.districts.models import District
from shared.geo import SRID


def list_districts(*, session: Session) -> list[District]:
    """Return all districts ordered by code."""
    return list(session.scalars(select(District).order_by(District.code)))


def district_at(*, session: Session, lon: float, lat: float) -> District | None:
    """Return the district containing the WGS84 point, or None outside every district."""
    pt = func.ST_SetSRID(func.ST_MakePoint(lon, lat), SRID)
    return session.scalar(select(District).where(func.ST_Covers(District.geom, pt)).limit(1))
