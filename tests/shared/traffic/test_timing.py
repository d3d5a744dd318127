"""Webster fixed-time plans checked against hand-worked examples."""

from __future__ import annotations

import math

import pytest

from shared.traffic.timing import (
    PhaseDemand,
    pedestrian_min_green,
    webster_delay,
    webster_optimum_cycle,
    webster_plan,
)


def test_two_phase_exam_example_cycle_greens_and_delay() -> None:
    """GATE CE (IIT) exam problem on Webster's method, solved by hand.

    N-S critical flow 1000 veh/h, saturation 2500 -> y1 = 0.4; E-W 900 veh/h, saturation
    3000 -> y2 = 0.3; total lost time L = 12 s (6 s per phase); published answer C0 = 77 s.
    By hand:
      C0 = (1.5 * 12 + 5) / (1 - 0.7) = 23 / 0.3 = 76.67 s -> 77 s
      effective green G = 77 - 12 = 65 s; g1 = 65 * 0.4 / 0.7 = 37.14 s, g2 = 27.86 s
      phase 1 delay: lambda = 37.143 / 77 = 0.4824, q = 0.27778 veh/s, s = 0.69444 veh/s,
        x = q / (lambda s) = 0.8292
        uniform  = 77 (1 - 0.4824)^2 / (2 (1 - 0.4824 * 0.8292))   = 17.19 s
        random   = 0.8292^2 / (2 * 0.27778 * (1 - 0.8292))          =  7.25 s
        correct. = 0.65 (77 / 0.27778^2)^(1/3) 0.8292^(2 + 5 * 0.4824) = 2.84 s
        d1 = 17.19 + 7.25 - 2.84 = 21.60 s
    """
    plan = webster_plan(
        [PhaseDemand("NS", 1000, 2500), PhaseDemand("EW", 900, 3000)], lost_time_per_phase_s=6.0
    )
    assert plan.optimum_cycle_s == pytest.approx(76.67, abs=0.01)
    assert plan.cycle_s == 77.0
    assert plan.lost_time_s == 12.0
    assert plan.flow_ratio_sum == pytest.approx(0.7)
    ns, ew = plan.phases
    assert ns.green_s == pytest.approx(37.14, abs=0.01)
    assert ew.green_s == pytest.approx(27.86, abs=0.01)
    assert ns.green_s + ew.green_s + plan.lost_time_s == pytest.approx(plan.cycle_s)
    # Proportional splits give both phases the same degree of saturation, Y * C / (C - L).
    assert ns.degree_of_saturation == pytest.approx(0.7 * 77 / 65)
    assert ew.degree_of_saturation == pytest.approx(ns.degree_of_saturation)
    assert ns.delay_s == pytest.approx(21.60, abs=0.02)
    assert plan.expected_delay_s is not None
    lo, hi = sorted([ns.delay_s or 0.0, ew.delay_s or 0.0])
    assert lo < plan.expected_delay_s < hi
    assert plan.notes == ()


def test_equal_saturation_example_gives_58_s() -> None:
    # Flows 500 and 300 pcu/h, saturation 1600 each, L = 16 s: Y = 800 / 1600 = 0.5,
    # C0 = (1.5 * 16 + 5) / 0.5 = 58 s; G = 42 s split 500:300 -> 26.25 s and 15.75 s.
    plan = webster_plan(
        [PhaseDemand("A", 500, 1600), PhaseDemand("B", 300, 1600)], lost_time_per_phase_s=8.0
    )
    assert plan.cycle_s == 58.0
    assert [p.green_s for p in plan.phases] == pytest.approx([26.25, 15.75])


def test_pedestrian_minimum_green_hcm() -> None:
    # 3.2 s start-up + 14.4 m / 1.2 m/s = 3.2 + 12 = 15.2 s; 10 pedestrians add 2.7 s.
    assert pedestrian_min_green(14.4) == pytest.approx(15.2)
    assert pedestrian_min_green(14.4, peds_per_cycle=10) == pytest.approx(17.9)
    assert pedestrian_min_green(0.0) == 0.0


def test_minimum_greens_and_pedestrians_lengthen_the_cycle() -> None:
    # Light demand: C0 = (1.5 * 8 + 5) / (1 - 0.3667) = 26.8 s -> 30 s minimum; phase A's
    # pedestrians need 15.2 s and B's vehicles 7 s, so the cycle must be 8 + 22.2 -> 31 s.
    plan = webster_plan([PhaseDemand("A", 600, 1800, crossing_m=14.4), PhaseDemand("B", 60, 1800)])
    a, b = plan.phases
    assert plan.cycle_s == 31.0
    assert b.green_s == pytest.approx(7.0)
    assert a.green_s == pytest.approx(16.0)
    assert a.green_s >= a.min_green_s == pytest.approx(15.2)
    assert any("minimum greens" in n for n in plan.notes)
    assert any("'B' held at its minimum" in n for n in plan.notes)


def test_cycle_is_capped_and_oversaturation_is_flagged() -> None:
    capped = webster_plan([PhaseDemand("A", 1500, 1800), PhaseDemand("B", 100, 1800)])
    # Y = 0.889: C0 = 17 / 0.111 = 153 s > 120 s.
    assert capped.optimum_cycle_s == pytest.approx(153.0)
    assert capped.cycle_s == 120.0
    assert any("capped" in n for n in capped.notes)

    over = webster_plan([PhaseDemand("A", 1500, 1800), PhaseDemand("B", 600, 1800)])
    assert over.optimum_cycle_s is None
    assert over.cycle_s == 120.0
    assert over.expected_delay_s is None
    assert any("oversaturated" in n for n in over.notes)


def test_webster_delay_limits() -> None:
    # No flow: only the uniform term C (1 - lambda)^2 / 2 = 60 * 0.25 / 2 = 7.5 s.
    assert webster_delay(cycle_s=60, green_s=30, flow_vph=0, saturation_vph=1800) == 7.5
    light = webster_delay(cycle_s=60, green_s=30, flow_vph=100, saturation_vph=1800)
    heavy = webster_delay(cycle_s=60, green_s=30, flow_vph=850, saturation_vph=1800)
    assert 7.0 < light < heavy
    with pytest.raises(ValueError, match="degree of saturation"):
        webster_delay(cycle_s=60, green_s=30, flow_vph=900, saturation_vph=1800)
    with pytest.raises(ValueError, match="exceeds cycle"):
        webster_delay(cycle_s=60, green_s=61, flow_vph=100, saturation_vph=1800)


@pytest.mark.parametrize(
    ("phases", "kwargs", "message"),
    [
        ([], {}, "at least one phase"),
        ([PhaseDemand("A", 1, 1800), PhaseDemand("A", 1, 1800)], {}, "unique"),
        ([PhaseDemand("A", -1, 1800)], {}, "flow_vph"),
        ([PhaseDemand("A", 1, 0)], {}, "saturation_vph"),
        ([PhaseDemand("A", 1, 1800)], {"min_cycle_s": 90, "max_cycle_s": 60}, "exceeds"),
    ],
)
def test_bad_input(phases: list[PhaseDemand], kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        webster_plan(phases, **kwargs)


def test_optimum_cycle_rejects_oversaturation() -> None:
    assert math.isclose(webster_optimum_cycle(lost_time_s=10, flow_ratio_sum=0.5), 40.0)
    with pytest.raises(ValueError, match="oversaturated"):
        webster_optimum_cycle(lost_time_s=10, flow_ratio_sum=1.0)
