"""Glue between a running simulation and the platform's adaptive controller.

The platform controller reads only our detectors (vehicles in each queue zone) and writes only
signal states, as the city's signal controllers would be driven over their central interface.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shared.traffic.adaptive import (
    AdaptiveTimings,
    DetectorReading,
    LaneMovement,
    MaxPressureController,
    SignalCommand,
    Stage,
    StepKind,
)
from shared.twin.scenario import Network, Program, detector_id

__all__ = [
    "Controller",
    "PlatformControl",
    "ReadingSource",
    "build_controllers",
    "transition_state",
]

# Where a program has no all-red phase of its own, the platform still clears the box for 1 s
# after yellow before a conflicting green (a common minimum red clearance in German RiLSA
# and US ITE practice).
DEFAULT_ALL_RED_S = 1.0
DEFAULT_YELLOW_S = 3.0
# A stage with undetected lanes runs its program green, but at most this long per turn.
RECALL_GREEN_MAX_S = 20.0


class Controller(StrEnum):
    """Which signal control a run uses."""

    fixed = "fixed"
    actuated = "actuated"
    platform = "platform"


ReadingSource = Callable[[], Mapping[str, DetectorReading]]


def transition_state(current: str, target: str, kind: StepKind) -> str:
    """Return the signal state shown while moving from ``current``'s green to ``target``'s.

    Yellow: links that lose their green show yellow, the rest keep what they show. All-red:
    links that lose their green show red; links green in both stay green.
    """
    out = []
    for cur, nxt in zip(current, target, strict=True):
        keeps = cur in "Gg" and nxt in "Gg"
        if kind is StepKind.green:
            out.append(nxt)
        elif keeps:
            out.append(cur)
        elif cur in "Gg":
            out.append("y" if kind is StepKind.yellow else "r")
        elif cur in "yYu":
            out.append("r")
        else:
            out.append(cur if cur in "rOos" else "r")
    return "".join(out)


def _program_timings(program: Program, base: AdaptiveTimings) -> AdaptiveTimings:
    yellows = [p.duration for p in program.phases if any(c in "yY" for c in p.state)]
    reds = [
        p.duration
        for p in program.phases
        if p.state and not any(c in "GgyYu" for c in p.state) and p.duration < 10
    ]
    return AdaptiveTimings(
        min_green_s=base.min_green_s,
        max_green_s=base.max_green_s,
        yellow_s=max(yellows) if yellows else DEFAULT_YELLOW_S,
        all_red_s=max(reds) if reds else DEFAULT_ALL_RED_S,
        switch_margin_veh=base.switch_margin_veh,
        extension_override_veh=base.extension_override_veh,
    )


def _stages(tls_id: str, program: Program, net: Network, known: set[str]) -> list[Stage]:
    links = net.links[tls_id]
    internal = net.internal_lanes(tls_id)
    stages: list[Stage] = []
    seen_states: set[str] = set()
    for index, phase in enumerate(program.phases):
        if not phase.is_green or phase.state in seen_states:
            continue
        seen_states.add(phase.state)
        served: dict[str, set[str]] = {}
        undetected = False
        for link in links:
            if link.from_lane in internal:
                continue
            if 0 <= link.index < len(phase.state) and phase.state[link.index] in "Gg":
                inbound = detector_id(tls_id, link.from_lane, "in")
                if inbound not in known:
                    undetected = True
                    continue
                outbound = detector_id(tls_id, link.to_lane, "out")
                served.setdefault(inbound, set())
                if outbound in known:
                    served[inbound].add(outbound)
        movements = tuple(
            LaneMovement(inbound=i, outbound=tuple(sorted(o))) for i, o in sorted(served.items())
        )
        # Undetected lanes fall back to the program's own green time for this stage.
        stages.append(
            Stage(index=index, movements=movements,
                  recall_green_s=min(phase.duration, RECALL_GREEN_MAX_S) if undetected else 0.0)
        )  # fmt: skip
    return stages


@dataclass
class _Signal:
    tls_id: str
    program: Program
    controller: MaxPressureController
    shown: str = ""


def build_controllers(
    net: Network, *, timings: AdaptiveTimings | None = None
) -> list[tuple[str, Program, MaxPressureController]]:
    """Return one max-pressure controller per signal that has at least two green stages."""
    base = timings or AdaptiveTimings()
    known = {d.id for d in net.detectors() if d.kind == "e2"}
    out = []
    for tls_id, program in sorted(net.programs.items()):
        stages = _stages(tls_id, program, net, known)
        if len(stages) < 2:
            continue  # one green stage: nothing to choose
        ctrl = MaxPressureController(tls_id, stages, _program_timings(program, base))
        out.append((tls_id, program, ctrl))
    return out


class PlatformControl:
    """Drives every signal of a running simulation with the platform's controller."""

    def __init__(
        self,
        sim: Any,
        net: Network,
        *,
        timings: AdaptiveTimings | None = None,
        readings: ReadingSource | None = None,
    ) -> None:
        self._sim = sim
        self._zones = {d.id: d.length for d in net.detectors() if d.kind == "e2"}
        self._readings = readings or self.read_detectors
        self._signals: list[_Signal] = []
        now = sim.simulation.getTime()
        for tls_id, program, ctrl in build_controllers(net, timings=timings):
            phase = sim.trafficlight.getPhase(tls_id)
            stage = phase if phase in {s.index for s in ctrl.stages} else ctrl.stages[0].index
            ctrl.start(now_s=now, stage=stage)
            self._signals.append(_Signal(tls_id, program, ctrl))
        self._held: set[str] = set()

    @property
    def signal_ids(self) -> list[str]:
        """The signals under platform control."""
        return [s.tls_id for s in self._signals]

    def hold(self, tls_id: str, held: bool) -> None:
        """Hand a signal to someone else (pre-emption) or take it back."""
        if held:
            self._held.add(tls_id)
        else:
            self._held.discard(tls_id)
            for s in self._signals:
                if s.tls_id == tls_id:
                    s.shown = ""
                    phase = self._sim.trafficlight.getPhase(tls_id)
                    stages = {st.index for st in s.controller.stages}
                    s.controller.start(
                        now_s=self._sim.simulation.getTime(),
                        stage=phase if phase in stages else s.controller.command.target,
                    )

    def read_detectors(self) -> dict[str, DetectorReading]:
        """Read every queue zone (vehicles in the zone now)."""
        area = self._sim.lanearea
        return {
            det: DetectorReading(
                det,
                float(area.getLastStepVehicleNumber(det)),
                length,
                float(area.getLastStepHaltingNumber(det)),
            )
            for det, length in self._zones.items()
        }

    def step(self) -> None:
        """Decide and apply the signal states for the current simulation time."""
        now = self._sim.simulation.getTime()
        readings = self._readings()
        tl = self._sim.trafficlight
        for s in self._signals:
            if s.tls_id in self._held:
                continue
            cmd: SignalCommand = s.controller.step(now_s=now, readings=readings)
            state = transition_state(
                s.program.phases[cmd.stage].state, s.program.phases[cmd.target].state, cmd.kind
            )
            if state != s.shown:
                tl.setRedYellowGreenState(s.tls_id, state)
                s.shown = state
