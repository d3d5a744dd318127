"""Fixed-time signal plans by Webster's method (pure; no database).

Sources:

- Webster, F. V. (1958), *Traffic Signal Settings*, Road Research Technical Paper 39, HMSO:
  the optimum cycle ``C0 = (1.5 L + 5) / (1 - Y)`` with ``L`` the total lost time per cycle
  (s) and ``Y = sum(y_i)`` the sum of the critical flow ratios ``y_i = q_i / s_i`` of the
  phases; effective greens split in proportion to ``y_i``; and the average delay per vehicle
  ``d = C(1-λ)² / (2(1-λx)) + x² / (2q(1-x)) - 0.65 (C/q²)^(1/3) x^(2+5λ)`` with
  ``λ = g/C``, ``x = q / (λ s)`` and ``q`` in veh/s.
- Minimum pedestrian green, *Highway Capacity Manual 2000*, ch. 16 (as taught in Garber &
  Hoel, *Traffic and Highway Engineering*): ``Gp = 3.2 + L_c / S_p + 0.27 N_ped`` for
  crosswalks up to 3 m wide, with 3.2 s start-up (pedestrian reaction) time, ``L_c`` the
  crossing length (m) and ``S_p = 1.2 m/s`` the walking speed.

Simplifications, stated: greens here are *effective* greens (displayed green + yellow - lost
time); with the usual 2 s start-up loss and 2 s of yellow used, effective and displayed greens
differ by well under a second, so minimum greens are applied to effective greens directly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_LOST_TIME_PER_PHASE_S",
    "FixedTimePlan",
    "PhaseDemand",
    "PhaseTiming",
    "pedestrian_min_green",
    "webster_delay",
    "webster_optimum_cycle",
    "webster_plan",
]

# HCM default: 2 s start-up lost time + 2 s clearance lost time (of a 4-5 s intergreen).
DEFAULT_LOST_TIME_PER_PHASE_S = 4.0
WALKING_SPEED_MPS = 1.2
PEDESTRIAN_STARTUP_S = 3.2


@dataclass(frozen=True)
class PhaseDemand:
    """One phase's critical lane group: its flow and saturation flow, in veh/h."""

    name: str
    flow_vph: float  # q_i of the phase's critical lane group
    saturation_vph: float  # s_i of the same lane group
    min_green_s: float = 7.0  # vehicle minimum green (driver expectancy)
    crossing_m: float = 0.0  # longest pedestrian crossing served in this phase (0: none)


@dataclass(frozen=True)
class PhaseTiming:
    """The effective green a phase gets and why."""

    name: str
    flow_vph: float
    saturation_vph: float
    flow_ratio: float  # y_i = q_i / s_i
    green_s: float  # effective green
    min_green_s: float  # max(vehicle minimum, pedestrian minimum)
    degree_of_saturation: float  # x_i = q_i C / (s_i g_i)
    delay_s: float | None  # Webster's average delay per vehicle; None when x_i >= 1


@dataclass(frozen=True)
class FixedTimePlan:
    """A Webster fixed-time plan."""

    cycle_s: float
    optimum_cycle_s: float | None  # Webster's C0 before bounds; None when Y >= 1
    lost_time_s: float
    flow_ratio_sum: float  # Y
    phases: tuple[PhaseTiming, ...]
    expected_delay_s: float | None  # flow-weighted mean delay per vehicle over the phases
    notes: tuple[str, ...] = field(default_factory=tuple)


def _check(name: str, value: float, *, positive: bool = False) -> float:
    as_float = float(value)
    if not math.isfinite(as_float) or as_float < 0.0 or (positive and as_float == 0.0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return as_float


def pedestrian_min_green(
    crossing_m: float,
    *,
    walking_speed_mps: float = WALKING_SPEED_MPS,
    startup_s: float = PEDESTRIAN_STARTUP_S,
    peds_per_cycle: float = 0.0,
) -> float:
    """Return the HCM 2000 minimum pedestrian green (s) for a crossing of ``crossing_m``."""
    length = _check("crossing_m", crossing_m)
    if length == 0.0:
        return 0.0
    speed = _check("walking_speed_mps", walking_speed_mps, positive=True)
    return (
        _check("startup_s", startup_s)
        + length / speed
        + 0.27 * _check("peds_per_cycle", peds_per_cycle)
    )


def webster_optimum_cycle(*, lost_time_s: float, flow_ratio_sum: float) -> float:
    """Return Webster's C0 = (1.5 L + 5) / (1 - Y) in seconds.

    Raises:
        ValueError: Y >= 1 (the junction is oversaturated and has no optimum cycle).
    """
    lost = _check("lost_time_s", lost_time_s)
    y_sum = _check("flow_ratio_sum", flow_ratio_sum)
    if y_sum >= 1.0:
        raise ValueError(f"flow ratio sum Y = {y_sum:.3f} >= 1: oversaturated, no optimum cycle")
    return (1.5 * lost + 5.0) / (1.0 - y_sum)


def webster_delay(
    *, cycle_s: float, green_s: float, flow_vph: float, saturation_vph: float
) -> float:
    """Return Webster's average delay per vehicle (s) of one lane group.

    Raises:
        ValueError: bad inputs, a green longer than the cycle, or degree of saturation >= 1
            (the formula has no steady state there).
    """
    cycle = _check("cycle_s", cycle_s, positive=True)
    green = _check("green_s", green_s, positive=True)
    if green > cycle:
        raise ValueError(f"green_s {green} exceeds cycle_s {cycle}")
    q = _check("flow_vph", flow_vph) / 3600.0
    s = _check("saturation_vph", saturation_vph, positive=True) / 3600.0
    lam = green / cycle
    x = q / (lam * s)
    if x >= 1.0:
        raise ValueError(f"degree of saturation {x:.3f} >= 1: Webster's delay is undefined")
    uniform = cycle * (1.0 - lam) ** 2 / (2.0 * (1.0 - lam * x))
    if q == 0.0:
        return uniform
    random_term = x**2 / (2.0 * q * (1.0 - x))
    correction = 0.65 * (cycle / q**2) ** (1.0 / 3.0) * x ** (2.0 + 5.0 * lam)
    return uniform + random_term - correction


def _split(
    demands: Sequence[PhaseDemand], minimums: Sequence[float], available: float
) -> list[float]:
    """Split ``available`` effective green in proportion to y_i, fixing phases at minimums."""
    ratios = [d.flow_vph / d.saturation_vph for d in demands]
    fixed: dict[int, float] = {}
    while True:
        free = [i for i in range(len(demands)) if i not in fixed]
        left = available - sum(fixed.values())
        y_free = sum(ratios[i] for i in free)
        greens = {i: left * (ratios[i] / y_free if y_free > 0 else 1.0 / len(free)) for i in free}
        short = [i for i in free if greens[i] < minimums[i] - 1e-9]
        if not short:
            break
        for i in short:
            fixed[i] = minimums[i]
    return [fixed.get(i, greens.get(i, 0.0)) for i in range(len(demands))]


def webster_plan(
    phases: Sequence[PhaseDemand],
    *,
    lost_time_per_phase_s: float = DEFAULT_LOST_TIME_PER_PHASE_S,
    min_cycle_s: float = 30.0,
    max_cycle_s: float = 120.0,
    round_cycle_to_s: float = 1.0,
    walking_speed_mps: float = WALKING_SPEED_MPS,
) -> FixedTimePlan:
    """Return a fixed-time plan: Webster cycle, proportional greens, minimum greens applied.

    The cycle is C0 rounded up to ``round_cycle_to_s`` and kept within
    [``min_cycle_s``, ``max_cycle_s``]; an oversaturated junction (Y >= 1) runs the maximum
    cycle. If the minimum greens plus lost time do not fit, the cycle grows to fit them, even
    past the maximum, because pedestrian clearance is a safety requirement.

    Raises:
        ValueError: no phases, duplicate names, bad numbers, or min_cycle_s > max_cycle_s.
    """
    if not phases:
        raise ValueError("a signal plan needs at least one phase")
    names = [p.name for p in phases]
    if len(set(names)) != len(names):
        raise ValueError(f"phase names must be unique, got {names}")
    for p in phases:
        _check(f"phase {p.name!r} flow_vph", p.flow_vph)
        _check(f"phase {p.name!r} saturation_vph", p.saturation_vph, positive=True)
        _check(f"phase {p.name!r} min_green_s", p.min_green_s)
        _check(f"phase {p.name!r} crossing_m", p.crossing_m)
    per_phase = _check("lost_time_per_phase_s", lost_time_per_phase_s)
    low = _check("min_cycle_s", min_cycle_s, positive=True)
    high = _check("max_cycle_s", max_cycle_s, positive=True)
    step = _check("round_cycle_to_s", round_cycle_to_s, positive=True)
    if low > high:
        raise ValueError(f"min_cycle_s {low} exceeds max_cycle_s {high}")

    lost = per_phase * len(phases)
    ratios = [p.flow_vph / p.saturation_vph for p in phases]
    y_sum = sum(ratios)
    notes: list[str] = []
    optimum: float | None
    if y_sum >= 1.0:
        optimum = None
        cycle = high
        notes.append(f"oversaturated (Y = {y_sum:.3f} >= 1): maximum cycle {high:g} s used")
    else:
        optimum = webster_optimum_cycle(lost_time_s=lost, flow_ratio_sum=y_sum)
        cycle = math.ceil(optimum / step - 1e-9) * step
        if cycle < low:
            notes.append(f"Webster cycle {optimum:.1f} s raised to the minimum {low:g} s")
            cycle = low
        elif cycle > high:
            notes.append(f"Webster cycle {optimum:.1f} s capped at the maximum {high:g} s")
            cycle = high

    minimums = [
        max(p.min_green_s, pedestrian_min_green(p.crossing_m, walking_speed_mps=walking_speed_mps))
        for p in phases
    ]
    if cycle - lost < sum(minimums):
        needed = math.ceil((lost + sum(minimums)) / step - 1e-9) * step
        notes.append(
            f"cycle raised from {cycle:g} s to {needed:g} s to fit minimum greens "
            f"(pedestrian clearance at {walking_speed_mps:g} m/s)"
        )
        cycle = needed
    greens = _split(phases, minimums, cycle - lost)
    for p, g, m, y in zip(phases, greens, minimums, ratios, strict=True):
        share = (cycle - lost) * y / y_sum if y_sum > 0 else 0.0
        if math.isclose(g, m) and m > share + 1e-9:
            notes.append(f"phase {p.name!r} held at its minimum green {m:.1f} s")

    timings: list[PhaseTiming] = []
    for p, g, m, y in zip(phases, greens, minimums, ratios, strict=True):
        x = y * cycle / g if g > 0 else math.inf
        delay: float | None = None
        if x < 1.0:
            delay = webster_delay(
                cycle_s=cycle, green_s=g, flow_vph=p.flow_vph, saturation_vph=p.saturation_vph
            )
        timings.append(
            PhaseTiming(
                name=p.name,
                flow_vph=p.flow_vph,
                saturation_vph=p.saturation_vph,
                flow_ratio=y,
                green_s=g,
                min_green_s=m,
                degree_of_saturation=x,
                delay_s=delay,
            )
        )
    total_flow = sum(p.flow_vph for p in phases)
    expected: float | None = None
    if all(t.delay_s is not None for t in timings):
        if total_flow > 0:
            expected = sum(t.flow_vph * (t.delay_s or 0.0) for t in timings) / total_flow
        else:
            expected = 0.0
    return FixedTimePlan(
        cycle_s=cycle,
        optimum_cycle_s=optimum,
        lost_time_s=lost,
        flow_ratio_sum=y_sum,
        phases=tuple(timings),
        expected_delay_s=expected,
        notes=tuple(notes),
    )
