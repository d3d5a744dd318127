"""Road graph tables. Segments are directed edges; pgRouting uses id/source/target/cost_s."""

from __future__ import annotations

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import Computed, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base


class Intersection(Base):
    """A graph vertex: a junction of the road network, flagged if it has traffic signals."""

    __tablename__ = "intersection"
    __table_args__ = (Index("ix_intersection_geom", "geom", postgresql_using="gist"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The source network's node id (SUMO junction id), so re-imports and the twin can match.
    external_id: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    signalised: Mapped[bool] = mapped_column(default=False, index=True)
    # SUMO traffic-light id controlling this junction (joined signals share one id).
    tls_id: Mapped[str | None] = mapped_column(Text)
    node_type: Mapped[str] = mapped_column(String(64), default="")
    geom: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))


class RoadSegment(Base):
    """A directed road edge from `source` to `target`; a two-way street is two rows."""

    __tablename__ = "road_segment"
    __table_args__ = (Index("ix_road_segment_geom", "geom", postgresql_using="gist"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    road_class: Mapped[str] = mapped_column(String(64), default="")
    source: Mapped[int] = mapped_column(ForeignKey("intersection.id"), index=True)
    target: Mapped[int] = mapped_column(ForeignKey("intersection.id"), index=True)
    # Metres along the lane centre line, as the source network measures it.
    length_m: Mapped[float] = mapped_column(Float)
    speed_limit_kmh: Mapped[float] = mapped_column(Float)
    lanes: Mapped[int] = mapped_column(Integer, default=1)
    # Free-flow travel time in seconds: pgRouting's default cost; live costs override it.
    cost_s: Mapped[float] = mapped_column(
        Float, Computed("length_m / GREATEST(speed_limit_kmh, 1) * 3.6", persisted=True)
    )
    geom: Mapped[WKBElement] = mapped_column(Geometry("LINESTRING", srid=4326, spatial_index=False))
