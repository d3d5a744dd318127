"""Incidents, emergency units and their stations, and signal pre-emption plans for a run."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.db import Base


class UnitKind(enum.StrEnum):
    """What an emergency unit is."""

    ambulance = "ambulance"
    fire = "fire"
    police = "police"


class UnitStatus(enum.StrEnum):
    """Where a unit is in its duty cycle."""

    available = "available"
    dispatched = "dispatched"
    on_scene = "on_scene"
    out_of_service = "out_of_service"


class IncidentStatus(enum.StrEnum):
    """An incident's lifecycle."""

    open = "open"
    dispatched = "dispatched"
    on_scene = "on_scene"
    closed = "closed"


class PlanStatus(enum.StrEnum):
    """A pre-emption plan: proposed -> approved -> active -> completed, or aborted."""

    proposed = "proposed"
    approved = "approved"
    active = "active"
    completed = "completed"
    aborted = "aborted"


# Short strings with CHECKs, not PostgreSQL enum types (as in service_request).
_KIND_CHECK = "kind IN ('ambulance', 'fire', 'police')"
_UNIT_STATUS_CHECK = "status IN ('available', 'dispatched', 'on_scene', 'out_of_service')"
_INCIDENT_STATUS_CHECK = "status IN ('open', 'dispatched', 'on_scene', 'closed')"
_PLAN_STATUS_CHECK = "status IN ('proposed', 'approved', 'active', 'completed', 'aborted')"


class Station(Base):
    """A base where units are kept (ambulance, fire or police station)."""

    __tablename__ = "station"
    __table_args__ = (Index("ix_station_geom", "geom", postgresql_using="gist"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    geom: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))


class Unit(Base):
    """An emergency vehicle with a home station, a status and its last known position."""

    __tablename__ = "unit"
    __table_args__ = (
        CheckConstraint(_KIND_CHECK, name="kind"),
        CheckConstraint(_UNIT_STATUS_CHECK, name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Call sign, e.g. "RTW-1"; stable across re-seeding.
    code: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=UnitStatus.available.value)
    station_id: Mapped[int | None] = mapped_column(
        ForeignKey("station.id", ondelete="SET NULL"), index=True
    )
    position: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))
    position_at: Mapped[datetime | None]

    station: Mapped[Station | None] = relationship()


class Incident(Base):
    """Something that needs a unit: a fire, a medical call, a crash."""

    __tablename__ = "incident"
    __table_args__ = (
        CheckConstraint(_INCIDENT_STATUS_CHECK, name="status"),
        CheckConstraint("priority BETWEEN 1 AND 5", name="priority"),
        Index("ix_incident_geom", "geom", postgresql_using="gist"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Free text like "fire", "medical", "crash", "hazard": the call taker's category.
    type: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    # 1 is the most urgent (life-threatening), 5 the least.
    priority: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=IncidentStatus.open.value, index=True)
    geom: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


class PreemptionPlan(Base):
    """The green windows for one unit's run to one incident, along one route."""

    __tablename__ = "preemption_plan"
    __table_args__ = (CheckConstraint(_PLAN_STATUS_CHECK, name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incident.id", ondelete="CASCADE"), index=True
    )
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=PlanStatus.proposed.value)
    # Route ETA in seconds from dispatch, and its length in metres.
    eta_s: Mapped[float] = mapped_column(Float)
    length_m: Mapped[float] = mapped_column(Float)
    segment_ids: Mapped[list[int]] = mapped_column(JSONB)
    # clearance_s, queue_flush_s, hold_s, eta_uncertainty used by plan_preemption.
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    approved_by: Mapped[str | None] = mapped_column(String(64))
    approved_at: Mapped[datetime | None]
    # Dispatch time: the windows' zero.
    activated_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    aborted_by: Mapped[str | None] = mapped_column(String(64))
    aborted_at: Mapped[datetime | None]
    abort_reason: Mapped[str | None] = mapped_column(Text)

    steps: Mapped[list[PreemptionStep]] = relationship(
        back_populates="plan", order_by="PreemptionStep.seq", cascade="all, delete-orphan"
    )


class PreemptionStep(Base):
    """One signalised intersection of a plan: which approach turns green, and when."""

    __tablename__ = "preemption_step"
    __table_args__ = (
        CheckConstraint("green_until_s >= green_from_s", name="window"),
        Index("ix_preemption_step_plan_seq", "plan_id", "seq", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("preemption_plan.id", ondelete="CASCADE"))
    seq: Mapped[int]
    intersection_id: Mapped[int] = mapped_column(ForeignKey("intersection.id", ondelete="CASCADE"))
    tls_id: Mapped[str | None] = mapped_column(Text)
    approach_segment_id: Mapped[int] = mapped_column(
        ForeignKey("road_segment.id", ondelete="CASCADE")
    )
    # Seconds from dispatch (plan.activated_at).
    eta_s: Mapped[float] = mapped_column(Float)
    green_from_s: Mapped[float] = mapped_column(Float)
    green_until_s: Mapped[float] = mapped_column(Float)
    # Recorded by the after-action report.
    actual_arrival_s: Mapped[float | None] = mapped_column(Float)

    plan: Mapped[PreemptionPlan] = relationship(back_populates="steps")
