"""Jurisdiction and district tables. Geometry is WGS84 (SRID 4326)."""

from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import ForeignKey, Index, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.db import Base


class Jurisdiction(Base):
    """The authority that runs the platform (a city council)."""

    __tablename__ = "jurisdiction"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    country_code: Mapped[str] = mapped_column(String(2))
    # IANA zone: daily roll-ups and reports cut days at local midnight.
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    districts: Mapped[list[District]] = relationship(back_populates="jurisdiction")


class District(Base):
    """An administrative area of the jurisdiction; alerts and subscriptions are scoped by it."""

    __tablename__ = "district"
    __table_args__ = (Index("ix_district_geom", "geom", postgresql_using="gist"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    jurisdiction_id: Mapped[int] = mapped_column(ForeignKey("jurisdiction.id", ondelete="CASCADE"))
    # Short slug used in MQTT topics: city/<district code>/<sensor_type>/<sensor_id>.
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Where the boundary comes from, e.g. "drawn for the demo, not official".
    provenance: Mapped[str] = mapped_column(Text, default="")
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=False)
    )

    jurisdiction: Mapped[Jurisdiction] = relationship(back_populates="districts")
