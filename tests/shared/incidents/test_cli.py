"""`smartcity emergency ...`: help with examples, units, routing to a point, closures."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from shared.cli import main
from shared.incidents.models import Incident
from shared.traffic.models import RoadClosure


@pytest.mark.parametrize("cmd", ["units", "route", "close-road", "reopen-road"])
def test_help_has_an_example(cmd: str) -> None:
    result = CliRunner().invoke(main, ["emergency", cmd, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example: smartcity emergency" in result.output


def test_units_route_and_closures(engine: Engine) -> None:
    runner = CliRunner()
    units = runner.invoke(main, ["emergency", "units"])
    assert units.exit_code == 0, units.output
    assert "RTW-1" in units.output and "ambulance" in units.output

    with Session(engine) as s:
        incidents_before = s.scalar(select(func.count()).select_from(Incident))
    args = ["emergency", "route", "RTW-1", "--lon", "13.545", "--lat", "52.43"]
    text_out = runner.invoke(main, args)
    assert text_out.exit_code == 0, text_out.output
    assert re.search(r"best\s+ETA\s+\d+:\d\d", text_out.output)
    # "best" is the first line and has the lowest ETA; the alternatives follow by ETA.
    labels = re.findall(r"^  (best|alt \d)\s+ETA\s+(\d+):(\d\d)", text_out.output, re.M)
    assert labels and labels[0][0] == "best"
    etas = [int(m) * 60 + int(s) for _label, m, s in labels]
    assert etas == sorted(etas)
    as_json = runner.invoke(main, [*args, "--json", "--alternatives", "1"])
    assert as_json.exit_code == 0, as_json.output
    route = json.loads(as_json.output)
    assert route["best"]["geometry"]["type"] == "LineString"
    assert len(route["alternatives"]) <= 1
    with Session(engine) as s:
        # Routing to a point stores nothing.
        assert s.scalar(select(func.count()).select_from(Incident)) == incidents_before

    seg = route["best"]["segment_ids"][0]
    closed = runner.invoke(main, ["emergency", "close-road", str(seg), "--reason", "cli test"])
    ids = [int(m) for m in re.findall(r"closure (\d+):", closed.output)]
    try:
        assert closed.exit_code == 0, closed.output
        assert ids
        again = json.loads(runner.invoke(main, [*args, "--json"]).output)
        assert seg not in again["best"]["segment_ids"]
        assert seg in again["closed_segment_ids"]
    finally:
        reopened = runner.invoke(main, ["emergency", "reopen-road", *map(str, ids)])
    assert reopened.exit_code == 0, reopened.output
    with Session(engine) as s:
        rows = s.scalars(select(RoadClosure).where(RoadClosure.id.in_(ids))).all()
        assert rows and all(r.ends_at is not None for r in rows)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["route", "RTW-1", "--lon", "13.5"], "give either --incident ID or both"),
        (["route", "NOPE", "--lon", "13.5", "--lat", "52.4"], "no unit 'NOPE'"),
        (["route", "RTW-1", "--incident", "99999999"], "no incident 99999999"),
        (["close-road", "99999999", "--reason", "x y z"], "no road segment 99999999"),
        (["reopen-road", "99999999"], "no road closure 99999999"),
    ],
)
def test_bad_input_is_explained(engine: Engine, args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["emergency", *args])
    assert result.exit_code == 1
    assert message in result.output
