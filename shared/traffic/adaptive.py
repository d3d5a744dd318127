"""Adaptive signal control from detector readings: max-pressure with minimum greens (pure).

The controller sees only what a city's detectors report: for each detection zone the number of
vehicles in it and how many of them stand still (queue cameras and long stop-line loops report
both), and the zone's length. It never sees vehicle positions, routes or destinations.

Algorithm: max-pressure (Varaiya, "Max pressure control of a network of signalized intersections",
Transportation Research Part C 36, 2013). A movement's weight is its upstream queue minus the
queue it would discharge into; a stage's pressure is the sum over the inbound lanes it serves.
Varaiya proves that choosing the stage with the largest pressure in every slot stabilises any
demand that any controller can stabilise, using only local queue measurements, which is why it
suits a city that has detectors at signals but no network-wide model.

The textbook rule switches every fixed slot and pays a yellow and an all-red each time, so the
slot is replaced by the decision rules of actuated control (as in the acyclic max-pressure
variants of Kouvelas et al. 2014 and Levin et al. 2020), checked once per second after
``min_green_s``:

- extension: while vehicles still move through the green stage's zones it keeps the green,
  unless another stage's pressure leads by more than ``extension_override_veh``;
- gap-out: once nothing moves on the green lanes (they are empty, or blocked downstream so that
  more green is wasted) the stage with the highest pressure among those with vehicles waiting
  gets the green;
- ``max_green_s`` bounds a stage's green when any other stage waits, so no approach starves;
- a stage some of whose lanes have no detector is treated as always waiting and, once green,
  runs at least its ``recall_green_s`` (the fail-safe "recall" of actuated control).

Pressure uses densities for the downstream side: an outbound zone's vehicles per metre times the
inbound zone's length, so zones of different lengths compare fairly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "AdaptiveTimings",
    "DetectorReading",
    "LaneMovement",
    "MaxPressureController",
    "SignalCommand",
    "Stage",
    "StepKind",
]


@dataclass(frozen=True)
class DetectorReading:
    """One detection zone's latest report."""

    detector_id: str
    vehicles: float  # vehicles in the zone now (queue camera / long loop)
    zone_length_m: float
    halting: float = 0.0  # of those, vehicles standing (speed under 0.1 m/s)


@dataclass(frozen=True)
class LaneMovement:
    """An inbound lane a stage serves, with the outbound zones its vehicles discharge into."""

    inbound: str  # detector id on the inbound lane, ending at the stop line
    outbound: tuple[str, ...] = ()  # detector ids at the start of the receiving lanes


@dataclass(frozen=True)
class Stage:
    """A green stage of the signal program (one of its green phases)."""

    index: int  # phase index in the program
    movements: tuple[LaneMovement, ...]
    # Some lanes this stage serves have no detector: treat the stage as always in demand and,
    # once it runs, keep it green at least this long (the fail-safe "recall" of actuated
    # control; 0 = every lane is detected).
    recall_green_s: float = 0.0


@dataclass(frozen=True)
class AdaptiveTimings:
    """Safety and tuning constants, in seconds and vehicles."""

    min_green_s: float = 6.0
    max_green_s: float = 60.0
    yellow_s: float = 3.0
    all_red_s: float = 1.0
    # A stage with undetected lanes yields at gap-out only to a lead of this many vehicles.
    switch_margin_veh: float = 2.0
    # While the green stage's lanes still carry moving vehicles it is extended (as actuated
    # control does) unless another stage's pressure exceeds it by this many vehicles.
    extension_override_veh: float = 8.0

    def __post_init__(self) -> None:
        for name in (
            "min_green_s",
            "max_green_s",
            "yellow_s",
            "all_red_s",
            "switch_margin_veh",
            "extension_override_veh",
        ):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.min_green_s <= 0:
            raise ValueError(f"min_green_s must be positive, got {self.min_green_s!r}")
        if self.max_green_s < self.min_green_s:
            raise ValueError(
                f"max_green_s ({self.max_green_s}) must not be below min_green_s "
                f"({self.min_green_s})"
            )


class StepKind(StrEnum):
    """What the signal shows: the stage's green, or the yellow / all-red towards the next one."""

    green = "green"
    yellow = "yellow"
    all_red = "all_red"


@dataclass(frozen=True)
class SignalCommand:
    """What the intersection must show from now on."""

    kind: StepKind
    stage: int  # phase index shown (green) or being left (yellow / all-red)
    target: int  # phase index the transition leads to (== stage while green)


@dataclass
class MaxPressureController:
    """Max-pressure control of one intersection; call :meth:`step` once per detector update."""

    intersection_id: str
    stages: Sequence[Stage]
    timings: AdaptiveTimings = field(default_factory=AdaptiveTimings)
    _kind: StepKind = field(init=False, default=StepKind.green)
    _stage: int = field(init=False, default=-1)
    _target: int = field(init=False, default=-1)
    _since_s: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        if not self.stages:
            raise ValueError(f"intersection {self.intersection_id!r} has no green stage")
        indices = [s.index for s in self.stages]
        if len(set(indices)) != len(indices):
            raise ValueError(f"intersection {self.intersection_id!r}: duplicate stage indices")
        self._stage = self._target = self.stages[0].index

    @property
    def command(self) -> SignalCommand:
        """The command in force."""
        return SignalCommand(kind=self._kind, stage=self._stage, target=self._target)

    def start(self, *, now_s: float, stage: int) -> None:
        """Take over an intersection that shows ``stage``'s green since ``now_s``."""
        if stage not in {s.index for s in self.stages}:
            raise ValueError(f"intersection {self.intersection_id!r} has no stage {stage}")
        self._kind, self._stage, self._target, self._since_s = StepKind.green, stage, stage, now_s

    def pressures(self, readings: Mapping[str, DetectorReading]) -> dict[int, float]:
        """Return each stage's pressure in vehicles (upstream queue minus downstream load)."""
        return {s.index: self._pressure(s, readings) for s in self.stages}

    def demand(self, stage: Stage, readings: Mapping[str, DetectorReading]) -> float:
        """Return the vehicles on the inbound lanes ``stage`` serves (inf if undetected)."""
        if stage.recall_green_s > 0:
            return math.inf
        seen: set[str] = set()
        total = 0.0
        for m in stage.movements:
            if m.inbound in seen or m.inbound not in readings:
                continue
            seen.add(m.inbound)
            total += readings[m.inbound].vehicles
        return total

    def step(self, *, now_s: float, readings: Mapping[str, DetectorReading]) -> SignalCommand:
        """Advance the state machine to ``now_s`` and return what to show."""
        elapsed = now_s - self._since_s
        if self._kind is StepKind.yellow:
            if elapsed >= self.timings.yellow_s:
                if self.timings.all_red_s > 0:
                    self._kind, self._since_s = StepKind.all_red, now_s
                else:
                    self._enter_green(now_s)
            return self.command
        if self._kind is StepKind.all_red:
            if elapsed >= self.timings.all_red_s:
                self._enter_green(now_s)
            return self.command
        current = next(s for s in self.stages if s.index == self._stage)
        if elapsed < max(
            self.timings.min_green_s, min(current.recall_green_s, self.timings.max_green_s)
        ):
            return self.command
        target = self._choose(elapsed, readings)
        if target is not None and target != self._stage:
            self._kind, self._target, self._since_s = StepKind.yellow, target, now_s
            if self.timings.yellow_s <= 0:
                return self.step(now_s=now_s, readings=readings)
        return self.command

    def _enter_green(self, now_s: float) -> None:
        self._kind, self._stage, self._since_s = StepKind.green, self._target, now_s

    def _choose(self, elapsed: float, readings: Mapping[str, DetectorReading]) -> int | None:
        by_index = {s.index: s for s in self.stages}
        current = by_index[self._stage]
        pressure = self.pressures(readings)
        others = [s for s in self.stages if s.index != self._stage]
        if not others:
            return None
        best = max(others, key=lambda s: (pressure[s.index], -s.index))
        waiting = [s for s in others if self.demand(s, readings) > 0]
        if elapsed >= self.timings.max_green_s and waiting:
            # Max green: serve the most pressing stage that has anyone waiting.
            return max(waiting, key=lambda s: (pressure[s.index], -s.index)).index
        lead = pressure[best.index] - pressure[current.index]
        if self._discharging(current, readings):
            return best.index if lead > self.timings.extension_override_veh else None
        # Gap-out: nothing moves on the green lanes (empty, or blocked downstream).
        if waiting and (current.recall_green_s <= 0 or lead > self.timings.switch_margin_veh):
            return max(waiting, key=lambda s: (pressure[s.index], -s.index)).index
        return None

    @staticmethod
    def _discharging(stage: Stage, readings: Mapping[str, DetectorReading]) -> bool:
        """True while some lane the stage serves has vehicles moving in its zone."""
        return any(
            (r := readings.get(m.inbound)) is not None and r.vehicles - r.halting > 0
            for m in stage.movements
        )

    @staticmethod
    def _pressure(stage: Stage, readings: Mapping[str, DetectorReading]) -> float:
        total = 0.0
        seen: set[str] = set()
        for m in stage.movements:
            upstream = readings.get(m.inbound)
            if upstream is None or m.inbound in seen:
                continue
            seen.add(m.inbound)
            densities = [
                r.vehicles / r.zone_length_m
                for o in m.outbound
                if (r := readings.get(o)) is not None and r.zone_length_m > 0
            ]
            downstream = (
                (sum(densities) / len(densities)) * upstream.zone_length_m if densities else 0.0
            )
            total += upstream.vehicles - downstream
        return total
