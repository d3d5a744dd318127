"""Incidents and units, routing a unit to an incident, and stored pre-emption plans.

After-action estimate (``report_after_action``): a vehicle that reaches a fixed-time signal at
a random moment of its cycle meets red with probability r/C and then waits r/2 on average, so
its expected wait is r²/(2C) (Webster's uniform-delay term for a single vehicle with no queue),
with C the cycle and r = C - g the red time of the approach. C and g come from the
intersection's current signal plan (the phase serving the approach); without one we assume
C = 90 s and g = 0.45 C, the same fixed-time assumption the demo simulator makes (13.6 s).
Without pre-emption the run would take its planned ETA (link times plus the junction and turn
delays of `shared.traffic.eta`, which pre-emption does not remove) plus those waits; the delay
saved is that estimate minus the actual arrival time at the last recorded stop.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.geo import point
from shared.incidents.models import (
    Incident,
    IncidentStatus,
    PlanStatus,
    PreemptionPlan,
    PreemptionStep,
    Station,
    Unit,
    UnitStatus,
)
from shared.incidents.schemas import (
    AfterActionReport,
    IncidentCreate,
    PreemptionParameters,
    StepReport,
    UnitCreate,
    UnitRoute,
)
from shared.traffic.preemption import PreemptionStop, plan_preemption
from shared.traffic.schemas import NoRouteError, RouteOption
from shared.traffic.service import (
    cost_snapshot,
    current_signal_plan,
    main_component,
    preferred_pair,
    reachable_pair,
    route_between,
)

# How many nearby intersections to try when the nearest one is cut off (one-way dead ends).
SNAP_CANDIDATES = 5
DEFAULT_CYCLE_S = 90.0
DEFAULT_GREEN_RATIO = 0.45
# A unit's code, status and position and an incident's status and position, by id (NULLs for
# an unknown id).
_ENDS_SQL = (
    "SELECT u.code, u.status, ST_X(u.position), ST_Y(u.position), i.status, ST_X(i.geom), "
    "ST_Y(i.geom) FROM (SELECT 1) AS one LEFT JOIN unit u ON u.id = %(u)s "
    "LEFT JOIN incident i ON i.id = %(i)s"
)


# ---------------------------------------------------------------------------------------------
# incidents and units


def create_incident(*, session: Session, data: IncidentCreate) -> Incident:
    """Record a new open incident."""
    incident = Incident(
        type=data.type,
        description=data.description,
        priority=data.priority,
        status=IncidentStatus.open.value,
        geom=point(data.lon, data.lat),
        created_by=data.created_by,
        created_at=datetime.now(UTC),
    )
    session.add(incident)
    session.flush()
    return incident


def close_incident(*, session: Session, incident_id: int) -> Incident:
    """Close an incident and free the units whose plans served it."""
    incident = get_incident(session=session, incident_id=incident_id)
    if incident.status == IncidentStatus.closed.value:
        raise ValueError(f"incident {incident_id} is already closed")
    incident.status = IncidentStatus.closed.value
    incident.closed_at = datetime.now(UTC)
    unit_ids = session.scalars(
        select(PreemptionPlan.unit_id).where(PreemptionPlan.incident_id == incident_id)
    ).all()
    for unit in session.scalars(select(Unit).where(Unit.id.in_(unit_ids))):
        if unit.status in (UnitStatus.dispatched.value, UnitStatus.on_scene.value):
            unit.status = UnitStatus.available.value
    session.flush()
    return incident


def get_incident(*, session: Session, incident_id: int) -> Incident:
    """Return an incident or raise LookupError."""
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise LookupError(f"no incident {incident_id}")
    return incident


def list_incidents(*, session: Session, open_only: bool = True) -> list[Incident]:
    """Return incidents, most urgent and newest first."""
    stmt = select(Incident).order_by(Incident.priority, Incident.created_at.desc())
    if open_only:
        stmt = stmt.where(Incident.status != IncidentStatus.closed.value)
    return list(session.scalars(stmt))


def get_unit(*, session: Session, unit_id: int) -> Unit:
    """Return a unit or raise LookupError."""
    unit = session.get(Unit, unit_id)
    if unit is None:
        raise LookupError(f"no unit {unit_id}")
    return unit


def list_units(*, session: Session, status: UnitStatus | None = None) -> list[Unit]:
    """Return units by code, optionally only those with one status."""
    stmt = select(Unit).order_by(Unit.code)
    if status is not None:
        stmt = stmt.where(Unit.status == status.value)
    return list(session.scalars(stmt))


def create_unit(*, session: Session, data: UnitCreate) -> Unit:
    """Create a unit at its station's point (or at the given point)."""
    station = None
    if data.station_code is not None:
        station = session.scalar(select(Station).where(Station.code == data.station_code))
        if station is None:
            raise LookupError(f"no station {data.station_code!r}")
    if data.lon is not None and data.lat is not None:
        where = point(data.lon, data.lat)
    elif station is not None:
        where = station.geom
    else:
        raise ValueError("a unit needs a station or a lon/lat position")
    unit = Unit(
        code=data.code,
        kind=data.kind.value,
        status=UnitStatus.available.value,
        station_id=station.id if station else None,
        position=where,
        position_at=datetime.now(UTC),
    )
    session.add(unit)
    session.flush()
    return unit


def move_unit(*, session: Session, unit_id: int, lon: float, lat: float) -> Unit:
    """Record a unit's new position (from its AVL feed)."""
    unit = get_unit(session=session, unit_id=unit_id)
    unit.position = point(lon, lat)
    unit.position_at = datetime.now(UTC)
    session.flush()
    return unit


# ---------------------------------------------------------------------------------------------
# routing


def route_unit(
    *,
    session: Session,
    unit_id: int,
    incident_id: int,
    alternatives: int = 3,
    as_of: datetime | None = None,
) -> UnitRoute:
    """Route a unit from its position to an incident on live costs; lowest ETA first.

    ``best`` is the option with the lowest ``eta_s`` (link times plus junction, turn and
    start-up delays) and the alternatives follow by ``eta_s``; the candidates still come from
    the link-time search (the link-time-shortest path and via routes within 1.4x its link time,
    see `shared.traffic.service.route_between`), which also holds a few more candidates than
    are returned, so that ``best`` is the same for 0 to 3 alternatives.

    Both ends snap to the nearest intersections that lie in the road graph's main strongly
    connected component; if that pair is not connected (a closure), the nearest connected pair
    among the ``SNAP_CANDIDATES`` nearest intersections of each end is used.

    Raises:
        LookupError: unknown unit or incident.
        ValueError: the incident is closed, or the unit is out of service.
        NoRouteError: no connected pair of intersections near the two ends.
    """
    # Both ends in one light statement: routing is a hot path (bench/routing), and loading
    # the two ORM objects cost two round trips and about 2 ms of client CPU.
    session.flush()
    code, unit_status, u_lon, u_lat, incident_status, i_lon, i_lat = (
        session.connection().exec_driver_sql(_ENDS_SQL, {"u": unit_id, "i": incident_id}).one()
    )
    if code is None:
        raise LookupError(f"no unit {unit_id}")
    if incident_status is None:
        raise LookupError(f"no incident {incident_id}")
    if incident_status == IncidentStatus.closed.value:
        raise ValueError(f"incident {incident_id} is closed")
    if unit_status == UnitStatus.out_of_service.value:
        raise ValueError(f"unit {code} is out of service")
    # One round trip: live costs, closures, and where both ends join the graph.
    snap = cost_snapshot(
        session=session, as_of=as_of, near=[(u_lon, u_lat), (i_lon, i_lat)], k=SNAP_CANDIDATES
    )
    sources, targets = snap.nearest
    if not sources or not targets:
        raise NoRouteError("the road graph is empty: seed or import a network first")
    first = preferred_pair(
        sources=sources, targets=targets, component=main_component(session=session)
    )
    try:
        routes = route_between(
            session=session, source_id=first[0], target_id=first[1],
            alternatives=alternatives, snapshot=snap,
        )  # fmt: skip
    except NoRouteError:
        pair = reachable_pair(session=session, sources=sources, targets=targets, snapshot=snap)
        if pair is None:
            raise NoRouteError(
                f"unit {code} cannot reach incident {incident_id}: none of the "
                f"{SNAP_CANDIDATES} intersections nearest to the incident is reachable from "
                "those nearest to the unit (closures or one-way streets)"
            ) from None
        routes = route_between(
            session=session, source_id=pair[0], target_id=pair[1],
            alternatives=alternatives, snapshot=snap,
        )  # fmt: skip
    best = routes[0]
    return UnitRoute(
        unit_id=unit_id,
        incident_id=incident_id,
        source_intersection_id=best.source_id,
        target_intersection_id=best.target_id,
        as_of=snap.as_of,
        best=best,
        alternatives=routes[1:],
        closed_segment_ids=sorted(snap.closed),
    )


# ---------------------------------------------------------------------------------------------
# pre-emption plans


def create_preemption_plan(
    *,
    session: Session,
    unit_id: int,
    incident_id: int,
    route: RouteOption,
    created_by: str,
    parameters: PreemptionParameters | None = None,
) -> PreemptionPlan:
    """Store a proposed plan: one green window per signalised intersection on the route."""
    get_unit(session=session, unit_id=unit_id)
    get_incident(session=session, incident_id=incident_id)
    params = parameters or PreemptionParameters()
    stops = [
        PreemptionStop(str(s.intersection_id), str(s.approach_segment_id), s.eta_s)
        for s in route.signals
    ]
    windows = plan_preemption(stops, **params.model_dump())
    plan = PreemptionPlan(
        incident_id=incident_id,
        unit_id=unit_id,
        status=PlanStatus.proposed.value,
        eta_s=route.eta_s,
        length_m=route.length_m,
        segment_ids=list(route.segment_ids),
        parameters=params.model_dump(),
        created_by=created_by,
        created_at=datetime.now(UTC),
    )
    plan.steps = [
        PreemptionStep(
            seq=n,
            intersection_id=s.intersection_id,
            tls_id=s.tls_id,
            approach_segment_id=s.approach_segment_id,
            eta_s=w.eta_s,
            green_from_s=w.green_from_s,
            green_until_s=w.green_until_s,
        )
        for n, (s, w) in enumerate(zip(route.signals, windows, strict=True), start=1)
    ]
    session.add(plan)
    session.flush()
    return plan


def get_plan(*, session: Session, plan_id: int) -> PreemptionPlan:
    """Return a pre-emption plan or raise LookupError."""
    plan = session.get(PreemptionPlan, plan_id)
    if plan is None:
        raise LookupError(f"no pre-emption plan {plan_id}")
    return plan


def _transition(
    session: Session, plan_id: int, allowed: tuple[PlanStatus, ...], to: PlanStatus
) -> PreemptionPlan:
    plan = session.get(PreemptionPlan, plan_id, with_for_update=True)
    if plan is None:
        raise LookupError(f"no pre-emption plan {plan_id}")
    if plan.status not in {a.value for a in allowed}:
        names = " or ".join(a.value for a in allowed)
        raise ValueError(
            f"pre-emption plan {plan_id} is {plan.status}; it must be {names} to become {to.value}"
        )
    plan.status = to.value
    return plan


def approve_plan(*, session: Session, plan_id: int, approved_by: str) -> PreemptionPlan:
    """Approve a proposed plan (callers check the dispatcher role)."""
    if not approved_by.strip():
        raise ValueError("approved_by is required")
    plan = _transition(session, plan_id, (PlanStatus.proposed,), PlanStatus.approved)
    plan.approved_by = approved_by
    plan.approved_at = datetime.now(UTC)
    session.flush()
    return plan


def activate_plan(
    *, session: Session, plan_id: int, dispatched_at: datetime | None = None
) -> PreemptionPlan:
    """Start an approved plan: the unit leaves now, the windows count from here."""
    plan = _transition(session, plan_id, (PlanStatus.approved,), PlanStatus.active)
    plan.activated_at = dispatched_at or datetime.now(UTC)
    unit = session.get(Unit, plan.unit_id)
    incident = session.get(Incident, plan.incident_id)
    if unit is not None:
        unit.status = UnitStatus.dispatched.value
    if incident is not None and incident.status == IncidentStatus.open.value:
        incident.status = IncidentStatus.dispatched.value
    session.flush()
    return plan


def abort_plan(*, session: Session, plan_id: int, aborted_by: str, reason: str) -> PreemptionPlan:
    """Abort a plan that has not finished; who and why are recorded."""
    if not aborted_by.strip():
        raise ValueError("aborted_by is required")
    if len(reason.strip()) < 3:
        raise ValueError("a reason (at least 3 characters) is required to abort a plan")
    plan = _transition(
        session,
        plan_id,
        (PlanStatus.proposed, PlanStatus.approved, PlanStatus.active),
        PlanStatus.aborted,
    )
    plan.aborted_by = aborted_by
    plan.aborted_at = datetime.now(UTC)
    plan.abort_reason = reason.strip()
    session.flush()
    return plan


def complete_plan(*, session: Session, plan_id: int) -> PreemptionPlan:
    """Mark an active plan completed: the unit is on scene."""
    plan = _transition(session, plan_id, (PlanStatus.active,), PlanStatus.completed)
    plan.completed_at = datetime.now(UTC)
    unit = session.get(Unit, plan.unit_id)
    incident = session.get(Incident, plan.incident_id)
    if unit is not None and unit.status == UnitStatus.dispatched.value:
        unit.status = UnitStatus.on_scene.value
    if incident is not None and incident.status == IncidentStatus.dispatched.value:
        incident.status = IncidentStatus.on_scene.value
    session.flush()
    return plan


def expected_red_wait_s(
    *, session: Session, intersection_id: int, approach_segment_id: int
) -> float:
    """Return r²/(2C): the mean red wait of a vehicle arriving at a random time (see module)."""
    cycle, green = DEFAULT_CYCLE_S, DEFAULT_GREEN_RATIO * DEFAULT_CYCLE_S
    plan = current_signal_plan(session=session, intersection_id=intersection_id)
    if plan is not None:
        for phase in plan.phases:
            if approach_segment_id in phase.get("approaches", []):
                cycle, green = float(plan.cycle_s), float(phase["green_s"])
                break
    red = max(0.0, cycle - green)
    return red * red / (2.0 * cycle)


def report_after_action(
    *,
    session: Session,
    plan_id: int,
    actual_arrivals: Mapping[int, float] | None = None,
) -> AfterActionReport:
    """Record actual arrivals (intersection id -> seconds from dispatch) and report the run.

    An active plan is completed by this call. The delay-saved estimate is explained in the
    module docstring.

    Raises:
        LookupError: unknown plan.
        ValueError: the plan never ran, an arrival names an intersection not on the plan, or
            an arrival time is negative or not finite.
    """
    plan = get_plan(session=session, plan_id=plan_id)
    if plan.status not in (PlanStatus.active.value, PlanStatus.completed.value):
        raise ValueError(
            f"pre-emption plan {plan_id} is {plan.status}: only an active or completed run "
            "has an after-action report"
        )
    by_node = {s.intersection_id: s for s in plan.steps}
    for node, arrival in (actual_arrivals or {}).items():
        if node not in by_node:
            raise ValueError(f"intersection {node} is not on pre-emption plan {plan_id}")
        value = float(arrival)
        if not math.isfinite(value) or value < 0.0:
            raise ValueError(f"arrival at intersection {node} must be >= 0 s, got {arrival!r}")
        by_node[node].actual_arrival_s = value
    if plan.status == PlanStatus.active.value:
        complete_plan(session=session, plan_id=plan_id)
    session.flush()

    steps: list[StepReport] = []
    waits = 0.0
    last_recorded: StepReport | None = None
    waits_to_last = 0.0
    for step in plan.steps:
        wait = expected_red_wait_s(
            session=session,
            intersection_id=step.intersection_id,
            approach_segment_id=step.approach_segment_id,
        )
        waits += wait
        actual = step.actual_arrival_s
        report = StepReport(
            seq=step.seq,
            intersection_id=step.intersection_id,
            approach_segment_id=step.approach_segment_id,
            planned_eta_s=step.eta_s,
            actual_arrival_s=actual,
            deviation_s=actual - step.eta_s if actual is not None else None,
            green_from_s=step.green_from_s,
            green_until_s=step.green_until_s,
            arrived_in_green=(
                step.green_from_s <= actual <= step.green_until_s if actual is not None else None
            ),
            no_preemption_delay_s=wait,
        )
        steps.append(report)
        if actual is not None:
            last_recorded = report
            waits_to_last = waits
    estimate = saved = actual_travel = None
    if last_recorded is not None and last_recorded.actual_arrival_s is not None:
        actual_travel = last_recorded.actual_arrival_s
        estimate = last_recorded.planned_eta_s + waits_to_last
        saved = estimate - actual_travel
    return AfterActionReport(
        plan_id=plan.id,
        status=plan.status,
        planned_eta_s=plan.eta_s,
        actual_travel_s=actual_travel,
        steps=steps,
        stops_in_green=sum(1 for s in steps if s.arrived_in_green),
        stops_recorded=sum(1 for s in steps if s.actual_arrival_s is not None),
        estimated_without_preemption_s=estimate,
        delay_saved_s=saved,
        method=(
            "without pre-emption = planned ETA + expected red wait r^2/(2C) per signal "
            "(current signal plan, else C = 90 s, g = 0.45 C); saved = that - actual arrival "
            "at the last recorded stop"
        ),
    )
