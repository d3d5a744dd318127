"""Tests for shared.traffic.preemption: the green windows follow from the ETA."""

from __future__ import annotations

import math

import pytest

from shared.traffic.preemption import PreemptionStop, PreemptionWindow, plan_preemption


def test_defaults_worked_by_hand() -> None:
    # eta 100 s: lead = 5 + 8 + 0.15 * 100 = 28 s -> green from 72 s; hold 6 s -> until 106 s.
    [window] = plan_preemption([PreemptionStop("7", "seg-12", 100.0)])
    assert window == PreemptionWindow("7", "seg-12", 100.0, 72.0, 106.0)


def test_early_stop_is_clamped_at_dispatch() -> None:
    # eta 10 s: lead = 13 + 1.5 = 14.5 s > eta, so the approach goes green at once.
    [window] = plan_preemption([PreemptionStop("a", "e1", 10.0)])
    assert window.green_from_s == 0.0
    assert window.green_until_s == 16.0


@pytest.mark.parametrize("eta", [0.0, 13.0, 30.0, 61.5, 240.0, 900.0])
@pytest.mark.parametrize(
    ("clearance", "flush", "hold", "unc"), [(5.0, 8.0, 6.0, 0.15), (4.0, 0.0, 10.0, 0.0)]
)
def test_formula_for_any_eta(
    eta: float, clearance: float, flush: float, hold: float, unc: float
) -> None:
    [window] = plan_preemption(
        [PreemptionStop("x", "y", eta)],
        clearance_s=clearance,
        queue_flush_s=flush,
        hold_s=hold,
        eta_uncertainty=unc,
    )
    assert math.isclose(window.green_from_s, max(0.0, eta - (clearance + flush + unc * eta)))
    assert math.isclose(window.green_until_s, eta + hold)
    assert window.green_from_s <= window.eta_s <= window.green_until_s


def test_order_and_ids_preserved_and_later_stops_get_wider_margins() -> None:
    stops = [PreemptionStop(str(i), f"s{i}", eta) for i, eta in enumerate([20.0, 60.0, 140.0])]
    windows = plan_preemption(stops)
    assert [(w.intersection_id, w.approach) for w in windows] == [
        ("0", "s0"),
        ("1", "s1"),
        ("2", "s2"),
    ]
    leads = [w.eta_s - w.green_from_s for w in windows]
    assert leads == sorted(leads) and leads[0] < leads[-1]


def test_empty_route_gives_no_windows() -> None:
    assert plan_preemption([]) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"clearance_s": -1.0}, "clearance_s"),
        ({"hold_s": math.nan}, "hold_s"),
        ({"eta_uncertainty": 1.0}, "eta_uncertainty must be below 1"),
        ({"queue_flush_s": math.inf}, "queue_flush_s"),
    ],
)
def test_bad_parameters_are_rejected(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan_preemption([PreemptionStop("a", "b", 30.0)], **kwargs)


def test_negative_eta_names_the_stop() -> None:
    with pytest.raises(ValueError, match=r"stops\[1\]\.eta_s"):
        plan_preemption([PreemptionStop("a", "b", 3.0), PreemptionStop("c", "d", -2.0)])
