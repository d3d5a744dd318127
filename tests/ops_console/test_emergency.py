"""The emergency page: layout per role, and its actions as the logged-in user (the console
commits for real, so every row made here is deleted afterwards)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import pytest
from flask import Flask, session
from sqlalchemy import Engine, text

from shared.stack import StackState

POINT = (52.43, 13.545)  # lat, lon inside Adlershof


@pytest.fixture
def emergency(console: Flask) -> ModuleType:
    """The page module, imported once the console app exists (Dash registers pages then)."""
    from ops_console.pages import emergency as module

    return module


@contextmanager
def as_user(console: Flask, role: str) -> Iterator[None]:
    with console.test_request_context("/emergency"):
        session["user"] = {"username": role, "display_name": role, "role": role}
        yield


def _ids(node: Any, prefix: str = "emergency-") -> dict[str, Any]:
    """Every component with an id under ``node``, by id."""
    found: dict[str, Any] = {}
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, list | tuple):
            stack.extend(n)
            continue
        if getattr(n, "id", None) and str(n.id).startswith(prefix):
            found[n.id] = n
        children = getattr(n, "children", None)
        if children is not None:
            stack.append(children)
    return found


@pytest.fixture
def cleanup(engine: Engine) -> Iterator[list[int]]:
    """Incident ids made by a test; they and their plans are deleted afterwards."""
    made: list[int] = []
    yield made
    with engine.begin() as c:
        if made:
            c.execute(text("DELETE FROM incident WHERE id = ANY(:i)"), {"i": made})
        c.execute(text("UPDATE unit SET status = 'available' WHERE code = 'RTW-2'"))


def test_layout_enables_actions_by_role(console: Flask, emergency: ModuleType) -> None:
    with as_user(console, "operator"):
        page = _ids(emergency.layout())
        assert page["emergency-create"].disabled is False
        assert page["emergency-approve"].disabled is False
        units = page["emergency-unit"].options
        assert any(o["label"].startswith("RTW-2") for o in units)
    with as_user(console, "viewer"):
        page = _ids(emergency.layout())
        assert page["emergency-create"].disabled is True
        assert page["emergency-abort"].disabled is True


def test_viewer_is_refused_on_the_server(
    console: Flask, engine: Engine, emergency: ModuleType
) -> None:
    with engine.connect() as c:
        before = c.scalar(text("SELECT count(*) FROM incident"))
    with as_user(console, "viewer"):
        _o, _v, message = emergency.create(1, "fire", 1, *POINT)
        assert "may not dispatch" in message
        *_rest, message = emergency.act_on_plan(
            action="emergency-propose", choice=0, incident_id=1, unit_id=1, plan_id=None,
            reason=None,
        )  # fmt: skip
        assert "may not dispatch" in message
    with engine.connect() as c:
        assert c.scalar(text("SELECT count(*) FROM incident")) == before


def test_create_route_propose_approve_and_abort(
    console: Flask, engine: Engine, cleanup: list[int], emergency: ModuleType
) -> None:
    with as_user(console, "operator"):
        _o, _v, bad = emergency.create(1, "fire", 9, *POINT)
        assert "priority 1 to 5" in bad
        options, incident_id, message = emergency.create(1, "fire", 1, *POINT)
        cleanup.append(incident_id)
        assert message == f"Incident {incident_id} created."
        assert incident_id in [o["value"] for o in options]
        with engine.connect() as c:
            unit_id = c.scalar(text("SELECT id FROM unit WHERE code = 'RTW-2'"))

        assert emergency.find_routes(1, None, unit_id)[-1] == "Choose an incident and a unit."
        data, table, _map, choices, chosen, status = emergency.find_routes(1, incident_id, unit_id)
        assert status.startswith("Best route: ETA ")
        assert data["best"]["segment_ids"] and chosen == 0
        # "Best route" is the option with the lowest ETA (the ETA the page shows).
        etas = [r["eta_s"] for r in (data["best"], *data["alternatives"])]
        assert etas == sorted(etas)
        assert choices[0]["label"].startswith("Best route")
        assert len(choices) == 1 + len(data["alternatives"])
        rows = table.children.children[1].children  # the wrap, its table, the body
        assert len(rows) == len(choices)  # one row per route
        assert all("position" in s for s in data["best"]["signals"])

        plan_id, view, message = emergency.act_on_plan(
            action="emergency-propose", choice=len(choices) - 1, incident_id=incident_id,
            unit_id=unit_id, plan_id=None, reason=None,
        )  # fmt: skip
        assert message == f"Plan {plan_id} proposed."
        assert f"Plan {plan_id} is proposed" in view.children[0].children
        _p, view, message = emergency.act_on_plan(
            action="emergency-approve", choice=0, incident_id=incident_id, unit_id=unit_id,
            plan_id=plan_id, reason=None,
        )  # fmt: skip
        assert message == f"Plan {plan_id} approved: the unit is dispatched."
        assert f"Plan {plan_id} is active" in view.children[0].children
        *_r, message = emergency.act_on_plan(
            action="emergency-approve", choice=0, incident_id=incident_id, unit_id=unit_id,
            plan_id=plan_id, reason=None,
        )  # fmt: skip
        assert message == "Not possible: the plan changed meanwhile."
        *_r, message = emergency.act_on_plan(
            action="emergency-abort", choice=0, incident_id=incident_id, unit_id=unit_id,
            plan_id=plan_id, reason="",
        )  # fmt: skip
        assert message == "Give a reason to abort the plan."
        _p, view, message = emergency.act_on_plan(
            action="emergency-abort", choice=0, incident_id=incident_id, unit_id=unit_id,
            plan_id=plan_id, reason="unit diverted",
        )  # fmt: skip
        assert message == f"Plan {plan_id} aborted."
    with engine.connect() as c:
        row = c.execute(
            text("SELECT status, approved_by, aborted_by, abort_reason FROM preemption_plan "
                 "WHERE id = :i"),
            {"i": plan_id},
        ).one()  # fmt: skip
    assert tuple(row) == ("aborted", "operator", "operator", "unit diverted")


def _progress(**kw: Any) -> dict[str, Any]:
    report = {
        "plan_id": 7, "unit_id": 1, "unit_code": "RTW-1", "incident_id": 3,
        "status": "en_route", "lon": POINT[1], "lat": POINT[0], "elapsed_s": 42.0,
        "planned_eta_s": 128.0, "eta_remaining_s": 75.5, "distance_remaining_m": 1040.0,
        "speed_kmh": 48.2, "junctions_passed": 1, "junctions_total": 3, "travel_s": None,
        "after_action": None, "detail": "", "sim_time_s": 900.0,
    }  # fmt: skip
    return {**report, **kw}


def test_a_twin_report_updates_table_marker_and_status(
    console: Flask, emergency: ModuleType
) -> None:
    with as_user(console, "viewer"):
        runs, table, markers, status = emergency.follow_run(_progress(), {})
        assert status == "RTW-1: 1 of 3 signals passed."
        (row,) = table.children.children[1].children  # the wrap, its table, the body
        cells = [c.children for c in row.children]
        assert cells == ["RTW-1", "7", "en route", "1 / 3", "1:16", "1.04", "48", "0:42"]
        (marker,) = markers
        assert marker.center == [POINT[0], POINT[1]]
        # A second unit's report adds a row; the first one's stays.
        runs, table, markers, _s = emergency.follow_run(
            _progress(plan_id=8, unit_code="LF-1", lon=None, lat=None), runs
        )
        assert set(runs) == {"7", "8"}
        assert len(table.children.children[1].children) == 2
        assert len(markers) == 1  # no position yet: no marker
        _r, _t, _m, status = emergency.follow_run(
            _progress(status="arrived", travel_s=131.0, junctions_passed=3), runs
        )
        assert status == "RTW-1 arrived after 2:11 (planned 2:08)."
        assert emergency.follow_run(None, runs) == (emergency.dash.no_update,) * 4


def test_a_reloaded_page_shows_the_runs_the_twin_reported(
    console: Flask, emergency: ModuleType, stack: StackState
) -> None:
    from redis import Redis

    from shared.twin.service import RUN_REPORTS_KEY, remember_run_report

    redis = Redis.from_url(stack.redis_url)
    try:
        remember_run_report(redis=redis, report=_progress())
        with as_user(console, "viewer"):
            page = _ids(emergency.layout())
        assert set(page["emergency-live-runs"].data) == {"7"}
        (row,) = page["emergency-live"].children.children.children[1].children
        assert [c.children for c in row.children][:4] == ["RTW-1", "7", "en route", "1 / 3"]
        (marker,) = page["emergency-live-layer"].children
        assert marker.center == [POINT[0], POINT[1]]
    finally:
        redis.delete(RUN_REPORTS_KEY)
        redis.close()
