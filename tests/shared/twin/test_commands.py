"""`smartcity twin evaluate` and `twin emergency` on a generated grid: the JSON contracts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from shared.cli import main
from tests.shared.twin.conftest import make_grid

EVALUATE_KEYS = {
    "mean_time_loss_s": float,
    "mean_travel_time_s": float,
    "mean_waiting_time_s": float,
    "vehicles_arrived": int,
    "teleports": int,
    "vehicles_departed": int,
    "controller": str,
    "scenario": str,
    "end": float,
    "wall_s": float,
}


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["twin", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def evaluations(grid_cfg: Path) -> dict[str, dict]:
    out = {}
    for controller in ("fixed", "actuated", "platform"):
        code, stdout, stderr = _run(
            "evaluate", "--sumocfg", str(grid_cfg), "--controller", controller,
            "--end", "400", "--json",
        )  # fmt: skip
        assert code == 0, stderr
        lines = stdout.strip().splitlines()
        assert len(lines) == 1, f"stdout must hold one JSON object, got {stdout!r}"
        out[controller] = json.loads(lines[0])
    return out


@pytest.mark.parametrize("controller", ["fixed", "actuated", "platform"])
def test_evaluate_prints_the_json_contract(evaluations: dict, controller: str) -> None:
    data = evaluations[controller]
    for key, kind in EVALUATE_KEYS.items():
        assert isinstance(data[key], kind), (key, data[key])
    assert data["controller"] == controller
    assert data["end"] == 400.0
    assert data["vehicles_departed"] > 100
    assert 0 < data["vehicles_arrived"] <= data["vehicles_departed"]
    assert data["mean_travel_time_s"] >= data["mean_time_loss_s"] >= data["mean_waiting_time_s"]


def test_controllers_really_differ(evaluations: dict) -> None:
    # The grid's own programs are 42 s fixed greens for light demand: any adaptive control
    # must lose less time, which proves the controller option switches the signals.
    fixed = evaluations["fixed"]["mean_time_loss_s"]
    assert evaluations["actuated"]["mean_time_loss_s"] < 0.8 * fixed
    assert evaluations["platform"]["mean_time_loss_s"] < 0.8 * fixed


def test_evaluate_is_deterministic_per_seed(grid_cfg: Path, evaluations: dict) -> None:
    code, stdout, _ = _run(
        "evaluate", "--sumocfg", str(grid_cfg), "--controller", "platform", "--end", "400",
        "--json",
    )  # fmt: skip
    assert code == 0
    again = json.loads(stdout)
    for key in ("mean_time_loss_s", "vehicles_arrived", "teleports"):
        assert again[key] == evaluations["platform"][key]


def test_evaluate_human_table(grid_cfg: Path) -> None:
    code, stdout, _ = _run("evaluate", "--sumocfg", str(grid_cfg), "--controller", "fixed",
                           "--end", "120")  # fmt: skip
    assert code == 0
    assert "mean_time_loss_s" in stdout and not stdout.lstrip().startswith("{")


def test_generated_files_stay_out_of_the_scenario_folder(grid_cfg: Path, twin_cache: Path,
                                                         evaluations: dict) -> None:  # fmt: skip
    names = [p.name for p in grid_cfg.parent.iterdir()]
    assert not [n for n in names if n.startswith("twin") or n.endswith(".add.xml")], names
    detector_files = list(twin_cache.glob("*/twin.det.add.xml"))
    assert detector_files
    text = detector_files[0].read_text()
    assert "<laneAreaDetector" in text and "<inductionLoop" in text


def test_emergency_prints_the_json_contract(grid_cfg: Path) -> None:
    code, stdout, stderr = _run("emergency", "--sumocfg", str(grid_cfg), "--dispatch", "120",
                                "--json")  # fmt: skip
    assert code == 0, stderr
    data = json.loads(stdout)
    for key in ("travel_time_s_without", "travel_time_s_with", "reduction"):
        assert isinstance(data[key], float), key
    assert data["signals_on_route"] >= 3
    assert data["travel_time_s_with"] >= data["free_flow_time_s"] * 0.95
    assert data["travel_time_s_with"] < data["travel_time_s_without"]
    assert data["reduction"] == pytest.approx(
        1 - data["travel_time_s_with"] / data["travel_time_s_without"], abs=1e-3
    )
    windows = data["junctions_preempted"]
    # One window per signal crossed (a joined signal crossed twice in a row gets one).
    assert sum(len(w["approaches"]) for w in windows) == data["signals_on_route"]
    for w in windows:
        assert w["green_from_s"] <= w["eta_s"] < w["green_until_s"]
        assert w["green_s"] >= w["requested_s"]  # green only after yellow and all-red


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda tmp: tmp / "missing.sumocfg", "no such SUMO configuration"),
        (lambda tmp: make_grid(tmp, tls=False), "has no traffic lights"),
        (lambda tmp: make_grid(tmp, routes=False), "names no route-files"),
    ],
)
def test_bad_scenarios_fail_with_one_clear_line(tmp_path: Path, twin_cache: Path, build,
                                                message: str) -> None:  # fmt: skip
    cfg = build(tmp_path)
    code, stdout, stderr = _run("evaluate", "--sumocfg", str(cfg), "--json")
    assert code == 1
    assert stdout == ""
    assert message in stderr and len(stderr.strip().splitlines()) == 1


def test_emergency_refuses_a_dispatch_before_the_scenario_begins(grid_cfg: Path) -> None:
    code, stdout, stderr = _run("emergency", "--sumocfg", str(grid_cfg), "--dispatch", "-5")
    assert code == 1 and stdout == ""
    assert "--dispatch (-5) must be at or after the scenario's begin (0)" in stderr
