"""Geometry helpers shared by every domain. All stored geometry is WGS84 (EPSG:4326)."""

from __future__ import annotations

from typing import Any

from geoalchemy2.elements import WKBElement, WKTElement
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

# Stored geometry is lon/lat on WGS84; distances are computed on geography (metres).
SRID = 4326


def to_db(geom: BaseGeometry) -> WKBElement:
    """Return a shapely geometry as a GeoAlchemy2 element with SRID 4326."""
    return from_shape(geom, srid=SRID)


def from_db(element: WKBElement | WKTElement) -> BaseGeometry:
    """Return a stored geometry as a shapely geometry."""
    return to_shape(element)


def point(lon: float, lat: float) -> WKBElement:
    """Return a WGS84 point (x = longitude, y = latitude)."""
    return to_db(Point(lon, lat))


def lonlat(element: Any) -> tuple[float, float]:
    """Return (lon, lat) of a stored point."""
    p = to_shape(element)
    return (p.x, p.y)
