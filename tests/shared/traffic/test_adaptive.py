"""The platform's adaptive controller (max-pressure) on hand-made detector readings."""

from __future__ import annotations

import pytest

from shared.traffic.adaptive import (
    AdaptiveTimings,
    DetectorReading,
    LaneMovement,
    MaxPressureController,
    Stage,
    StepKind,
)

# Two stages of a four-arm crossing: 0 serves north-south, 2 serves east-west (phase indices
# as in a SUMO program green, yellow, green, yellow).
NS = Stage(index=0, movements=(LaneMovement("n_in", ("s_out",)), LaneMovement("s_in", ("n_out",))))
EW = Stage(index=2, movements=(LaneMovement("e_in", ("w_out",)), LaneMovement("w_in", ("e_out",))))
TIMINGS = AdaptiveTimings(min_green_s=6, max_green_s=40, yellow_s=3, all_red_s=1,
                          switch_margin_veh=2, extension_override_veh=8)  # fmt: skip


def readings(halting: bool = True, zone: float = 50.0, **vehicles: float) -> dict:
    """Readings for every zone; unnamed zones are empty. halting: all vehicles stand still."""
    ids = ("n_in", "s_in", "e_in", "w_in", "n_out", "s_out", "e_out", "w_out")
    return {
        i: DetectorReading(i, vehicles.get(i, 0.0), zone, vehicles.get(i, 0.0) if halting else 0.0)
        for i in ids
    }


def controller(stages=(NS, EW), timings=TIMINGS) -> MaxPressureController:
    c = MaxPressureController("J1", list(stages), timings)
    c.start(now_s=0.0, stage=0)
    return c


def test_pressure_is_upstream_queue_minus_downstream_load() -> None:
    c = controller()
    # n_in 6 - s_out 2 (same zone length) + s_in 3 - n_out 0 = 7; EW: 4 - 0 + 0 - 0 = 4.
    p = c.pressures(readings(n_in=6, s_out=2, s_in=3, e_in=4))
    assert p == {0: 7.0, 2: 4.0}


def test_downstream_density_scales_to_the_upstream_zone() -> None:
    c = controller()
    r = readings(n_in=5)
    r["s_out"] = DetectorReading("s_out", 2.0, 20.0)  # 0.1 veh/m over a 50 m upstream zone
    assert c.pressures(r)[0] == pytest.approx(5.0 - 5.0)


def test_minimum_green_is_kept_even_under_high_pressure() -> None:
    c = controller()
    r = readings(e_in=20, w_in=20)
    for t in range(6):
        assert c.step(now_s=float(t), readings=r).kind is StepKind.green
        assert c.command.stage == 0


def test_gap_out_runs_yellow_then_all_red_then_the_new_green() -> None:
    c = controller()
    r = readings(e_in=3)  # north-south empty, one queue east
    kinds = [(t, c.step(now_s=float(t), readings=r)) for t in range(6, 12)]
    assert kinds[0][1].kind is StepKind.yellow and kinds[0][1].target == 2
    assert [k.kind for _, k in kinds[:3]] == [StepKind.yellow] * 3  # 3 s yellow
    assert kinds[3][1].kind is StepKind.all_red  # 1 s all-red
    assert kinds[4][1].kind is StepKind.green and kinds[4][1].stage == 2


def test_no_switch_without_anyone_waiting() -> None:
    c = controller()
    for t in range(6, 60):
        assert c.step(now_s=float(t), readings=readings()).stage == 0
    assert c.command.kind is StepKind.green


def test_green_is_extended_while_vehicles_still_move() -> None:
    c = controller()
    moving = readings(halting=False, n_in=3)
    moving.update(readings(e_in=5))  # keep e_in halting, n_in moving
    moving["n_in"] = DetectorReading("n_in", 3.0, 50.0, 0.0)
    moving["e_in"] = DetectorReading("e_in", 5.0, 50.0, 5.0)
    for t in range(6, 20):
        assert c.step(now_s=float(t), readings=moving).kind is StepKind.green
    # ...unless the waiting side's pressure leads by more than the override margin.
    moving["e_in"] = DetectorReading("e_in", 15.0, 50.0, 15.0)
    assert c.step(now_s=20.0, readings=moving).kind is StepKind.yellow


def test_blocked_green_gives_way() -> None:
    # Vehicles stand on the green approach (blocked downstream): serving it longer is useless.
    c = controller()
    r = readings(n_in=4, e_in=1)
    assert c.step(now_s=6.0, readings=r).kind is StepKind.yellow


def test_max_green_forces_a_switch_to_a_waiting_stage() -> None:
    c = controller()
    r = readings(halting=False, n_in=10)
    r["e_in"] = DetectorReading("e_in", 1.0, 50.0, 1.0)
    for t in range(6, 40):
        assert c.step(now_s=float(t), readings=r).kind is StepKind.green
    assert c.step(now_s=40.0, readings=r).kind is StepKind.yellow


def test_undetected_stage_is_served_on_recall_for_its_program_green() -> None:
    blind = Stage(index=2, movements=(), recall_green_s=15.0)
    c = controller(stages=(NS, blind))
    assert c.step(now_s=6.0, readings=readings()).target == 2  # always assumed waiting
    for t in range(7, 11):
        c.step(now_s=float(t), readings=readings())
    assert c.command == c.command.__class__(StepKind.green, 2, 2)
    for t in range(11, 25):
        assert c.step(now_s=float(t), readings=readings(n_in=9)).kind is StepKind.green
    assert c.step(now_s=25.0, readings=readings(n_in=9)).kind is StepKind.yellow


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_green_s": 0}, "min_green_s must be positive"),
        ({"min_green_s": 10, "max_green_s": 5}, "must not be below"),
        ({"yellow_s": float("nan")}, "yellow_s must be a finite number"),
        ({"all_red_s": -1}, "all_red_s must be a finite number"),
    ],
)
def test_bad_timings_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AdaptiveTimings(**kwargs)


def test_stage_errors_are_specific() -> None:
    with pytest.raises(ValueError, match="has no green stage"):
        MaxPressureController("J9", [])
    with pytest.raises(ValueError, match="duplicate stage"):
        MaxPressureController("J9", [NS, NS])
    with pytest.raises(ValueError, match="has no stage 5"):
        controller().start(now_s=0.0, stage=5)
