"""Reading scenarios and laying out detectors, on hand-made networks and a generated grid."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.twin.scenario import (
    DETECTOR_ZONE_M,
    Link,
    Network,
    Phase,
    Program,
    ScenarioError,
    detector_id,
    load_scenario,
    prepare_files,
    read_network,
)


def _net(**lanes: float) -> Network:
    net = Network()
    net.lane_length.update(lanes)
    return net


def test_queue_zone_ends_at_the_stop_line_and_receiving_zone_starts_the_lane() -> None:
    net = _net(a_0=120.0, b_0=80.0)
    net.links["J"] = [Link(0, "a", "a_0", "b", "b_0")]
    dets = {d.id: d for d in net.detectors()}
    zone = dets[detector_id("J", "a_0", "in")]
    assert zone.length == DETECTOR_ZONE_M and zone.pos + zone.length == pytest.approx(119.9)
    loop = dets[detector_id("J", "a_0", "loop")]
    assert loop.kind == "e1" and loop.pos == pytest.approx(90.0)  # 30 m before the stop line
    out = dets[detector_id("J", "b_0", "out")]
    assert out.pos == pytest.approx(0.1) and out.role == "out"


def test_stub_lane_is_watched_on_the_lane_feeding_it() -> None:
    net = _net(stub_0=0.3, up_0=200.0, b_0=80.0)
    net.predecessors["stub_0"] = ["up_0"]
    net.links["J"] = [Link(0, "stub", "stub_0", "b", "b_0")]
    zone = {d.id: d for d in net.detectors()}[detector_id("J", "stub_0", "in")]
    assert zone.lane == "up_0" and zone.pos + zone.length == pytest.approx(199.9)


def test_short_lane_inside_a_joined_signal_is_no_approach() -> None:
    # a -> m (8 m between the two junctions of one joined signal) -> b
    net = _net(a_0=100.0, m_0=8.0, b_0=100.0)
    net.links["JJ"] = [Link(0, "a", "a_0", "m", "m_0"), Link(1, "m", "m_0", "b", "b_0")]
    assert net.internal_lanes("JJ") == {"m_0"}
    ids = {d.id for d in net.detectors()}
    assert detector_id("JJ", "m_0", "in") not in ids
    assert detector_id("JJ", "a_0", "in") in ids


def test_green_phase_means_green_and_no_yellow() -> None:
    assert Phase(30, "Ggrr").is_green
    assert not Phase(3, "Gyrr").is_green
    assert not Phase(2, "rrrr").is_green


def test_sanitised_configuration_and_program_copies(tmp_path: Path, grid_cfg: Path) -> None:
    cfg = tmp_path / "gui.sumocfg"
    cfg.write_text(
        grid_cfg.read_text()
        .replace(
            "</configuration>",
            '<gui_only><gui-settings-file value="x.xml"/></gui_only>'
            '<processing><tls.all-off value="true"/></processing></configuration>',
        )
        .replace('value="grid.', f'value="{grid_cfg.parent}/grid.')
    )
    scenario = load_scenario(cfg)
    net = read_network(scenario)
    files = prepare_files(scenario, net)
    text = files.sumocfg.read_text()
    assert "gui_only" not in text and "tls.all-off" not in text
    assert str(files.detectors) in text
    actuated = files.actuated.read_text()
    assert actuated.count('type="actuated"') == len(net.programs)
    assert 'minDur="' in actuated and 'maxDur="' in actuated
    assert files.fixed.read_text().count('type="static"') == len(net.programs)
    assert isinstance(next(iter(net.programs.values())), Program)


def test_a_file_the_configuration_names_must_exist(tmp_path: Path) -> None:
    cfg = tmp_path / "x.sumocfg"
    cfg.write_text('<configuration><input><net-file value="none.net.xml"/>'
                   '<route-files value="r.xml"/></input></configuration>')  # fmt: skip
    with pytest.raises(ScenarioError, match="names a file that does not exist"):
        load_scenario(cfg)
    cfg.write_text("<additional/>")
    with pytest.raises(ScenarioError, match="is not a SUMO configuration"):
        load_scenario(cfg)
    cfg.write_text("<configuration")
    with pytest.raises(ScenarioError, match="is not valid XML"):
        load_scenario(cfg)
