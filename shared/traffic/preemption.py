"""Signal pre-emption windows for an emergency vehicle's route (pure; no database).

Every time here is in seconds, measured from the moment the unit is dispatched.

For each signalised intersection on the route we know the ``eta_s`` at which the vehicle
reaches the stop line on one ``approach``. That approach must already be green, with the
queue ahead of the vehicle gone, by then. Working backwards from the ETA:

``clearance_s``
    The conflicting phase cannot be cut off instantly: it must run its yellow and all-red
    intervals first. 5 s covers a 3-4 s yellow plus 1-2 s all-red, the usual urban range
    (ITE, *Traffic Signal Timing Manual*, ch. 5).
``queue_flush_s``
    Once the approach turns green, the vehicles queued ahead of the unit need time to
    discharge, or the unit arrives behind a standing queue. At a saturation headway of
    about 2 s/veh plus ~2 s start-up lost time, 8 s clears about three vehicles per lane.
``eta_uncertainty * eta_s``
    ETAs are predictions; the further ahead the stop, the wider the error. The margin grows
    linearly with the ETA (15 % by default), so a stop 120 s away gets an extra 18 s while
    the first stop gets almost none. Turning green too early costs cross traffic a few
    seconds; turning green too late costs the emergency run, so the margin is one-sided.

So ``green_from_s = eta_s - (clearance_s + queue_flush_s + eta_uncertainty * eta_s)``,
clamped at 0 (a stop reached sooner than the lead time is pre-empted at dispatch). After the
vehicle passes, the approach is held for ``hold_s`` so that a late arrival still finds green
and the vehicle clears the box, then normal operation resumes:
``green_until_s = eta_s + hold_s``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["PreemptionStop", "PreemptionWindow", "plan_preemption"]


@dataclass(frozen=True)
class PreemptionStop:
    """One signalised stop on the route: where, from which approach, and when."""

    intersection_id: str  # any id: DB id as str, or a SUMO tls id
    approach: str  # the incoming edge / segment id the vehicle arrives on
    eta_s: float  # seconds from dispatch until the vehicle reaches the stop line


@dataclass(frozen=True)
class PreemptionWindow:
    """The green window the approach of one stop must show, in seconds from dispatch."""

    intersection_id: str
    approach: str
    eta_s: float
    green_from_s: float  # when that approach must show green (clamped at 0)
    green_until_s: float  # when normal operation may resume


def _non_negative(name: str, value: float) -> float:
    as_float = float(value)
    if not math.isfinite(as_float) or as_float < 0.0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return as_float


def plan_preemption(
    stops: Sequence[PreemptionStop],
    *,
    clearance_s: float = 5.0,
    queue_flush_s: float = 8.0,
    hold_s: float = 6.0,
    eta_uncertainty: float = 0.15,
) -> list[PreemptionWindow]:
    """Return one green window per stop, in the order the stops were given.

    Raises:
        ValueError: a negative or non-finite parameter or ETA, or ``eta_uncertainty`` >= 1
            (the margin would exceed the ETA itself).
    """
    clearance = _non_negative("clearance_s", clearance_s)
    flush = _non_negative("queue_flush_s", queue_flush_s)
    hold = _non_negative("hold_s", hold_s)
    uncertainty = _non_negative("eta_uncertainty", eta_uncertainty)
    if uncertainty >= 1.0:
        raise ValueError(f"eta_uncertainty must be below 1, got {eta_uncertainty!r}")
    windows: list[PreemptionWindow] = []
    for index, stop in enumerate(stops):
        eta = _non_negative(f"stops[{index}].eta_s", stop.eta_s)
        lead = clearance + flush + uncertainty * eta
        windows.append(
            PreemptionWindow(
                intersection_id=stop.intersection_id,
                approach=stop.approach,
                eta_s=eta,
                green_from_s=max(0.0, eta - lead),
                green_until_s=eta + hold,
            )
        )
    return windows
