"""Traffic measures derived from raw detector counts, speeds and occupancy."""

from __future__ import annotations

import math
import operator
from typing import Final

__all__ = [
    "CONGESTION_LEVELS",
    "congestion_level",
    "incident_probability",
    "vehicles_per_hour",
]

_SECONDS_PER_HOUR: Final[float] = 3600.0


def _finite(name: str, value: float) -> float:
    as_float = float(value)
    if not math.isfinite(as_float):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return as_float


def vehicles_per_hour(count: int, interval_s: float) -> float:
    """Return the hourly flow rate of ``count`` vehicles counted over ``interval_s`` seconds.

    Raises:
        ValueError: negative count, or an interval that is not a positive finite number.
        TypeError: count is not an integer (vehicles are counted, not measured).
    """
    vehicles = operator.index(count)
    if vehicles < 0:
        raise ValueError(f"count must not be negative, got {vehicles}")
    interval = _finite("interval_s", interval_s)
    if interval <= 0.0:
        raise ValueError(f"interval_s must be positive, got {interval_s!r}")
    return vehicles * _SECONDS_PER_HOUR / interval


CONGESTION_LEVELS: Final[tuple[str, ...]] = ("SEVERE", "HEAVY", "MODERATE", "LIGHT", "FREE_FLOW")

# Lower speed bounds (km/h) of HEAVY, MODERATE, LIGHT and FREE_FLOW. They are fixed urban
# arterial bands (not relative to a link's free-flow speed) so maps read the same everywhere;
# anything under 5 km/h is effectively stop-and-go.
_CONGESTION_LOWER_KMH: Final[tuple[float, ...]] = (5.0, 15.0, 30.0, 45.0)


def congestion_level(avg_speed_kmh: float) -> str:
    """Return the congestion level of a mean speed in km/h.

    FREE_FLOW >= 45 > LIGHT >= 30 > MODERATE >= 15 > HEAVY >= 5 > SEVERE.

    Raises:
        ValueError: negative, NaN or infinite speed.
    """
    speed = _finite("avg_speed_kmh", avg_speed_kmh)
    if speed < 0.0:
        raise ValueError(f"avg_speed_kmh must not be negative, got {avg_speed_kmh!r}")
    level = CONGESTION_LEVELS[0]
    for candidate, lower in zip(CONGESTION_LEVELS[1:], _CONGESTION_LOWER_KMH, strict=True):
        if speed >= lower:
            level = candidate
    return level


# Incident score: p = 1 / (1 + exp(-(B0 + B_SPEED * drop + B_OCCUPANCY * occupancy))), with
# drop = 1 - speed / free_flow clipped to [0, 1] and occupancy as a fraction of time the
# detector is occupied. The shape follows the classic detector-based incident algorithms
# (California algorithm family, McMaster): incidents show as a speed collapse together with
# high occupancy upstream, and each signal alone is weaker evidence (low speed with low
# occupancy is often just a slow vehicle; high occupancy at speed is dense but moving traffic).
# The coefficients are an uncalibrated prior chosen to give:
#   free flow, empty road            -> ~0.002
#   half speed, 30 % occupancy       -> ~0.12
#   standstill, 100 % occupancy      -> ~0.98
# and must be refitted against the city's incident log before the score is used for dispatch.
_B0: Final[float] = -6.0
_B_SPEED: Final[float] = 5.0
_B_OCCUPANCY: Final[float] = 5.0


def incident_probability(speed_kmh: float, free_flow_kmh: float, occupancy_pct: float) -> float:
    """Return a 0..1 incident likelihood score for a detector or link.

    Monotone: never increases with ``speed_kmh`` and never decreases with ``occupancy_pct``.
    Speeds at or above ``free_flow_kmh`` count as no drop.

    Raises:
        ValueError: non-finite inputs, negative speed, non-positive free-flow speed, or
            occupancy outside 0..100 %.
    """
    speed = _finite("speed_kmh", speed_kmh)
    free_flow = _finite("free_flow_kmh", free_flow_kmh)
    occupancy = _finite("occupancy_pct", occupancy_pct)
    if speed < 0.0:
        raise ValueError(f"speed_kmh must not be negative, got {speed_kmh!r}")
    if free_flow <= 0.0:
        raise ValueError(f"free_flow_kmh must be positive, got {free_flow_kmh!r}")
    if not 0.0 <= occupancy <= 100.0:
        raise ValueError(f"occupancy_pct must be within 0..100, got {occupancy_pct!r}")
    drop = min(1.0, max(0.0, 1.0 - speed / free_flow))
    z = _B0 + _B_SPEED * drop + _B_OCCUPANCY * occupancy / 100.0
    return 1.0 / (1.0 + math.exp(-z))
