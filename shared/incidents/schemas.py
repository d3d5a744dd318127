"""Input and output shapes for incidents, units, unit routes and pre-emption plans."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.incidents.models import UnitKind
from shared.traffic.schemas import RouteOption


class IncidentCreate(BaseModel):
    """A new incident at a WGS84 point."""

    model_config = ConfigDict(str_strip_whitespace=True)

    type: str = Field(min_length=2, max_length=64)
    priority: int = Field(ge=1, le=5, description="1 is the most urgent")
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    description: str = Field(default="", max_length=4000)
    created_by: str = Field(default="", max_length=64)


class UnitCreate(BaseModel):
    """A new unit, placed at its station (or at an explicit point)."""

    code: str = Field(min_length=1, max_length=32)
    kind: UnitKind
    station_code: str | None = None
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)


class UnitRoute(BaseModel):
    """A unit's routes to an incident: the lowest ETA first, then alternatives by ETA."""

    unit_id: int
    incident_id: int
    source_intersection_id: int  # where the unit joins the road graph
    target_intersection_id: int  # where the incident is reached on the road graph
    as_of: datetime
    best: RouteOption
    alternatives: list[RouteOption]
    closed_segment_ids: list[int]


class PreemptionParameters(BaseModel):
    """The timing parameters of `shared.traffic.preemption.plan_preemption` (seconds)."""

    clearance_s: float = Field(default=5.0, ge=0)
    queue_flush_s: float = Field(default=8.0, ge=0)
    hold_s: float = Field(default=6.0, ge=0)
    eta_uncertainty: float = Field(default=0.15, ge=0, lt=1)


class StepReport(BaseModel):
    """Planned against actual at one signalised intersection of a completed run."""

    seq: int
    intersection_id: int
    approach_segment_id: int
    planned_eta_s: float
    actual_arrival_s: float | None
    deviation_s: float | None  # actual - planned (positive: late)
    green_from_s: float
    green_until_s: float
    arrived_in_green: bool | None  # within [green_from, green_until]
    no_preemption_delay_s: float  # expected red wait at this signal without pre-emption


class AfterActionReport(BaseModel):
    """How a pre-empted run went, and the delay the pre-emption saved (an estimate)."""

    plan_id: int
    status: str
    planned_eta_s: float
    actual_travel_s: float | None  # arrival at the last recorded stop
    steps: list[StepReport]
    stops_in_green: int
    stops_recorded: int
    # Planned run time plus the expected red wait at every signal, to the last recorded stop.
    estimated_without_preemption_s: float | None
    delay_saved_s: float | None
    method: str
