"""`smartcity twin evaluate`: one headless run with one signal controller, measured by tripinfo."""

from __future__ import annotations

import math
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from shared.traffic.adaptive import AdaptiveTimings
from shared.twin.controllers import Controller, PlatformControl
from shared.twin.engine import running
from shared.twin.scenario import (
    Network,
    PreparedFiles,
    Scenario,
    load_scenario,
    prepare_files,
    read_network,
)

__all__ = ["DEFAULT_END_S", "EvaluationResult", "evaluate", "open_scenario", "sumo_args"]

DEFAULT_END_S = 3600.0


@dataclass(frozen=True)
class EvaluationResult:
    """The JSON contract of `twin evaluate` (all times in seconds)."""

    scenario: str
    controller: str
    end: float
    seed: int
    mean_time_loss_s: float
    mean_travel_time_s: float
    mean_waiting_time_s: float
    mean_depart_delay_s: float
    mean_time_loss_arrived_s: float
    vehicles_departed: int
    vehicles_arrived: int
    vehicles_running_at_end: int
    vehicles_waiting_to_insert: int
    teleports: int
    signals: int
    wall_s: float

    def as_dict(self) -> dict[str, Any]:
        """Return the contract as a plain dict (JSON-ready)."""
        return asdict(self)


def open_scenario(sumocfg: str | Path) -> tuple[Scenario, Network, PreparedFiles]:
    """Load a scenario, read its network and write our files into its cache folder."""
    scenario = load_scenario(sumocfg)
    net = read_network(scenario)
    return scenario, net, prepare_files(scenario, net)


def sumo_args(
    files: PreparedFiles,
    *,
    controller: Controller,
    end: float,
    seed: int,
    begin: float,
    tripinfo: Path | None = None,
) -> list[str]:
    """Return sumo's command line (without the binary) for one run."""
    adds = [*files.extra_additionals]
    if controller is Controller.actuated:
        adds.append(files.actuated)
    else:
        # fixed: the network's own phases as a fixed-time plan; platform starts from it too.
        adds.append(files.fixed)
    args = [
        "-c", str(files.sumocfg),
        "--additional-files", ",".join(str(p) for p in adds),
        "--begin", f"{begin:g}",
        "--end", f"{end:g}",
        "--seed", str(seed),
        "--no-step-log", "true",
        "--no-warnings", "true",
        "--duration-log.disable", "true",
        "--duration-log.statistics", "false",
        "--verbose", "false",
        "--xml-validation", "never",
        "--tls.all-off", "false",
    ]  # fmt: skip
    if tripinfo is not None:
        args += ["--tripinfo-output", str(tripinfo), "--tripinfo-output.write-unfinished", "true"]
    return args


def _mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 3) if values else math.nan


def _read_tripinfo(path: Path) -> dict[str, Any]:
    loss: list[float] = []
    duration: list[float] = []
    waiting: list[float] = []
    delay: list[float] = []
    loss_arrived: list[float] = []
    for _event, el in ET.iterparse(path, events=("end",)):
        if el.tag != "tripinfo":
            continue
        if float(el.get("depart", "-1")) < 0:
            el.clear()
            continue
        loss.append(float(el.get("timeLoss", "0")))
        duration.append(float(el.get("duration", "0")))
        waiting.append(float(el.get("waitingTime", "0")))
        delay.append(float(el.get("departDelay", "0")))
        if float(el.get("arrival", "-1")) >= 0:
            loss_arrived.append(float(el.get("timeLoss", "0")))
        el.clear()
    return {
        "mean_time_loss_s": _mean(loss),
        "mean_travel_time_s": _mean(duration),
        "mean_waiting_time_s": _mean(waiting),
        "mean_depart_delay_s": _mean(delay),
        "mean_time_loss_arrived_s": _mean(loss_arrived),
    }


def evaluate(
    *,
    sumocfg: str | Path,
    controller: Controller | str,
    end: float | None = None,
    seed: int = 42,
    timings: AdaptiveTimings | None = None,
) -> EvaluationResult:
    """Run the scenario headless with one controller and measure its trips.

    Vehicles still driving at ``end`` count with the delay they have collected so far
    (tripinfo's write-unfinished), so a controller cannot look good by trapping traffic.
    """
    ctrl = Controller(controller)
    scenario, net, files = open_scenario(sumocfg)
    stop = float(end if end is not None else scenario.end or DEFAULT_END_S)
    if stop <= scenario.begin:
        raise ValueError(
            f"--end ({stop:g}) must be after the scenario's begin ({scenario.begin:g})"
        )
    started = time.perf_counter()
    teleports = departed = arrived = 0
    with tempfile.TemporaryDirectory(dir=scenario.cache_dir()) as tmp:
        tripinfo = Path(tmp) / "tripinfo.xml"
        args = sumo_args(
            files, controller=ctrl, end=stop, seed=seed, begin=scenario.begin, tripinfo=tripinfo
        )
        with running(args) as sim:
            platform = (
                PlatformControl(sim, net, timings=timings) if ctrl is Controller.platform else None
            )
            next_decision = scenario.begin
            while sim.simulation.getTime() < stop and sim.simulation.getMinExpectedNumber() > 0:
                now = sim.simulation.getTime()
                if platform is not None and now >= next_decision:
                    platform.step()
                    next_decision = math.floor(now) + 1.0
                sim.simulationStep()
                teleports += sim.simulation.getStartingTeleportNumber()
                departed += sim.simulation.getDepartedNumber()
                arrived += sim.simulation.getArrivedNumber()
            running_at_end = sim.vehicle.getIDCount()
            pending = len(sim.simulation.getPendingVehicles())
        stats = _read_tripinfo(tripinfo)
    return EvaluationResult(
        scenario=str(scenario.sumocfg),
        controller=ctrl.value,
        end=stop,
        seed=seed,
        vehicles_departed=departed,
        vehicles_arrived=arrived,
        vehicles_running_at_end=running_at_end,
        vehicles_waiting_to_insert=pending,
        teleports=teleports,
        signals=len(net.programs),
        wall_s=round(time.perf_counter() - started, 2),
        **stats,
    )
