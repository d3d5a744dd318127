"""`twin run` follows the platform: an approved pre-emption plan drives a unit through the
generated grid with its green windows, the actual stop-line times land in the after-action
report, and a pushed signal plan becomes the light's SUMO program.

The grid is imported into the road graph (far from the seeded Adlershof city, so neither routes
nor snapping ever meet) and removed afterwards: the twin reads committed rows, as in production.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner
from sqlalchemy import Engine, select, text

from shared.cli import main
from shared.db import session_scope
from shared.geo import lonlat
from shared.incidents.flows import dispatch_with_preemption, propose_dispatch
from shared.incidents.models import PlanStatus, PreemptionPlan, Unit, UnitKind
from shared.incidents.schemas import IncidentCreate, UnitCreate
from shared.incidents.service import (
    abort_plan,
    create_incident,
    create_unit,
    report_after_action,
)
from shared.realtime import TWIN_ROOM, Fanout
from shared.roads.models import Intersection
from shared.seed.demo import import_road_network
from shared.stack import StackState
from shared.traffic.models import SignalPlan, SignalPlanStatus
from shared.traffic.service import approve_signal_plan
from shared.twin.evaluate import open_scenario
from shared.twin.live import SIGNAL_PLAN_APPLIED, UNIT_PROGRESS, plan_program
from shared.twin.run import run_twin
from shared.twin.service import PushedPlan

pytestmark = pytest.mark.stack

# netgenerate's grid has no projection: place its metres on a flat patch far from Adlershof.
ORIGIN = (10.0, 50.0)
UNIT_CODE = "TWL-1"


def _to_lonlat(x: float, y: float) -> tuple[float, float]:
    return (
        ORIGIN[0] + x / (111_320.0 * math.cos(math.radians(ORIGIN[1]))),
        ORIGIN[1] + y / 110_574.0,
    )


@pytest.fixture
def grid_roads(engine: Engine, grid_cfg: Path) -> Iterator[dict[str, int]]:
    """The grid's junctions and edges as committed road-graph rows; deleted afterwards."""
    with session_scope(engine) as session:
        nodes = import_road_network(
            session=session, net_path=grid_cfg.parent / "grid.net.xml", to_lonlat=_to_lonlat
        )
    ids = list(nodes.values())
    try:
        yield nodes
    finally:
        with engine.begin() as c:
            params = {"ids": ids, "code": UNIT_CODE}
            c.execute(text("DELETE FROM preemption_plan WHERE unit_id IN "
                           "(SELECT id FROM unit WHERE code = :code)"), params)  # fmt: skip
            c.execute(text("DELETE FROM unit WHERE code = :code"), params)
            c.execute(text("DELETE FROM incident WHERE type = 'twin-live-test'"), params)
            c.execute(text("DELETE FROM signal_plan WHERE intersection_id = ANY(:ids)"), params)
            c.execute(text("DELETE FROM road_segment WHERE source = ANY(:ids) "
                           "OR target = ANY(:ids)"), params)  # fmt: skip
            c.execute(text("DELETE FROM intersection WHERE id = ANY(:ids)"), params)


@pytest.fixture
def twin_events(stack: StackState) -> Iterator[Any]:
    """Socket.IO events as they leave through the Redis message queue."""
    pubsub = redis.Redis.from_url(stack.redis_url).pubsub()
    pubsub.subscribe("flask-socketio")
    pubsub.get_message(timeout=1)  # the subscribe confirmation
    yield pubsub
    pubsub.close()


def _events(pubsub: Any, event: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        msg = pubsub.get_message(timeout=0.2)
        if msg and msg["type"] == "message":
            data = json.loads(msg["data"])
            if data.get("event") == event and data.get("room") == TWIN_ROOM:
                args = data["data"]  # the emit's arguments: the payload alone here
                found.append(args[0] if isinstance(args, list) else args)
    return found


def _emitter(stack: StackState) -> Any:
    fanout = Fanout(redis_url=stack.redis_url, mqtt_url=None)
    return lambda event, payload: fanout.emit_event(event, payload, room=TWIN_ROOM)


def _node_lonlat(engine: Engine, external_id: str) -> tuple[float, float]:
    with engine.connect() as c:
        row = c.execute(
            text("SELECT ST_X(geom), ST_Y(geom) FROM intersection WHERE external_id = :e"),
            {"e": external_id},
        ).one()
    return float(row[0]), float(row[1])


def _approved_plan(
    engine: Engine, start_node: str, goal_node: str
) -> tuple[int, int, list[str | None], list[float]]:
    """An incident at one grid node, a unit at another, its pre-emption plan approved: the plan
    id, the unit id, the plan's signals and their planned ETAs."""
    start, goal = _node_lonlat(engine, start_node), _node_lonlat(engine, goal_node)
    with session_scope(engine) as session:
        incident = create_incident(
            session=session,
            data=IncidentCreate(type="twin-live-test", priority=1, lon=goal[0], lat=goal[1]),
        )
        unit = create_unit(
            session=session,
            data=UnitCreate(code=UNIT_CODE, kind=UnitKind.ambulance, lon=start[0], lat=start[1]),
        )
        plan = propose_dispatch(
            session=session, unit_id=unit.id, incident_id=incident.id, created_by="op"
        ).plan
        dispatch_with_preemption(session=session, plan_id=plan.id, approved_by="disp")
        return plan.id, unit.id, [s.tls_id for s in plan.steps], [s.eta_s for s in plan.steps]


def test_an_approved_plan_runs_live_in_the_twin(
    stack: StackState, engine: Engine, grid_cfg: Path, grid_roads: dict[str, int], twin_events: Any
) -> None:
    goal = _node_lonlat(engine, "right1")
    plan_id, unit_id, signals, planned = _approved_plan(engine, "left1", "right1")
    # Straight across the middle row: three signals, then the dead end's own light (its
    # turn-around), which the route ends before.
    assert signals == ["A1", "B1", "C1", "right1"]

    summary = run_twin(
        sumocfg=grid_cfg, mqtt_url=stack.mqtt_url, speed=0, end=240, emit=_emitter(stack)
    ).as_dict()

    (run,) = [r for r in summary["preemption_runs"] if r["plan_id"] == plan_id]
    assert run["status"] == "arrived", run
    # Each signal went through yellow and all-red to green before the unit got there.
    assert [p["tls_id"] for p in run["signals_preempted"]] == ["A1", "B1", "C1"]
    for p in run["signals_preempted"]:
        assert p["requested_s"] <= p["green_s"] <= p["passed_s"], p
    with session_scope(engine) as session:
        stored = session.get(PreemptionPlan, plan_id)
        assert stored is not None
        assert stored.status == PlanStatus.completed.value
        actual = [s.actual_arrival_s for s in stored.steps]
        report = report_after_action(session=session, plan_id=plan_id)
        moved = session.get(Unit, unit_id)
        assert moved is not None
        where = lonlat(moved.position)
    dx = (where[0] - goal[0]) * 111_320.0 * math.cos(math.radians(goal[1]))
    position = math.hypot(dx, (where[1] - goal[1]) * 110_574.0)
    # Stop lines in route order, each close to its planned free-flow ETA (the unit had green).
    assert all(a is not None for a in actual)
    assert actual == sorted(actual)
    assert actual == [run["arrivals"][str(n)] for n in (1, 2, 3, 4)]
    for a, p in zip(actual, planned, strict=True):
        assert abs(a - p) < 10, (actual, planned)
    assert report.stops_recorded == 4 and report.stops_in_green >= 3
    assert run["travel_s"] >= actual[-1]
    # The unit's last reported position is where the route ends (the incident's node).
    assert position < 30
    events = _events(twin_events, UNIT_PROGRESS)
    mine = [e for e in events if e["plan_id"] == plan_id]
    assert mine and mine[-1]["status"] == "arrived"
    assert mine[-1]["junctions_passed"] == mine[-1]["junctions_total"] == 4
    assert mine[-1]["after_action"]["stops_in_green"] == report.stops_in_green


@pytest.mark.parametrize("late_by_s", [45.0, -25.0])
def test_windows_follow_the_unit_when_the_plans_eta_is_off(
    stack: StackState,
    engine: Engine,
    grid_cfg: Path,
    grid_roads: dict[str, int],
    late_by_s: float,
) -> None:
    plan_id, _unit, signals, planned = _approved_plan(engine, "left1", "right1")
    # The plan's ETAs (and windows) off by late_by_s: a plan that expects the unit too late
    # (positive) or too early (negative), as a road-graph ETA can be on a real network.
    with engine.begin() as c:
        c.execute(
            text(
                "UPDATE preemption_step SET eta_s = GREATEST(0, eta_s + :d), "
                "green_from_s = GREATEST(0, green_from_s + :d), "
                "green_until_s = GREATEST(0, green_until_s + :d) WHERE plan_id = :p"
            ),
            {"d": late_by_s, "p": plan_id},
        )

        # The lead of each window (green before the ETA: clearance, queue flush, margin).
        lead = [
            float(r[0])
            for r in c.execute(
                text(
                    "SELECT eta_s - green_from_s FROM preemption_step WHERE plan_id = :p "
                    "ORDER BY seq"
                ),
                {"p": plan_id},
            )
        ]

    summary = run_twin(sumocfg=grid_cfg, mqtt_url=stack.mqtt_url, speed=0, end=300).as_dict()

    (run,) = [r for r in summary["preemption_runs"] if r["plan_id"] == plan_id]
    assert run["status"] == "arrived", run
    preempted = run["signals_preempted"]
    assert [p["tls_id"] for p in preempted] == signals[:3]
    # Green all the way: each stop line within a few seconds of the free-flow ETA (a plan
    # expecting the unit 45 s late, followed as planned, holds it at the first red for ~40 s).
    for seq, eta in enumerate(planned[:3], start=1):
        assert abs(run["arrivals"][str(seq)] - eta) < 10, (run["arrivals"], planned)
    for seq, p in enumerate(preempted, start=1):
        arrival = run["arrivals"][str(seq)]
        # The green came up before the unit, and not long before it (a plan expecting it 25 s
        # early, followed as planned, holds the cross traffic on red 25 s more)...
        assert p["green_s"] <= arrival, (p, arrival)
        assert arrival - p["green_s"] < lead[seq - 1] + 10, (p, arrival, lead)
    # ...because each window was re-timed from the unit's position.
    for seq, p in enumerate(preempted, start=1):
        arrival = run["arrivals"][str(seq)]
        assert p["planned_eta_s"] == pytest.approx(max(0.0, planned[seq - 1] + late_by_s), abs=0.2)
        assert abs(p["retimed_eta_s"] - arrival) < 10, (p, arrival)


def test_an_abort_takes_the_unit_out_and_hands_the_signals_back(
    stack: StackState, engine: Engine, grid_cfg: Path, grid_roads: dict[str, int], twin_events: Any
) -> None:
    plan_id, *_rest = _approved_plan(engine, "bottom0", "top2")

    aborted_at: list[float] = []

    def abort_once_moving(event: str, payload: dict[str, Any]) -> None:
        if event == UNIT_PROGRESS and payload["status"] == "en_route" and not aborted_at:
            aborted_at.append(payload["sim_time_s"])
            with session_scope(engine) as session:
                abort_plan(session=session, plan_id=plan_id, aborted_by="disp", reason="recalled")

    summary = run_twin(sumocfg=grid_cfg, mqtt_url=stack.mqtt_url, speed=4, end=40,
                       emit=abort_once_moving).as_dict()  # fmt: skip
    (run,) = [r for r in summary["preemption_runs"] if r["plan_id"] == plan_id]
    assert aborted_at, "the unit never reported en route"
    assert run["status"] == "aborted"
    assert run["travel_s"] is None
    # The first signal's window opens at dispatch (its ETA is within the lead time), so the
    # abort found at least one signal pre-empted; every one that started was handed back.
    assert any("requested_s" in p for p in run["signals_preempted"]), run
    for p in run["signals_preempted"]:
        if "requested_s" in p:
            assert "released_s" in p, p


def _approaches(engine: Engine, node: str) -> dict[str, int]:
    with engine.connect() as c:
        rows = c.execute(
            text("SELECT s.external_id, s.id FROM road_segment s JOIN intersection i "
                 "ON i.id = s.target WHERE i.external_id = :n"), {"n": node}).all()  # fmt: skip
    return {str(e): int(i) for e, i in rows}


def _pushed_plan(engine: Engine, node: str, greens: tuple[float, float], cycle: float) -> int:
    """A two-phase plan for ``node``: west-east approaches, then south-north; approved, then
    pushed with `smartcity traffic push-plan`."""
    into = _approaches(engine, node)
    we = [i for e, i in into.items() if e.startswith(("A", "C")) and e.endswith(node)]
    sn = [i for e, i in into.items() if e not in {k for k, v in into.items() if v in we}]
    assert len(we) == 2 and len(sn) == 2, into
    with session_scope(engine) as session:
        intersection = session.scalar(select(Intersection).where(Intersection.external_id == node))
        assert intersection is not None
        plan = SignalPlan(
            intersection_id=intersection.id, tls_id=intersection.tls_id, version=1,
            status=SignalPlanStatus.draft.value, cycle_s=cycle, lost_time_s=cycle - sum(greens),
            expected_delay_s=None,
            phases=[{"name": "A", "approaches": we, "green_s": greens[0]},
                    {"name": "B", "approaches": sn, "green_s": greens[1]}],
            author="op", created_at=datetime.now(UTC),
        )  # fmt: skip
        session.add(plan)
        session.flush()
        approve_signal_plan(session=session, plan_id=plan.id, approver="op")
        plan_id = plan.id
    pushed = CliRunner().invoke(main, ["traffic", "push-plan", str(plan_id)])
    assert pushed.exit_code == 0, pushed.output
    assert f"signal plan {plan_id} (version 1, tls {node}) pushed: cycle {cycle:.0f} s" in (
        pushed.output
    )
    return plan_id


def test_a_pushed_signal_plan_becomes_the_lights_program(
    stack: StackState, engine: Engine, grid_cfg: Path, grid_roads: dict[str, int], twin_events: Any
) -> None:
    plan_id = _pushed_plan(engine, "B1", greens=(35.0, 17.0), cycle=60.0)
    summary = run_twin(
        sumocfg=grid_cfg, mqtt_url=stack.mqtt_url, speed=0, end=120, emit=_emitter(stack)
    ).as_dict()
    (applied,) = [a for a in summary["signal_plans_applied"] if a["plan_id"] == plan_id]
    assert applied["tls_id"] == "B1"
    # Read back from SUMO: the new program with the plan's cycle and greens...
    assert applied["program_id"] == f"platform_plan_{plan_id}"
    assert applied["cycle_s"] == pytest.approx(60.0)
    greens = [p["duration_s"] for p in applied["phases"] if "y" not in p["state"]
              and any(c in "Gg" for c in p["state"])]  # fmt: skip
    assert greens == [35.0, 17.0]
    # ...still running at the end: the adaptive controller let go of the light.
    assert applied["program_now"] == applied["program_id"]
    with session_scope(engine) as session:
        stored = session.get(SignalPlan, plan_id)
        assert stored is not None
        assert any("applied in the digital twin" in n for n in stored.notes)
    (event,) = [e for e in _events(twin_events, SIGNAL_PLAN_APPLIED) if e["plan_id"] == plan_id]
    assert event["cycle_s"] == pytest.approx(60.0)


def test_plan_program_greens_the_plans_approaches_only(grid_cfg: Path) -> None:
    _scenario, net, _files = open_scenario(grid_cfg)
    links = net.links["B1"]
    west_east = ("A1B1", "C1B1")
    south_north = ("B0B1", "B2B1")
    plan = PushedPlan(plan_id=1, intersection_id=1, tls_id="B1", version=1, cycle_s=70.0,
                      phases=(("A", west_east, 30.0), ("B", south_north, 30.0)),
                      pushed_at=datetime.now(UTC))  # fmt: skip
    phases = plan_program(net, plan)
    assert sum(p.duration for p in phases) == pytest.approx(70.0)
    first, second = phases[0], next(p for p in phases[1:] if p.duration == 30.0)
    for phase, served, other in ((first, west_east, south_north), (second, south_north, west_east)):
        assert any(phase.state[ln.index] in "Gg" for ln in links if ln.from_edge in served)
        assert all(phase.state[ln.index] in "rs" for ln in links if ln.from_edge in other)
    # 5 s of intergreen after each green: the program's yellow, then all-red.
    assert [round(p.duration, 2) for p in phases] == [30.0, 3.0, 2.0, 30.0, 3.0, 2.0]
    with pytest.raises(ValueError, match="none of its approaches"):
        plan_program(net, PushedPlan(plan_id=2, intersection_id=1, tls_id="B1", version=1,
                                     cycle_s=60.0, phases=(("A", ("A0A1",), 30.0),),
                                     pushed_at=datetime.now(UTC)))  # fmt: skip
