"""The ETA model's junction, turn and start-up delays, worked by hand."""

from __future__ import annotations

import pytest

from shared.traffic.eta import (
    ETA_PARAMETERS,
    EtaParameters,
    Hop,
    bearing_deg,
    junction_kind,
    route_eta,
    turn_deg,
)

PARAMS = EtaParameters(
    link_factor=0.1,
    start_s_per_ms=0.5,
    stop_s_per_ms=0.2,
    base_s={"signal": 1.0, "priority": 2.0, "yield": 3.0, "through": 0.5},
    turn_right_s_per_ms=0.2,
    turn_left_s_per_ms=0.1,
    turn_right_s=1.0,
    turn_left_s=4.0,
    stop_line_share=0.5,
)
# North 10 s at 10 m/s, right turn at a priority junction, east 20 s at 14 m/s, left turn at
# a signal, north 5 s at 10 m/s.
HOPS = [
    Hop(link_s=10.0, speed_ms=10.0, heading_in_deg=0.0, heading_out_deg=0.0, kind="priority"),
    Hop(link_s=20.0, speed_ms=14.0, heading_in_deg=90.0, heading_out_deg=90.0, kind="signal"),
    Hop(link_s=5.0, speed_ms=10.0, heading_in_deg=0.0, heading_out_deg=0.0, kind="priority"),
]


def test_a_route_by_hand() -> None:
    est = route_eta(HOPS, PARAMS)
    # start 0.5 * 10 = 5; junction 1: 2 + 0.2 * (1 - cos 90) / 2 * min(10, 14) + 1 = 4;
    # junction 2: 1 + 0.1 * 0.5 * 10 + 4 = 5.5; links 1.1 * 35 = 38.5; stop 0.2 * 10 = 2.
    assert est.link_s == pytest.approx(35.0)
    assert est.eta_s == pytest.approx(5 + 38.5 + 4 + 5.5 + 2)
    assert est.delay_s == pytest.approx(est.eta_s - 35.0)
    # Stop lines: the junctions before in full, half of their own (stop_line_share).
    assert est.stop_line_s == pytest.approx((5 + 11 + 2, 5 + 11 + 4 + 22 + 2.75, 5 + 38.5 + 9.5))


def test_a_moving_vehicle_has_no_start_up_delay() -> None:
    moving = route_eta(HOPS, PARAMS, from_standstill=False)
    assert moving.eta_s == pytest.approx(route_eta(HOPS, PARAMS).eta_s - 5.0)


def test_straight_on_costs_only_the_junction_and_a_bend_no_turn() -> None:
    straight = [HOPS[0], HOPS[0]]
    assert route_eta(straight, PARAMS).eta_s == pytest.approx(5 + 22 + 2 + 2)
    # A 20 degree bend: the speed term only ((1 - cos 20) / 2 * 10 * 0.2), no fixed turn cost.
    bend = [HOPS[0], Hop(10.0, 10.0, 20.0, 20.0)]
    extra = route_eta(bend, PARAMS).eta_s - route_eta(straight, PARAMS).eta_s
    assert extra == pytest.approx(0.2 * 10 * (1 - 0.9396926207859084) / 2)


def test_turns_and_bearings() -> None:
    assert turn_deg(350.0, 10.0) == pytest.approx(20.0)  # right, across north
    assert turn_deg(10.0, 350.0) == pytest.approx(-20.0)  # left
    assert turn_deg(0.0, 180.0) == pytest.approx(180.0)  # a U-turn
    assert bearing_deg(0.0, 0.0, 0.0, 5.0) == pytest.approx(0.0)
    assert bearing_deg(0.0, 0.0, -5.0, 0.0) == pytest.approx(270.0)
    # At 60 deg north a degree of longitude is half as long as one of latitude: equal steps in
    # both point 26.6 deg east of north, not 45.
    assert bearing_deg(13.0, 60.0, 13.001, 60.0005, lonlat=True) == pytest.approx(45.0, abs=0.1)
    assert bearing_deg(13.0, 60.0, 13.001, 60.001, lonlat=True) == pytest.approx(26.6, abs=0.1)


def test_junction_kinds() -> None:
    assert junction_kind(signalised=True, node_type="priority", neighbours=4) == "signal"
    assert junction_kind(signalised=False, node_type="traffic_light", neighbours=4) == "signal"
    assert junction_kind(signalised=False, node_type="right_before_left", neighbours=4) == "yield"
    assert junction_kind(signalised=False, node_type="priority", neighbours=3) == "priority"
    assert junction_kind(signalised=False, node_type="priority", neighbours=2) == "through"
    assert junction_kind(signalised=False, node_type=None, neighbours=5) == "priority"


def test_the_fitted_parameters_only_add_time() -> None:
    p = ETA_PARAMETERS
    coefficients = [
        p.link_factor, p.start_s_per_ms, p.stop_s_per_ms, *p.base_s.values(),
        p.turn_right_s_per_ms, p.turn_left_s_per_ms, p.turn_right_s, p.turn_left_s,
    ]  # fmt: skip
    assert all(c >= 0 for c in coefficients) and 0 <= p.stop_line_share <= 1
    est = route_eta(HOPS)
    assert est.eta_s > est.link_s
    assert list(est.stop_line_s) == sorted(est.stop_line_s)
    assert route_eta([]).eta_s == 0.0
