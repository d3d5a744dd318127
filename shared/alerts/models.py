"""Alert rules (editable by admins), alerts and their audit events."""

from __future__ import annotations

import enum
from datetime import datetime

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    BigInteger,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.db import Base
from shared.sensing.models import SensorType, sensor_type_enum


class RuleKind(enum.StrEnum):
    """How a rule looks at readings."""

    threshold = "threshold"  # latest value against warning/critical levels
    sustained = "sustained"  # mean over window_s against the levels (e.g. PM2.5 24-h mean)
    rate_of_change = "rate_of_change"  # |change| per minute against the levels
    stale = "stale"  # no reading for stale_after_s


class Direction(enum.StrEnum):
    """Whether high or low values are bad (speed: low is congestion)."""

    above = "above"
    below = "below"


class Severity(enum.StrEnum):
    """Alert severity, in escalation order."""

    warning = "warning"
    critical = "critical"


class AlertStatus(enum.StrEnum):
    """Alert lifecycle: open -> acknowledged -> resolved."""

    open = "open"
    acknowledged = "acknowledged"
    resolved = "resolved"


class AlertRule(Base):
    """A rule for one metric of one sensor type, optionally scoped to districts or a polygon."""

    __tablename__ = "alert_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[RuleKind] = mapped_column(Enum(RuleKind, name="alert_rule_kind"))
    sensor_type: Mapped[SensorType] = mapped_column(sensor_type_enum)
    # ObservedProperty code; empty for stale rules, which look at the whole sensor.
    metric: Mapped[str] = mapped_column(String(64), default="")
    direction: Mapped[Direction] = mapped_column(
        Enum(Direction, name="alert_direction"), default=Direction.above
    )
    # Levels in the datastream's unit (rate_of_change: unit per minute).
    warning: Mapped[float | None] = mapped_column(Float)
    critical: Mapped[float | None] = mapped_column(Float)
    # An alert resolves only once the value is this far on the good side of `warning`.
    hysteresis: Mapped[float] = mapped_column(Float, default=0.0)
    window_s: Mapped[int | None] = mapped_column(Integer)
    stale_after_s: Mapped[int | None] = mapped_column(Integer)
    # Geofence: empty/None means the whole city.
    district_ids: Mapped[list[int] | None] = mapped_column(ARRAY(Integer))
    area: Mapped[WKBElement | None] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=False)
    )
    enabled: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_by: Mapped[str] = mapped_column(String(64), default="system")


class Alert(Base):
    """One alert per rule and sensor at a time; it escalates, and resolves when values clear."""

    __tablename__ = "alert"
    __table_args__ = (
        # Deduplication: at most one unresolved alert per rule and sensor.
        Index(
            "uq_alert_active_rule_thing",
            "rule_id",
            "thing_id",
            unique=True,
            postgresql_where=text("status <> 'resolved'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("alert_rule.id", ondelete="CASCADE"))
    thing_id: Mapped[int] = mapped_column(ForeignKey("thing.id", ondelete="CASCADE"), index=True)
    datastream_id: Mapped[int | None] = mapped_column(
        ForeignKey("datastream.id", ondelete="SET NULL")
    )
    district_id: Mapped[int | None] = mapped_column(ForeignKey("district.id", ondelete="SET NULL"))
    severity: Mapped[Severity] = mapped_column(Enum(Severity, name="alert_severity"))
    status: Mapped[AlertStatus] = mapped_column(
        Enum(AlertStatus, name="alert_status"), default=AlertStatus.open, index=True
    )
    value: Mapped[float | None] = mapped_column(Float)
    message: Mapped[str] = mapped_column(Text, default="")
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolve_reason: Mapped[str | None] = mapped_column(Text)
    # Who is handling it: a staff username (plain string, like acknowledged_by), and since when.
    assigned_to: Mapped[str | None] = mapped_column(String(64))
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    rule: Mapped[AlertRule] = relationship()
    events: Mapped[list[AlertEvent]] = relationship(
        back_populates="alert", order_by="AlertEvent.id"
    )


class AlertEvent(Base):
    """The audit trail: every change of an alert, who made it and when."""

    __tablename__ = "alert_event"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alert.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(64))  # a staff username, or "system"
    # opened, escalated, acknowledged, assigned, resolved
    action: Mapped[str] = mapped_column(String(32))
    severity: Mapped[Severity] = mapped_column(Enum(Severity, name="alert_severity"))
    status: Mapped[AlertStatus] = mapped_column(Enum(AlertStatus, name="alert_status"))
    value: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str] = mapped_column(Text, default="")

    alert: Mapped[Alert] = relationship(back_populates="events")
