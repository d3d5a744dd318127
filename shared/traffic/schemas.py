"""Input and output shapes for routing on live costs, congestion, closures and signal plans."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class NoRouteError(LookupError):
    """No path exists between two intersections on the graph as it is now (closures included)."""


class SignalStop(BaseModel):
    """A signalised intersection a route crosses: the approach it arrives on, and when."""

    intersection_id: int
    tls_id: str | None
    approach_segment_id: int
    eta_s: float  # seconds from departure until the stop line (with the route's delays)


class RouteOption(BaseModel):
    """One path with its live ETA (s), length (m), segments, geometry and signals.

    ``eta_s`` is what the unit is expected to take: the link times plus the junction, turn and
    start-up delays of `shared.traffic.eta`. Candidates come from the search on
    ``link_time_s``; options are ranked on ``eta_s``.
    """

    source_id: int
    target_id: int
    eta_s: float
    link_time_s: float  # sum of the segments' live (else free-flow) times: the search's cost
    junction_delay_s: float  # eta_s - link_time_s: junctions, turns, start-up
    free_flow_s: float  # the same path at free-flow speeds, for comparison
    length_m: float
    segment_ids: list[int]
    intersection_ids: list[int]
    # GeoJSON LineString in WGS84 (lon, lat).
    geometry: dict[str, Any]
    signals: list[SignalStop]
    # Segments of this path priced from a live detector speed rather than free-flow.
    live_segment_ids: list[int] = Field(default_factory=list)


class SegmentCongestion(BaseModel):
    """The congestion level of one detector-equipped segment, from its latest speed."""

    segment_id: int
    external_id: str
    name: str
    speed_kmh: float
    free_flow_kmh: float
    level: str  # FREE_FLOW, LIGHT, MODERATE, HEAVY or SEVERE (shared.traffic.derived)
    observed_at: datetime
    geometry: dict[str, Any]


class RoadClosureCreate(BaseModel):
    """An operator's closure of one road segment (and, by default, its opposite direction)."""

    model_config = ConfigDict(str_strip_whitespace=True)

    segment_id: int
    reason: str = Field(min_length=3, max_length=2000)
    created_by: str = Field(min_length=1, max_length=64)
    starts_at: datetime | None = None  # default: now
    ends_at: datetime | None = None  # default: until lifted
    both_directions: bool = True


class PhaseChange(BaseModel):
    """One phase's effective green before and after a plan change."""

    name: str
    approaches: list[int]
    old_green_s: float | None
    new_green_s: float | None
    old_split: float | None  # green / cycle
    new_split: float | None


class SignalPlanDiff(BaseModel):
    """What a proposed plan changes against the intersection's current plan."""

    plan_id: int
    intersection_id: int
    version: int
    current_plan_id: int | None
    current_version: int | None
    old_cycle_s: float | None
    new_cycle_s: float
    old_expected_delay_s: float | None  # the current plan's delay at the *new* flows
    new_expected_delay_s: float | None
    delay_change_s: float | None
    phases: list[PhaseChange]
    explanation: str
