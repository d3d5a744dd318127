"""What `twin run` follows from the platform: dispatched pre-emption runs and pushed signal plans.

The seeded city and a twin of it come from the same SUMO network: ``road_segment.external_id``
is the SUMO edge id and ``intersection.tls_id`` the SUMO traffic light, so a plan's route and
signals map onto the running simulation by id. A plan whose edges are not in the running
network belongs to another city and is left alone.

Pre-emption: once an operator approves a plan, the unit enters the simulation as a
vClass-emergency vehicle at the start of the planned route (gaps where the road graph skips a
SUMO connection are filled with SUMO's own shortest path). Its departure is the twin's
dispatch: the plan's windows (seconds from dispatch) run on the SUMO signals in simulated
seconds, as in `twin emergency`, except that a window that has not started yet follows the
unit: each step it is moved to the unit's live ETA at that stop line (free-flow link times plus
the junction and turn delays of `shared.traffic.eta`, from where the unit is; the plan's ETA
came from the road graph at dispatch, and a real unit is also slowed by traffic, so GPS-based
pre-emption re-times from the unit's position in the same way). The
vehicle's position, the ETA and distance left
and the signals passed go to the consoles as ``unit.progress`` events; at arrival the actual
times at each stop line are stored through `report_after_action`, which completes the plan. An
abort hands every signal back at once and takes the vehicle out.

Signal plans: the newest pushed plan of each traffic light runs as a fixed-time program built
from the plan's cycle and greens; for each plan phase the network's own green phase that
serves its approaches best gives the signal states (so no conflicting movement is ever green
together), and the cycle's remaining time is split evenly into the intergreens after each
phase (the program's yellow, the rest all-red). The platform controller lets go of that light.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shapely.geometry import LineString

from shared.db import session_scope
from shared.incidents.models import PlanStatus
from shared.incidents.service import activate_plan, move_unit, report_after_action
from shared.traffic.adaptive import StepKind
from shared.traffic.eta import route_eta
from shared.traffic.preemption import PreemptionWindow
from shared.twin.controllers import PlatformControl, transition_state
from shared.twin.emergency import (
    EMERGENCY_TYPE,
    Preemption,
    add_emergency_type,
    advance_preemptions,
    build_preemptions,
    clearance_times,
    release_preemptions,
    retime_preemptions,
    route_hops,
    stop_line_times,
)
from shared.twin.scenario import Network, Phase, ScenarioError
from shared.twin.service import (
    LivePlan,
    PushedPlan,
    dispatched_preemption_plans,
    note_signal_plan_applied,
    preemption_plan_statuses,
    pushed_signal_plans,
)

__all__ = [
    "SIGNAL_PLAN_APPLIED",
    "UNIT_PROGRESS",
    "LiveFollower",
    "SignalOwners",
    "plan_program",
]

Emit = Callable[[str, dict[str, Any]], None]

UNIT_PROGRESS = "unit.progress"
SIGNAL_PLAN_APPLIED = "signal_plan.applied"
# Wall-clock seconds: how often the twin looks for approvals, aborts and pushed plans, and how
# often it reports a unit's position (once a second is what an AVL feed typically sends).
POLL_EVERY_S = 1.0
REPORT_EVERY_S = 1.0
# Plans approved this long before the twin started are still followed (a restarted twin).
PICKUP_WINDOW = timedelta(minutes=10)
_MIN_INTERVAL_S = 0.1
# The seeded road graph's classes (shared/seed/demo.ROAD_VCLASSES), emergency first.
_UNIT_CLASSES = ("emergency", "bus", "delivery", "passenger")


class SignalOwners:
    """Who drives each signal: the platform controller, or a pushed fixed-time program."""

    def __init__(self, platform: PlatformControl | None) -> None:
        self._platform = platform
        self.fixed: dict[str, int] = {}  # tls id -> signal plan id running on it

    def hold(self, tls_id: str, held: bool) -> None:
        """Pre-emption takes a signal (True) or gives it back (False)."""
        # A fixed program is restored by the pre-emption itself (its program id is kept).
        if tls_id not in self.fixed and self._platform is not None:
            self._platform.hold(tls_id, held)

    def make_fixed(self, tls_id: str, plan_id: int) -> None:
        """The signal runs a pushed plan from now on: the adaptive controller lets go of it."""
        self.fixed[tls_id] = plan_id
        if self._platform is not None:
            self._platform.hold(tls_id, True)


def plan_program(net: Network, plan: PushedPlan) -> list[Phase]:
    """Return the fixed-time program of a pushed plan on its traffic light (see module).

    Raises:
        ValueError: the light is not in the network, or a phase's approaches are not among
            its links, or no green phase of the program serves them.
    """
    tls = plan.tls_id
    if tls not in net.programs:
        raise ValueError(f"traffic light {tls} is not in this network")
    program = net.programs[tls]
    links = net.links[tls]
    size = len(program.phases[0].state)
    greens = [ph for ph in program.phases if ph.is_green]
    states: list[str] = []
    for name, approaches, _green in plan.phases:
        if not approaches:
            # A pedestrian-only phase: every vehicle movement red.
            states.append("r" * size)
            continue
        served = {ln.index for ln in links if ln.from_edge in approaches}
        if not served:
            raise ValueError(f"phase {name}: none of its approaches {approaches} enters {tls}")

        def score(ph: Phase, served: set[int] = served) -> tuple[int, int, int]:
            on = sum(1 for k in served if ph.state[k] in "Gg")
            priority = sum(1 for k in served if ph.state[k] == "G")
            others = sum(1 for k, c in enumerate(ph.state) if c in "Gg" and k not in served)
            return (on, priority, -others)

        best = max(greens, key=score)
        if score(best)[0] == 0:
            raise ValueError(f"phase {name}: no green phase of {tls} serves {approaches}")
        states.append(best.state)
    n = len(states)
    green_total = sum(g for _n, _a, g in plan.phases)
    intergreen = max(0.0, (plan.cycle_s - green_total) / n)
    yellow_s, _all_red = clearance_times(program)
    yellow = min(yellow_s, intergreen)
    all_red = intergreen - yellow
    if all_red < _MIN_INTERVAL_S:
        yellow, all_red = intergreen, 0.0
    out: list[Phase] = []
    for k, ((_name, _a, green), state) in enumerate(zip(plan.phases, states, strict=True)):
        following = states[(k + 1) % n]
        out.append(Phase(duration=round(green, 2), state=state))
        if yellow >= _MIN_INTERVAL_S:
            out.append(Phase(round(yellow, 2), transition_state(state, following, StepKind.yellow)))
        if all_red >= _MIN_INTERVAL_S:
            out.append(
                Phase(round(all_red, 2), transition_state(state, following, StepKind.all_red))
            )
    return out


def _program_id(plan_id: int) -> str:
    return f"platform_plan_{plan_id}"


@dataclass
class _Run:
    """One unit's run in the twin."""

    plan: LivePlan
    edges: list[str]
    vehicle: str
    preemptions: list[Preemption]
    approach_index: dict[int, int]  # step seq -> index of its approach edge in ``edges``
    status: str = "waiting"  # waiting -> en_route -> arrived | aborted | failed
    departed_at: float | None = None
    arrivals: dict[int, float] = field(default_factory=dict)  # step seq -> s after dispatch
    travel_s: float | None = None
    last_report: float = 0.0
    last_lonlat: tuple[float, float] | None = None
    after_action: dict[str, Any] | None = None
    detail: str = ""


class LiveFollower:
    """Follows the platform from inside a running simulation: call `poll` and `step` each step."""

    def __init__(
        self,
        sim: Any,
        net: Network,
        *,
        owners: SignalOwners,
        emit: Emit | None = None,
        since: datetime | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self._sim, self._net, self._owners = sim, net, owners
        self._emit = emit
        self._since = since or datetime.now(UTC) - PICKUP_WINDOW
        self._say = say or (lambda _msg: None)
        self._max_speed = add_emergency_type(sim)
        self._runs: dict[int, _Run] = {}
        self._applied: dict[str, dict[str, Any]] = {}  # tls id -> what was applied
        self._refused: set[int] = set()
        self._last_poll = float("-inf")

    # -- platform -> twin ---------------------------------------------------------------------

    def poll(self, *, force: bool = False) -> None:
        """Read approvals, aborts and pushed plans from the database (at most once a second)."""
        wall = time.monotonic()
        if not force and wall - self._last_poll < POLL_EVERY_S:
            return
        self._last_poll = wall
        with session_scope() as session:
            plans = dispatched_preemption_plans(session=session, since=self._since)
            moving = [i for i, r in self._runs.items() if r.status in ("waiting", "en_route")]
            statuses = preemption_plan_statuses(session=session, plan_ids=moving)
            pushed = pushed_signal_plans(session=session)
        for plan in plans:
            if plan.plan_id not in self._runs and plan.plan_id not in self._refused:
                self._start(plan)
        for plan_id, status in statuses.items():
            if status == PlanStatus.aborted.value:
                self._abort(self._runs[plan_id])
        for plan in pushed:
            done = self._applied.get(plan.tls_id)
            if (
                done is None or done["plan_id"] != plan.plan_id
            ) and plan.plan_id not in self._refused:
                self._apply(plan)

    def _vtype(self, vclass: str) -> str:
        if vclass == "emergency":
            return EMERGENCY_TYPE
        vtype = f"{EMERGENCY_TYPE}_{vclass}"
        if vtype not in self._sim.vehicletype.getIDList():
            self._sim.vehicletype.copy(EMERGENCY_TYPE, vtype)
            self._sim.vehicletype.setVehicleClass(vtype, vclass)
        return vtype

    def _connect(self, edges: tuple[str, ...], vtype: str) -> list[str] | None:
        route = [edges[0]]
        for edge in edges[1:]:
            try:
                found = list(self._sim.simulation.findRoute(route[-1], edge, vType=vtype).edges)
            except self._sim.TraCIException:
                found = []
            if not found:
                return None
            route.extend(found[1:])
        return route

    def _sumo_route(self, plan: LivePlan) -> tuple[list[str], str]:
        """The plan's edges as a drivable SUMO route, and the vehicle type that may drive it.

        The road graph also holds roads open only to buses and delivery vans (emergency
        vehicles may use bus lanes: StVO §35), which SUMO's emergency class may not enter;
        the unit then drives as the first class the whole route admits.
        """
        missing = [e for e in plan.edges if e not in self._net.edge_lanes]
        if not plan.edges or missing:
            raise ScenarioError(f"route edges not in this network: {missing[:3] or 'none'}")
        for vclass in _UNIT_CLASSES:
            vtype = self._vtype(vclass)
            route = self._connect(plan.edges, vtype)
            if route is not None:
                return route, vtype
        raise ScenarioError(f"no vehicle class ({', '.join(_UNIT_CLASSES)}) can drive the route")

    def _start(self, plan: LivePlan) -> None:
        try:
            edges, vtype = self._sumo_route(plan)
        except ScenarioError as exc:
            self._refused.add(plan.plan_id)
            self._say(f"plan {plan.plan_id}: not followed in this twin ({exc})")
            return
        windows = [
            PreemptionWindow(s.tls_id, s.approach_edge, s.eta_s, s.green_from_s, s.green_until_s)
            for s in plan.steps
            if s.tls_id is not None
        ]
        index = {
            s.seq: edges.index(s.approach_edge) for s in plan.steps if s.approach_edge in edges
        }
        vehicle = f"twin_unit_{plan.plan_id}"
        route_id = f"twin_unit_route_{plan.plan_id}"
        self._sim.route.add(route_id, edges)
        self._sim.vehicle.add(vehicle, route_id, typeID=vtype, depart="now",
                              departLane="best", departSpeed="max")  # fmt: skip
        run = _Run(plan=plan, edges=edges, vehicle=vehicle,
                   preemptions=build_preemptions(self._net, edges, windows),
                   approach_index=index)  # fmt: skip
        self._runs[plan.plan_id] = run
        self._say(
            f"plan {plan.plan_id}: unit {plan.unit_code} enters the twin on {edges[0]} "
            f"as {vtype} ({len(edges)} edges, {len(run.preemptions)} signals to pre-empt)"
        )

    def _abort(self, run: _Run) -> None:
        now = self._sim.simulation.getTime()
        rel = now - run.departed_at if run.departed_at is not None else 0.0
        released = release_preemptions(self._sim, run.preemptions, holder=self._owners, rel=rel)
        if run.vehicle in self._sim.vehicle.getIDList() or run.status == "waiting":
            # Not inserted yet, or gone already: nothing to take out.
            with contextlib.suppress(self._sim.TraCIException):
                self._sim.vehicle.remove(run.vehicle)
        run.status = "aborted"
        run.detail = f"{released} signals handed back"
        self._say(f"plan {run.plan.plan_id} aborted: {released} signals handed back, unit removed")
        self._report(run, force=True)

    def _apply(self, plan: PushedPlan) -> None:
        busy = any(
            p.window.intersection_id == plan.tls_id and p.stage in ("yellow", "all_red", "green")
            for r in self._runs.values()
            for p in r.preemptions
        )
        if busy:
            return  # a pre-emption has the signal now; the plan goes on once it is handed back
        try:
            phases = plan_program(self._net, plan)
        except ValueError as exc:
            self._refused.add(plan.plan_id)
            self._say(f"signal plan {plan.plan_id}: not applied ({exc})")
            return
        tl = self._sim.trafficlight
        program_id = _program_id(plan.plan_id)
        logic = tl.Logic(program_id, 0, 0, [tl.Phase(p.duration, p.state) for p in phases])
        tl.setProgramLogic(plan.tls_id, logic)
        tl.setProgram(plan.tls_id, program_id)
        tl.setPhase(plan.tls_id, 0)
        self._owners.make_fixed(plan.tls_id, plan.plan_id)
        # Read the program back from SUMO: what runs, not what we meant to send.
        running = next(
            lg for lg in tl.getAllProgramLogics(plan.tls_id) if lg.programID == program_id
        )
        durations = [float(p.duration) for p in running.phases]
        applied = {
            "plan_id": plan.plan_id,
            "intersection_id": plan.intersection_id,
            "tls_id": plan.tls_id,
            "version": plan.version,
            "program_id": tl.getProgram(plan.tls_id),
            "cycle_s": round(sum(durations), 2),
            "phases": [
                {"duration_s": round(d, 2), "state": p.state}
                for d, p in zip(durations, running.phases, strict=True)
            ],
            "sim_time_s": self._sim.simulation.getTime(),
        }
        self._applied[plan.tls_id] = applied
        greens = ", ".join(f"{n} {g:.0f} s" for n, _a, g in plan.phases)
        note = (
            f"applied in the digital twin at {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC as SUMO "
            f"program {program_id} on {plan.tls_id}: cycle {applied['cycle_s']:.0f} s, {greens}"
        )
        with session_scope() as session:
            note_signal_plan_applied(session=session, plan_id=plan.plan_id, note=note)
        self._say(f"signal plan {plan.plan_id}: {note}")
        if self._emit is not None:
            self._emit(SIGNAL_PLAN_APPLIED, applied)

    # -- twin -> platform ---------------------------------------------------------------------

    def step(self) -> None:
        """After a simulation step: move the pre-emptions on, record stop lines, report."""
        if not any(r.status in ("waiting", "en_route") for r in self._runs.values()):
            return
        now = self._sim.simulation.getTime()
        departed = set(self._sim.simulation.getDepartedIDList())
        arrived = set(self._sim.simulation.getArrivedIDList())
        for run in self._runs.values():
            if run.status == "waiting" and run.vehicle in departed:
                run.status, run.departed_at = "en_route", now
                if run.plan.status == PlanStatus.approved.value:
                    with session_scope() as session:
                        activate_plan(session=session, plan_id=run.plan.plan_id)
            if run.status != "en_route" or run.departed_at is None:
                continue
            rel = now - run.departed_at
            if run.vehicle in arrived:
                self._finish(run, rel)
                continue
            if run.vehicle not in self._sim.vehicle.getIDList():
                continue  # teleporting
            route_index = self._sim.vehicle.getRouteIndex(run.vehicle)
            road = self._sim.vehicle.getRoadID(run.vehicle)
            for seq, at in run.approach_index.items():
                if seq not in run.arrivals and (
                    route_index > at or (route_index == at and road != run.edges[at])
                ):
                    # The vehicle left the approach edge: it is at (past) the stop line.
                    run.arrivals[seq] = round(rel, 1)
            if road == run.edges[route_index]:
                ahead = stop_line_times(
                    self._net, run.edges, index=route_index, max_speed=self._max_speed,
                    pos=self._sim.vehicle.getLanePosition(run.vehicle),
                )  # fmt: skip
            else:  # crossing the junction after edges[route_index]: its stop line is behind
                ahead = stop_line_times(
                    self._net, run.edges, index=route_index + 1, pos=0.0,
                    max_speed=self._max_speed,
                )  # fmt: skip
            retime_preemptions(run.preemptions, rel=rel, time_to_stop_line=ahead)
            advance_preemptions(
                self._sim, run.preemptions, rel=rel, route_index=route_index, edges=run.edges,
                holder=self._owners,
            )  # fmt: skip
            self._report(run)

    def _finish(self, run: _Run, rel: float) -> None:
        run.travel_s = round(rel, 1)
        for seq in run.approach_index:
            run.arrivals.setdefault(seq, run.travel_s)
        release_preemptions(self._sim, run.preemptions, holder=self._owners, rel=rel)
        by_node = {s.seq: s.intersection_id for s in run.plan.steps}
        actual = {by_node[seq]: t for seq, t in run.arrivals.items() if seq in by_node}
        run.status = "arrived"
        try:
            with session_scope() as session:
                report = report_after_action(
                    session=session, plan_id=run.plan.plan_id, actual_arrivals=actual
                )
                run.after_action = report.model_dump(mode="json", exclude={"steps", "method"})
        except (LookupError, ValueError) as exc:  # aborted or deleted meanwhile
            run.detail = str(exc)
        self._say(
            f"plan {run.plan.plan_id}: unit {run.plan.unit_code} arrived after "
            f"{run.travel_s:.0f} s (planned {run.plan.eta_s:.0f} s), "
            f"{len(actual)} stop lines recorded"
        )
        self._report(run, force=True)

    def _position(self, run: _Run) -> tuple[float, float] | None:
        if run.status == "arrived":
            shape = run.plan.shapes.get(run.edges[-1])
            return shape[-1] if shape else run.last_lonlat
        if run.vehicle not in self._sim.vehicle.getIDList():
            return run.last_lonlat
        road = self._sim.vehicle.getRoadID(run.vehicle)
        shape = run.plan.shapes.get(road)
        if shape is not None and len(shape) >= 2:
            lanes = self._net.edge_lanes.get(road) or []
            length = self._net.lane_length.get(lanes[0], 0.0) if lanes else 0.0
            pos = self._sim.vehicle.getLanePosition(run.vehicle)
            fraction = min(1.0, max(0.0, pos / length)) if length > 0 else 0.0
            pt = LineString(shape).interpolate(fraction, normalized=True)
            return (round(pt.x, 6), round(pt.y, 6))
        x, y = self._sim.vehicle.getPosition(run.vehicle)
        return self._net.to_lonlat((x, y)) or run.last_lonlat

    def _remaining(self, run: _Run) -> tuple[float, float]:
        """Seconds (the ETA model's, `shared.traffic.eta`) and metres left along the route from
        where the vehicle is."""
        if run.status != "en_route" or run.vehicle not in self._sim.vehicle.getIDList():
            return 0.0, 0.0
        index = self._sim.vehicle.getRouteIndex(run.vehicle)
        road = self._sim.vehicle.getRoadID(run.vehicle)
        pos = self._sim.vehicle.getLanePosition(run.vehicle) if road == run.edges[index] else 0.0
        metres = 0.0
        for i in range(max(0, index), len(run.edges)):
            lanes = self._net.edge_lanes.get(run.edges[i]) or []
            if not lanes:
                continue
            length = self._net.lane_length[lanes[0]]
            metres += max(0.0, length - pos) if i == index else length
        rest = run.edges[max(0, index) :]
        hops = route_hops(self._net, rest, max_speed=self._max_speed, start_pos=pos)
        return route_eta(hops, from_standstill=False).eta_s, metres

    def _report(self, run: _Run, *, force: bool = False) -> None:
        wall = time.monotonic()
        if not force and wall - run.last_report < REPORT_EVERY_S:
            return
        run.last_report = wall
        where = self._position(run)
        run.last_lonlat = where or run.last_lonlat
        eta_left, metres_left = self._remaining(run)
        speed = 0.0
        if run.status == "en_route" and run.vehicle in self._sim.vehicle.getIDList():
            speed = self._sim.vehicle.getSpeed(run.vehicle) * 3.6
        now = self._sim.simulation.getTime()
        payload: dict[str, Any] = {
            "plan_id": run.plan.plan_id,
            "unit_id": run.plan.unit_id,
            "unit_code": run.plan.unit_code,
            "incident_id": run.plan.incident_id,
            "status": run.status,
            "lon": where[0] if where else None,
            "lat": where[1] if where else None,
            "elapsed_s": round(now - run.departed_at, 1) if run.departed_at is not None else 0.0,
            "planned_eta_s": round(run.plan.eta_s, 1),
            "eta_remaining_s": round(eta_left, 1),
            "distance_remaining_m": round(metres_left, 1),
            "speed_kmh": round(speed, 1),
            "junctions_passed": len(run.arrivals),
            "junctions_total": len(run.approach_index),
            "travel_s": run.travel_s,
            "after_action": run.after_action,
            "detail": run.detail,
            "sim_time_s": now,
        }
        if where is not None and run.status in ("en_route", "arrived"):
            with session_scope() as session:
                move_unit(session=session, unit_id=run.plan.unit_id, lon=where[0], lat=where[1])
        if self._emit is not None:
            self._emit(UNIT_PROGRESS, payload)

    def summary(self) -> dict[str, Any]:
        """What the twin followed: each run (planned vs actual) and each signal plan applied.

        Call it while the simulation runs: each applied plan notes the program its light runs
        now (``program_now``), which shows whether anything took the light away since.
        """
        for tls, applied in self._applied.items():
            applied["program_now"] = self._sim.trafficlight.getProgram(tls)
        return {
            "preemption_runs": [
                {
                    "plan_id": r.plan.plan_id,
                    "unit_code": r.plan.unit_code,
                    "status": r.status,
                    "planned_eta_s": round(r.plan.eta_s, 1),
                    "travel_s": r.travel_s,
                    "arrivals": {str(k): v for k, v in sorted(r.arrivals.items())},
                    "signals_preempted": [
                        {"tls_id": p.window.intersection_id, **p.shown} for p in r.preemptions
                    ],
                }
                for r in self._runs.values()
            ],
            "signal_plans_applied": list(self._applied.values()),
        }
