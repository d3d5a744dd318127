"""Tests for shared.traffic.derived."""

from __future__ import annotations

import itertools
import math

import pytest

from shared.traffic.derived import (
    CONGESTION_LEVELS,
    congestion_level,
    incident_probability,
    vehicles_per_hour,
)

# --------------------------------------------------------------------------------------------
# vehicles_per_hour
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "interval_s", "expected"),
    [
        (0, 60.0, 0.0),
        (10, 60.0, 600.0),  # 10 * 3600 / 60
        (25, 300.0, 300.0),  # 25 * 3600 / 300
        (1, 3600.0, 1.0),
        (7, 20.0, 1260.0),  # 7 * 180
        (3, 7.5, 1440.0),  # 3 * 480
        (100, 900, 400.0),  # int interval accepted
    ],
)
def test_vehicles_per_hour(count: int, interval_s: float, expected: float) -> None:
    assert vehicles_per_hour(count, interval_s) == pytest.approx(expected)


@pytest.mark.parametrize("interval_s", [0.0, -60.0, math.nan, math.inf])
def test_vehicles_per_hour_rejects_bad_interval(interval_s: float) -> None:
    with pytest.raises(ValueError):
        vehicles_per_hour(10, interval_s)


def test_vehicles_per_hour_rejects_negative_count() -> None:
    with pytest.raises(ValueError):
        vehicles_per_hour(-1, 60.0)


def test_vehicles_per_hour_rejects_fractional_count() -> None:
    with pytest.raises(TypeError):
        vehicles_per_hour(2.5, 60.0)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# congestion_level
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("speed", "expected"),
    [
        (120.0, "FREE_FLOW"),
        (45.0, "FREE_FLOW"),
        (44.99, "LIGHT"),
        (30.0, "LIGHT"),
        (29.99, "MODERATE"),
        (15.0, "MODERATE"),
        (14.99, "HEAVY"),
        (5.0, "HEAVY"),
        (4.99, "SEVERE"),
        (0.0, "SEVERE"),
        (45, "FREE_FLOW"),
    ],
)
def test_congestion_level_edges(speed: float, expected: str) -> None:
    assert congestion_level(speed) == expected


def test_congestion_levels_constant() -> None:
    assert CONGESTION_LEVELS == ("SEVERE", "HEAVY", "MODERATE", "LIGHT", "FREE_FLOW")


@pytest.mark.parametrize("speed", [-0.1, math.nan, math.inf])
def test_congestion_level_rejects_bad_speed(speed: float) -> None:
    with pytest.raises(ValueError):
        congestion_level(speed)


# --------------------------------------------------------------------------------------------
# incident_probability
# --------------------------------------------------------------------------------------------


def test_incident_probability_reference_points() -> None:
    # z = -6 + 5 * drop + 5 * occupancy_fraction; p = 1 / (1 + e^-z)
    # free flow, empty: z = -6 -> 1 / (1 + e^6) = 0.0024726
    assert incident_probability(100.0, 100.0, 0.0) == pytest.approx(0.0024726, abs=1e-6)
    # half speed, 30 %: z = -6 + 2.5 + 1.5 = -2 -> 1 / (1 + e^2) = 0.1192029
    assert incident_probability(50.0, 100.0, 30.0) == pytest.approx(0.1192029, abs=1e-6)
    # standstill, 100 %: z = 4 -> 1 / (1 + e^-4) = 0.9820138
    assert incident_probability(0.0, 100.0, 100.0) == pytest.approx(0.9820138, abs=1e-6)
    # drop 0.8, occupancy 50 %: z = -6 + 4 + 2.5 = 0.5 -> 0.6224593
    assert incident_probability(20.0, 100.0, 50.0) == pytest.approx(0.6224593, abs=1e-6)


def test_incident_probability_above_free_flow_counts_as_no_drop() -> None:
    assert incident_probability(130.0, 100.0, 10.0) == incident_probability(100.0, 100.0, 10.0)


def test_incident_probability_is_monotone() -> None:
    speeds = [0.0, 5.0, 10.0, 20.0, 35.0, 50.0, 70.0, 90.0, 100.0, 120.0]
    occupancies = [0.0, 5.0, 10.0, 20.0, 35.0, 50.0, 75.0, 100.0]
    for occupancy in occupancies:
        by_speed = [incident_probability(s, 100.0, occupancy) for s in speeds]
        assert all(a >= b for a, b in itertools.pairwise(by_speed))
    for speed in speeds:
        by_occupancy = [incident_probability(speed, 100.0, o) for o in occupancies]
        assert all(a <= b for a, b in itertools.pairwise(by_occupancy))
    # strictly rising while the speed is below free flow
    assert incident_probability(40.0, 100.0, 20.0) > incident_probability(60.0, 100.0, 20.0)
    assert incident_probability(60.0, 100.0, 40.0) > incident_probability(60.0, 100.0, 20.0)


def test_incident_probability_in_unit_interval() -> None:
    for speed in (0.0, 50.0, 200.0):
        for occupancy in (0.0, 50.0, 100.0):
            p = incident_probability(speed, 60.0, occupancy)
            assert 0.0 <= p <= 1.0


@pytest.mark.parametrize(
    ("speed", "free_flow", "occupancy"),
    [
        (-1.0, 100.0, 10.0),
        (50.0, 0.0, 10.0),
        (50.0, -10.0, 10.0),
        (50.0, 100.0, -0.1),
        (50.0, 100.0, 100.1),
        (math.nan, 100.0, 10.0),
        (50.0, math.inf, 10.0),
        (50.0, 100.0, math.nan),
    ],
)
def test_incident_probability_rejects_bad_input(
    speed: float, free_flow: float, occupancy: float
) -> None:
    with pytest.raises(ValueError):
        incident_probability(speed, free_flow, occupancy)
