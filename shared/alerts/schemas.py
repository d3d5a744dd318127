"""Shapes for alert rules, alerts and the events fanned out to the console."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.alerts.models import AlertStatus, Direction, RuleKind, Severity
from shared.sensing.models import SensorType


class RuleCreate(BaseModel):
    """An alert rule as an admin writes it."""

    name: str = Field(min_length=1, max_length=200)
    kind: RuleKind
    sensor_type: SensorType
    metric: str = ""
    direction: Direction = Direction.above
    warning: float | None = None
    critical: float | None = None
    hysteresis: float = Field(default=0.0, ge=0)
    window_s: int | None = Field(default=None, gt=0)
    stale_after_s: int | None = Field(default=None, gt=0)
    district_ids: list[int] | None = None
    area_wkt: str | None = None  # a WGS84 (Multi)Polygon in WKT: the geofence

    @model_validator(mode="after")
    def _consistent(self) -> RuleCreate:
        if self.kind == RuleKind.stale:
            if not self.stale_after_s:
                raise ValueError("a stale rule needs stale_after_s")
            return self
        if not self.metric:
            raise ValueError(f"a {self.kind} rule needs a metric")
        if self.warning is None and self.critical is None:
            raise ValueError("give a warning level, a critical level or both")
        if self.kind == RuleKind.sustained and not self.window_s:
            raise ValueError("a sustained rule needs window_s")
        if self.warning is not None and self.critical is not None:
            worse = self.critical >= self.warning
            if worse != (self.direction == Direction.above):
                raise ValueError("critical must be beyond warning in the rule's direction")
        return self


class AlertRead(BaseModel):
    """An alert as the console and the MQTT alert topic carry it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    rule_id: int
    rule_name: str
    thing_id: int
    thing_code: str
    datastream_id: int | None
    district_id: int | None
    district_code: str
    sensor_type: SensorType
    metric: str
    severity: Severity
    status: AlertStatus
    value: float | None
    message: str
    opened_at: datetime
    updated_at: datetime
    lon: float
    lat: float
    assigned_to: str | None = None
    assigned_at: datetime | None = None


class AlertChange(BaseModel):
    """An alert that opened, escalated or resolved, ready to fan out."""

    event: str  # "alert.raised" for a new alert, "alert.updated" otherwise
    action: str  # opened, escalated, resolved, acknowledged, assigned
    alert: AlertRead
