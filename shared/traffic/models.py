"""Traffic operations tables: road closures entered by operators and versioned signal plans."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base


class RoadClosure(Base):
    """A road segment closed to routing from ``starts_at`` until ``ends_at`` (open-ended: None)."""

    __tablename__ = "road_closure"
    __table_args__ = (
        CheckConstraint("ends_at IS NULL OR ends_at > starts_at", name="window"),
        Index("ix_road_closure_segment_window", "segment_id", "starts_at", "ends_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    segment_id: Mapped[int] = mapped_column(ForeignKey("road_segment.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(Text)
    # A staff username, like alert.acknowledged_by.
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]


class SignalPlanStatus(enum.StrEnum):
    """A plan is drafted, approved by an operator, then pushed to the controller."""

    draft = "draft"
    approved = "approved"
    pushed = "pushed"
    superseded = "superseded"
    rejected = "rejected"


_PLAN_STATUS_CHECK = "status IN ('draft', 'approved', 'pushed', 'superseded', 'rejected')"


class SignalPlan(Base):
    """One version of a fixed-time plan for a signalised intersection (or SUMO tls)."""

    __tablename__ = "signal_plan"
    __table_args__ = (
        CheckConstraint(_PLAN_STATUS_CHECK, name="status"),
        UniqueConstraint("intersection_id", "version", name="uq_signal_plan_intersection_version"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    intersection_id: Mapped[int] = mapped_column(
        ForeignKey("intersection.id", ondelete="CASCADE"), index=True
    )
    # The SUMO traffic-light id the twin applies the plan to (joined signals share one).
    tls_id: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default=SignalPlanStatus.draft.value)
    cycle_s: Mapped[float] = mapped_column(Float)
    lost_time_s: Mapped[float] = mapped_column(Float)
    # Flow-weighted Webster delay per vehicle (s); None when a phase is oversaturated.
    expected_delay_s: Mapped[float | None] = mapped_column(Float)
    # [{name, approaches: [segment ids], flow_vph, saturation_vph, flow_ratio, green_s,
    #   min_green_s, degree_of_saturation, delay_s}] in phase order.
    phases: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    # The measured flows the plan was computed from: window and design hour.
    basis: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    notes: Mapped[list[str]] = mapped_column(JSONB, default=list)
    author: Mapped[str] = mapped_column(String(64))
    approver: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    approved_at: Mapped[datetime | None]
    pushed_at: Mapped[datetime | None]
