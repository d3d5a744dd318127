"""`smartcity twin emergency`: one emergency run through background traffic, with and without
the platform's signal pre-emption.

The vehicle (vClass emergency) obeys signals in both runs: no blue-light red running, no
rescue lane. What differs is only the signals: with pre-emption, the platform plans green
windows from the route's ETAs (free-flow link times plus the junction and turn delays of
`shared.traffic.eta`) with :func:`shared.traffic.preemption.plan_preemption`,
re-times each window that has not started from the vehicle's live ETA at its stop line
(:func:`retime_preemptions`, as in the live twin), then, for each signal, runs a yellow and
all-red transition and holds the approach's green
until the window closes and the vehicle has passed the stop line (check-out, as the unit's
AVL position tells the platform), at most ``_MAX_EXTRA_HOLD_S`` longer.
"""

from __future__ import annotations

import itertools
import math
import random
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from shared.traffic.adaptive import StepKind
from shared.traffic.eta import Hop, bearing_deg, junction_kind, route_eta
from shared.traffic.preemption import PreemptionStop, PreemptionWindow, plan_preemption
from shared.twin.controllers import (
    DEFAULT_ALL_RED_S,
    DEFAULT_YELLOW_S,
    Controller,
    PlatformControl,
    transition_state,
)
from shared.twin.engine import running
from shared.twin.evaluate import open_scenario, sumo_args
from shared.twin.scenario import Network, Program, ScenarioError

__all__ = [
    "EMERGENCY_TYPE",
    "EmergencyResult",
    "Preemption",
    "SignalHolder",
    "add_emergency_type",
    "advance_preemptions",
    "build_preemptions",
    "choose_route",
    "clearance_times",
    "emergency_stops",
    "release_preemptions",
    "retime_preemptions",
    "route_hops",
    "run_emergency",
    "stop_line_times",
]

_VEHICLE = "twin_emergency"
EMERGENCY_TYPE = "twin_emergency_type"
_VTYPE = EMERGENCY_TYPE
_ROUTE = "twin_emergency_route"
_MAX_EXTRA_HOLD_S = 60.0
_CANDIDATE_PAIRS = 80


@dataclass(frozen=True)
class EmergencyResult:
    """The JSON contract of `twin emergency` (times in seconds, reduction as a fraction)."""

    scenario: str
    controller: str
    seed: int
    dispatch_s: float
    route_length_m: float
    route_edges: int
    signals_on_route: int
    free_flow_time_s: float
    travel_time_s_without: float
    travel_time_s_with: float
    reduction: float
    junctions_preempted: list[dict[str, Any]]
    wall_s: float

    def as_dict(self) -> dict[str, Any]:
        """Return the contract as a plain dict (JSON-ready)."""
        return asdict(self)


def _signal_pairs(net: Network) -> dict[tuple[str, str], str]:
    return {(ln.from_edge, ln.to_edge): tls for tls, links in net.links.items() for ln in links}


def _edge_free_time(net: Network, edge: str, max_speed: float) -> float:
    lanes = net.edge_lanes.get(edge) or []
    if not lanes:
        return 0.0
    length = net.lane_length[lanes[0]]
    speed = min(max(net.lane_speed[ln] for ln in lanes), max_speed)
    return length / speed


def route_hops(
    net: Network, edges: list[str], *, max_speed: float, start_pos: float = 0.0
) -> list[Hop]:
    """Return the ETA model's view of a SUMO route (`shared.traffic.eta`), as the road graph
    holds the same network: free-flow link times (the first edge from ``start_pos`` on),
    headings from the lane shapes, and each edge's end junction's kind."""
    hops: list[Hop] = []
    for i, edge in enumerate(edges):
        t = _edge_free_time(net, edge, max_speed)
        lanes = net.edge_lanes.get(edge) or []
        if i == 0 and t > 0:
            t *= max(0.0, 1.0 - start_pos / net.lane_length[lanes[0]])
        shape = net.lane_shape.get(lanes[0], []) if lanes else []
        head_in = bearing_deg(*shape[0], *shape[1]) if len(shape) >= 2 else 0.0
        head_out = bearing_deg(*shape[-2], *shape[-1]) if len(shape) >= 2 else 0.0
        node = net.edge_to_node.get(edge, "")
        hops.append(
            Hop(
                link_s=t,
                speed_ms=min(max((net.lane_speed[ln] for ln in lanes), default=0.0), max_speed),
                heading_in_deg=head_in,
                heading_out_deg=head_out,
                kind=junction_kind(
                    signalised=False,
                    node_type=net.node_type.get(node),
                    neighbours=len(net.node_neighbours.get(node, ())),
                ),
            )
        )
    return hops


def emergency_stops(
    net: Network, edges: list[str], *, max_speed: float, start_pos: float = 0.0
) -> list[PreemptionStop]:
    """Return the signalised stops along ``edges`` with their ETAs from the route start: the
    free-flow link times plus the junction and turn delays of `shared.traffic.eta` (no
    start-up delay: the twin inserts the vehicle at speed)."""
    pairs = _signal_pairs(net)
    hops = route_hops(net, edges, max_speed=max_speed, start_pos=start_pos)
    at = route_eta(hops, from_standstill=False).stop_line_s
    return [
        PreemptionStop(pairs[(edge, edges[i + 1])], edge, round(at[i], 2))
        for i, edge in enumerate(edges[:-1])
        if (edge, edges[i + 1]) in pairs
    ]


def choose_route(sim: Any, net: Network, *, seed: int) -> list[str]:
    """Pick a long route through as many signals as possible (deterministic per seed)."""
    pairs = _signal_pairs(net)
    froms = sorted({a for a, _b in pairs})
    # End on a road that leaves the signals, not on a stub between two stop lines (a trip
    # ending there would wait in the queue of the next signal, which is not on its route).
    tos = sorted({b for _a, b in pairs} - set(froms)) or sorted({b for _a, b in pairs})
    rng = random.Random(seed)
    best: tuple[int, float, list[str]] = (0, 0.0, [])
    for _ in range(_CANDIDATE_PAIRS):
        a, b = rng.choice(froms), rng.choice(tos)
        if a == b:
            continue
        try:
            route = sim.simulation.findRoute(a, b, vType=_VTYPE)
        except sim.TraCIException:  # an edge the vehicle class may not use (tram, bus lane)
            continue
        edges = list(route.edges)
        if len(edges) < 2:
            continue
        signals = sum(1 for x, y in itertools.pairwise(edges) if (x, y) in pairs)
        score = (signals, float(route.length), edges)
        if score[:2] > best[:2]:
            best = score
    if best[0] < 1:
        raise ScenarioError("no route through a signal found for the emergency vehicle")
    return best[2]


def add_emergency_type(sim: Any) -> float:
    """Add the emergency vehicle type (vClass emergency) once; return its maximum speed (m/s)."""
    if _VTYPE not in sim.vehicletype.getIDList():
        sim.vehicletype.copy("DEFAULT_VEHTYPE", _VTYPE)
        sim.vehicletype.setVehicleClass(_VTYPE, "emergency")
        sim.vehicletype.setSpeedFactor(_VTYPE, 1.0)
        sim.vehicletype.setParameter(_VTYPE, "speedDev", "0")
    return float(sim.vehicletype.getMaxSpeed(_VTYPE))


class SignalHolder(Protocol):
    """Whoever normally drives the signals: it lets go of one while it is pre-empted."""

    def hold(self, tls_id: str, held: bool) -> None:
        """Hand a signal over (True) or take it back (False)."""


@dataclass
class Preemption:
    """One signal's pre-emption for a run: its window, the moves served, and where it stands."""

    window: PreemptionWindow
    moves: list[tuple[str, str]]  # (approach edge, next edge) pairs the vehicle makes here
    program: Program
    target_state: str = ""
    target_phase: int = -1
    yellow_s: float = DEFAULT_YELLOW_S
    all_red_s: float = DEFAULT_ALL_RED_S
    stage: str = "pending"  # pending -> yellow -> all_red -> green -> done
    since: float = 0.0
    from_state: str = ""
    restore_program: str = ""
    shown: dict[str, float] = field(default_factory=dict)


def _target_phase(net: Network, p: Preemption) -> tuple[int, str]:
    """Return (phase index, state) to show: the program phase that best serves the vehicle.

    When no phase of the program greens every move the vehicle makes here (a joined signal
    whose plan never opens both of its junctions along this path at once), the state is the
    vehicle's path alone: its links and the links sharing its lanes green, everything else
    red (index -1).
    """
    tls = p.window.intersection_id
    by_move = [
        {ln.index for ln in net.links[tls] if (ln.from_edge, ln.to_edge) == move}
        for move in p.moves
    ]
    wanted = set().union(*by_move)
    lanes = {ln.from_lane for ln in net.links[tls] if ln.index in wanted}
    # Links sharing the vehicle's lanes: vehicles queued ahead of it may want those, and the
    # queue only flushes if they are green too.
    flush = {ln.index for ln in net.links[tls] if ln.from_lane in lanes}
    approach = {ln.index for ln in net.links[tls] if ln.from_edge == p.moves[0][0]}
    best = (-1, -1, -1, -1, -1)
    for i, ph in enumerate(p.program.phases):
        if not ph.is_green:
            continue
        state = ph.state
        moves = sum(1 for links in by_move if any(state[k] in "Gg" for k in links))
        on = sum(1 for k in wanted if k < len(state) and state[k] == "G")
        flushed = sum(1 for k in flush if k < len(state) and state[k] in "Gg")
        side = sum(1 for k in approach if k < len(state) and state[k] in "Gg")
        score = (moves, on, flushed, side, -i)
        if score > best:
            best = score
    if best[0] < len(by_move):
        base = "r" * len(p.program.phases[0].state)
        return -1, "".join("G" if k in wanted | flush else c for k, c in enumerate(base))
    index = -best[4]
    return index, p.program.phases[index].state


def clearance_times(program: Program) -> tuple[float, float]:
    """Return a program's (yellow, all-red) seconds: its longest, else 3 s and 1 s."""
    yellows = [ph.duration for ph in program.phases if any(c in "yY" for c in ph.state)]
    reds = [
        ph.duration
        for ph in program.phases
        if ph.state and not any(c in "GgyYu" for c in ph.state) and ph.duration < 10
    ]
    return (max(yellows) if yellows else DEFAULT_YELLOW_S, max(reds) if reds else DEFAULT_ALL_RED_S)


def build_preemptions(
    net: Network, edges: list[str], windows: list[PreemptionWindow]
) -> list[Preemption]:
    """Return one pre-emption per signal window along ``edges`` (windows in route order).

    A window's ``intersection_id`` is a SUMO tls id and its ``approach`` a SUMO edge of
    ``edges``; windows of signals the network does not control are left out.
    """
    plans: list[Preemption] = []
    for w in windows:
        if w.intersection_id not in net.programs or w.approach not in edges:
            continue
        at = edges.index(w.approach)
        if at + 1 >= len(edges):
            continue
        move = (w.approach, edges[at + 1])
        last = plans[-1] if plans else None
        if last is not None and last.window.intersection_id == w.intersection_id:
            # The route crosses a joined signal twice in a row (a short lane between its
            # junctions): one window must green both, or the vehicle waits at the first stop
            # line behind traffic stopped at the second.
            last.moves.append(move)
            last.window = replace(last.window, green_until_s=w.green_until_s)
            continue
        plans.append(Preemption(window=w, moves=[move], program=net.programs[w.intersection_id]))
    for p in plans:
        p.target_phase, p.target_state = _target_phase(net, p)
        p.yellow_s, p.all_red_s = clearance_times(p.program)
    return plans


def _hand_back(sim: Any, p: Preemption, holder: SignalHolder | None) -> None:
    tl = sim.trafficlight
    tls = p.window.intersection_id
    if p.restore_program and p.restore_program != "online":
        tl.setProgram(tls, p.restore_program)
        if p.target_phase >= 0:
            tl.setPhase(tls, p.target_phase)
    if holder is not None:
        holder.hold(tls, False)


def advance_preemptions(
    sim: Any,
    plans: list[Preemption],
    *,
    rel: float,
    route_index: int,
    edges: list[str],
    holder: SignalHolder | None,
) -> None:
    """Move each pre-emption on one step: ``rel`` s after dispatch, vehicle at ``route_index``.

    Each signal runs yellow -> all-red -> green from its window's start (less the transition),
    holds green until the window closed and the vehicle passed (at most ``_MAX_EXTRA_HOLD_S``
    longer), then goes back to its program and ``holder``.
    """
    now = sim.simulation.getTime()
    tl = sim.trafficlight
    for p in plans:
        tls = p.window.intersection_id
        busy = any(
            q is not p and q.window.intersection_id == tls and q.stage in
            ("yellow", "all_red", "green") for q in plans
        )  # fmt: skip
        if p.stage == "pending":
            lead = p.yellow_s + p.all_red_s
            if rel >= p.window.green_from_s - lead and not busy:
                if holder is not None:
                    holder.hold(tls, True)
                earlier = [
                    q
                    for q in plans
                    if q is not p
                    and q.window.intersection_id == tls
                    and q.stage == "done"
                    and q.restore_program
                ]
                p.restore_program = earlier[-1].restore_program if earlier else tl.getProgram(tls)
                p.from_state = tl.getRedYellowGreenState(tls)
                p.stage, p.since = "yellow", now
                p.shown["requested_s"] = round(rel, 1)
                tl.setRedYellowGreenState(
                    tls, transition_state(p.from_state, p.target_state, StepKind.yellow)
                )
        elif p.stage == "yellow" and now - p.since >= p.yellow_s:
            p.stage, p.since = "all_red", now
            tl.setRedYellowGreenState(
                tls, transition_state(p.from_state, p.target_state, StepKind.all_red)
            )
        elif p.stage == "all_red" and now - p.since >= p.all_red_s:
            p.stage, p.since = "green", now
            p.shown["green_s"] = round(rel, 1)
            tl.setRedYellowGreenState(tls, p.target_state)
        elif p.stage == "green":
            passed = route_index > edges.index(p.moves[-1][0])
            if passed and "passed_s" not in p.shown:
                p.shown["passed_s"] = round(rel, 1)
            closed = rel >= p.window.green_until_s
            if (passed and closed) or rel >= p.window.green_until_s + _MAX_EXTRA_HOLD_S:
                p.stage = "done"
                p.shown["released_s"] = round(rel, 1)
                follows = any(
                    q.stage == "pending" and q.window.intersection_id == tls for q in plans
                )
                if follows:
                    # The route crosses the same joined signal again: go straight on to that
                    # window's transition instead of handing back to the program.
                    continue
                _hand_back(sim, p, holder)


def stop_line_times(
    net: Network, edges: list[str], *, index: int, pos: float, max_speed: float
) -> dict[str, float]:
    """Return the seconds from a vehicle to the end of each route edge still ahead.

    The vehicle is ``pos`` metres along ``edges[index]`` (0 while it crosses a junction into
    it); an edge's end is the stop line of the signal that follows it. The times are the
    free-flow link times plus the junction and turn delays of `shared.traffic.eta` for the
    junctions still ahead (the vehicle is moving: no start-up delay).
    """
    start = max(0, index)
    if start >= len(edges):
        return {}
    rest = edges[start:]
    hops = route_hops(net, rest, max_speed=max_speed, start_pos=pos if start == index else 0.0)
    ahead: dict[str, float] = {}
    for edge, t in zip(rest, route_eta(hops, from_standstill=False).stop_line_s, strict=True):
        ahead.setdefault(edge, t)
    return ahead


# Below this the live estimate and the window agree: no re-timing, so the window holds still.
_RETIME_MIN_S = 1.0


def retime_preemptions(
    plans: list[Preemption], *, rel: float, time_to_stop_line: dict[str, float]
) -> None:
    """Move each signal's window that has not started to the vehicle's live ETA at its stop line.

    A plan's windows come from the ETA at dispatch; a unit that is held up (or faster) would
    otherwise find its green long over, or hold cross traffic on red for nothing. As the AVL
    position of a real unit does for GPS-based pre-emption, the live ETA to each stop line
    (``time_to_stop_line``, by approach edge, seconds from now: `stop_line_times`) re-times a
    pending window, keeping its lead and its length. ``shown`` keeps the planned ETA and the
    last re-timed one.
    """
    for p in plans:
        if p.stage != "pending":
            continue
        left = time_to_stop_line.get(p.window.approach)
        if left is None:
            continue
        shift = rel + left - p.window.eta_s
        if abs(shift) < _RETIME_MIN_S:
            continue
        w = p.window
        p.shown.setdefault("planned_eta_s", round(w.eta_s, 1))
        p.window = replace(
            w,
            eta_s=w.eta_s + shift,
            green_from_s=max(0.0, w.green_from_s + shift),
            green_until_s=w.green_until_s + shift,
        )
        p.shown["retimed_eta_s"] = round(p.window.eta_s, 1)


def release_preemptions(
    sim: Any, plans: list[Preemption], *, holder: SignalHolder | None, rel: float
) -> int:
    """End every pre-emption now (an abort): signals in transition or green go back at once.

    Returns how many signals were handed back.
    """
    released = 0
    for p in plans:
        if p.stage in ("yellow", "all_red", "green"):
            _hand_back(sim, p, holder)
            p.shown["released_s"] = round(rel, 1)
            released += 1
        p.stage = "done"
    return released


def _drive(
    sim: Any,
    net: Network,
    edges: list[str],
    *,
    dispatch_s: float,
    stop_s: float,
    preempt: bool,
    platform: PlatformControl | None,
) -> tuple[float, list[Preemption]]:
    while sim.simulation.getTime() < dispatch_s:
        if platform is not None:
            platform.step()
        sim.simulationStep()
    max_speed = add_emergency_type(sim)
    sim.route.add(_ROUTE, edges)
    sim.vehicle.add(_VEHICLE, _ROUTE, typeID=_VTYPE, depart="now", departLane="best",
                    departSpeed="max")  # fmt: skip
    departed_at: float | None = None
    plans: list[Preemption] = []
    while sim.simulation.getTime() < stop_s:
        now = sim.simulation.getTime()
        if platform is not None and math.isclose(now, round(now)):
            platform.step()
        sim.simulationStep()
        now = sim.simulation.getTime()
        if departed_at is None and _VEHICLE in sim.simulation.getDepartedIDList():
            departed_at = now
            if preempt:
                stops = emergency_stops(
                    net, edges, max_speed=max_speed,
                    start_pos=sim.vehicle.getLanePosition(_VEHICLE),
                )  # fmt: skip
                plans = build_preemptions(net, edges, plan_preemption(stops))
        if _VEHICLE in sim.simulation.getArrivedIDList():
            assert departed_at is not None
            return now - departed_at, plans
        if departed_at is None or not plans:
            continue
        try:
            route_index = sim.vehicle.getRouteIndex(_VEHICLE)
            road = sim.vehicle.getRoadID(_VEHICLE)
            pos = sim.vehicle.getLanePosition(_VEHICLE)
        except Exception:  # the vehicle left the network this step
            route_index, road, pos = len(edges), "", 0.0
        if route_index < len(edges):
            on_edge = road == edges[route_index]
            ahead = stop_line_times(
                net, edges, index=route_index if on_edge else route_index + 1,
                pos=pos if on_edge else 0.0, max_speed=max_speed,
            )  # fmt: skip
            retime_preemptions(plans, rel=now - departed_at, time_to_stop_line=ahead)
        advance_preemptions(
            sim, plans, rel=now - departed_at, route_index=route_index, edges=edges,
            holder=platform,
        )  # fmt: skip
    raise ScenarioError(
        f"the emergency vehicle did not arrive by t={stop_s:g} s; try a later --end"
    )


def run_emergency(
    *,
    sumocfg: str | Path,
    controller: Controller | str = Controller.fixed,
    seed: int = 42,
    dispatch_s: float | None = None,
) -> EmergencyResult:
    """Drive one emergency vehicle with and without pre-emption and compare travel times."""
    ctrl = Controller(controller)
    scenario, net, files = open_scenario(sumocfg)
    dispatch = float(dispatch_s if dispatch_s is not None else scenario.begin + 300.0)
    if not math.isfinite(dispatch) or dispatch < scenario.begin:
        raise ValueError(
            f"--dispatch ({dispatch:g}) must be at or after the scenario's begin "
            f"({scenario.begin:g})"
        )
    started = time.perf_counter()
    horizon = dispatch + 3600.0
    args = sumo_args(files, controller=ctrl, end=horizon, seed=seed, begin=scenario.begin)
    with running(args) as sim:
        max_speed = add_emergency_type(sim)
        edges = choose_route(sim, net, seed=seed)
    stops = emergency_stops(net, edges, max_speed=max_speed)
    free_flow = sum(_edge_free_time(net, e, max_speed) for e in edges)
    length = sum(net.lane_length[net.edge_lanes[e][0]] for e in edges if net.edge_lanes.get(e))
    times: dict[bool, float] = {}
    plans: list[Preemption] = []
    for preempt in (False, True):
        with running(args) as sim:
            platform = PlatformControl(sim, net) if ctrl is Controller.platform else None
            times[preempt], used = _drive(
                sim, net, edges, dispatch_s=dispatch, stop_s=horizon, preempt=preempt,
                platform=platform,
            )  # fmt: skip
            if preempt:
                plans = used
    without, with_ = times[False], times[True]
    return EmergencyResult(
        scenario=str(scenario.sumocfg),
        controller=ctrl.value,
        seed=seed,
        dispatch_s=dispatch,
        route_length_m=round(length, 1),
        route_edges=len(edges),
        signals_on_route=len(stops),
        free_flow_time_s=round(free_flow, 1),
        travel_time_s_without=round(without, 2),
        travel_time_s_with=round(with_, 2),
        reduction=round((without - with_) / without, 4) if without > 0 else 0.0,
        junctions_preempted=[
            {
                "intersection_id": p.window.intersection_id,
                "approach": p.window.approach,
                "approaches": [a for a, _b in p.moves],
                "eta_s": p.window.eta_s,
                "green_from_s": round(p.window.green_from_s, 2),
                "green_until_s": round(p.window.green_until_s, 2),
                **p.shown,
            }
            for p in plans
        ],
        wall_s=round(time.perf_counter() - started, 2),
    )
