"""A small generated scenario: a 3 x 3 signalised grid with random trips (fixed seed)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.twin.engine import sumo_binary, sumo_tool

_CFG = """<configuration>
  <input><net-file value="grid.net.xml"/><route-files value="grid.rou.xml"/></input>
  <time><begin value="0"/><end value="600"/></time>
</configuration>
"""


def make_grid(folder: Path, *, tls: bool = True, routes: bool = True) -> Path:
    """Write grid.net.xml, grid.rou.xml and grid.sumocfg into ``folder``; return the cfg."""
    folder.mkdir(parents=True, exist_ok=True)
    net = folder / "grid.net.xml"
    junctions = "traffic_light" if tls else "priority"
    subprocess.run(
        [sumo_binary("netgenerate"), "--grid", "--grid.number", "3", "--grid.length", "200",
         "--grid.attach-length", "100", "--default-junction-type", junctions,
         "--no-warnings", "-o", str(net)],
        check=True, capture_output=True,
    )  # fmt: skip
    cfg_text = _CFG
    if routes:
        subprocess.run(
            [sys.executable, str(sumo_tool("randomTrips.py")), "-n", str(net),
             "-o", str(folder / "grid.trips.xml"), "-r", str(folder / "grid.rou.xml"),
             "--seed", "1", "--end", "600", "--period", "1.5", "--fringe-factor", "5",
             "--validate"],
            check=True, capture_output=True,
        )  # fmt: skip
    else:
        cfg_text = cfg_text.replace('<route-files value="grid.rou.xml"/>', "")
    cfg = folder / "grid.sumocfg"
    cfg.write_text(cfg_text, encoding="utf-8")
    return cfg


@pytest.fixture(scope="session")
def twin_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point the twin's cache at a temporary folder for the whole session."""
    cache = tmp_path_factory.mktemp("twin-cache")
    old = os.environ.get("SMARTCITY_TWIN_CACHE")
    os.environ["SMARTCITY_TWIN_CACHE"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("SMARTCITY_TWIN_CACHE", None)
    else:
        os.environ["SMARTCITY_TWIN_CACHE"] = old


@pytest.fixture(scope="session")
def grid_cfg(tmp_path_factory: pytest.TempPathFactory, twin_cache: Path) -> Path:
    """The generated grid's .sumocfg."""
    return make_grid(tmp_path_factory.mktemp("grid"))
