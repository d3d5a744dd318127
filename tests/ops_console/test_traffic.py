"""The traffic page: congestion table, and signal plans proposed, reviewed and approved as the
logged-in user (the console commits for real: rows made here are deleted afterwards)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import ModuleType

import pytest
from flask import Flask, session
from sqlalchemy import Engine, text

from tests.shared.traffic.detectors import Detector, detectors


@pytest.fixture
def traffic(console: Flask) -> ModuleType:
    """The page module, imported once the console app exists (Dash registers pages then)."""
    from ops_console.pages import traffic as module

    return module


@contextmanager
def as_user(console: Flask, role: str) -> Iterator[None]:
    with console.test_request_context("/traffic"):
        session["user"] = {"username": role, "display_name": role, "role": role}
        yield


@pytest.fixture
def junction(engine: Engine) -> Iterator[tuple[int, list[Detector]]]:
    """A detector junction with an hour of counts just now; counts and plans removed after."""
    from sqlalchemy.orm import Session

    with Session(engine) as s:
        dets = detectors(s)
    node = dets[0].intersection_id
    mine = [d for d in dets if d.intersection_id == node]
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    with engine.begin() as c:
        for i, d in enumerate(mine):
            c.execute(
                text(
                    "INSERT INTO observation_hourly (datastream_id, bucket, count, total, min, "
                    "max) VALUES (:d, :b, 60, :v, 0, :v) ON CONFLICT DO NOTHING"
                ),
                {"d": d.count_ds, "b": hour, "v": 400.0 + 100 * i},
            )
    yield node, mine
    with engine.begin() as c:
        c.execute(text("DELETE FROM signal_plan WHERE intersection_id = :n"), {"n": node})
        c.execute(
            text("DELETE FROM observation_hourly WHERE datastream_id = ANY(:d) AND bucket = :b"),
            {"d": [d.count_ds for d in mine], "b": hour},
        )


def test_congestion_table_and_viewer_controls(console: Flask, traffic: ModuleType) -> None:
    with as_user(console, "viewer"):
        page = str(traffic.layout())
        assert "traffic-map" in page and "OpenStreetMap" in page
        assert "'disabled': True" in page or "disabled=True" in page


def test_propose_review_approve(
    console: Flask, engine: Engine, traffic: ModuleType, junction: tuple[int, list[Detector]]
) -> None:
    node, _dets = junction
    with as_user(console, "viewer"):
        message, *_rest = traffic.act_on_signal_plan(
            action="traffic-propose", junction=node, draft=None
        )
        assert "may not change signal plans" in message
    with as_user(console, "operator"):
        message, view, plans, options, chosen = traffic.act_on_signal_plan(
            action="traffic-propose", junction=node, draft=None
        )
        assert message.endswith("drafted.")
        plan_id = int(message.split()[1])
        assert chosen == plan_id and plan_id in [o["value"] for o in options]
        assert "Cycle — -> " in str(view)  # the first plan: nothing in force yet
        assert f"{node} · v1" in str(plans)

        message, view, *_rest = traffic.act_on_signal_plan(
            action="traffic-diff", junction=None, draft=plan_id
        )
        assert "expected delay" in str(view)
        message, *_rest = traffic.act_on_signal_plan(
            action="traffic-approve", junction=None, draft=plan_id
        )
        assert message == f"Plan {plan_id} approved."
        message, *_rest = traffic.act_on_signal_plan(
            action="traffic-approve", junction=None, draft=plan_id
        )
        assert message == "Not possible: the plan changed meanwhile."
    with engine.connect() as c:
        row = c.execute(
            text("SELECT status, author, approver FROM signal_plan WHERE id = :i"), {"i": plan_id}
        ).one()
    assert tuple(row) == ("approved", "operator", "operator")


def test_push_an_approved_plan(
    console: Flask, engine: Engine, traffic: ModuleType, junction: tuple[int, list[Detector]]
) -> None:
    node, _dets = junction
    with as_user(console, "operator"):
        message, *_rest = traffic.act_on_signal_plan(
            action="traffic-propose", junction=node, draft=None
        )
        plan_id = int(message.split()[1])
        message, *_rest = traffic.push_signal_plan(plan_id=plan_id)
        assert message == "Not possible: the plan changed meanwhile."  # a draft is not pushed
        traffic.act_on_signal_plan(action="traffic-approve", junction=None, draft=plan_id)
        page = str(traffic.layout())
        assert "traffic-approved" in page and f"{node} · v1" in page
    with as_user(console, "viewer"):
        message, *_rest = traffic.push_signal_plan(plan_id=plan_id)
        assert "may not change signal plans" in message
    with as_user(console, "operator"):
        message, _view, plans, _drafts, _draft, approved = traffic.push_signal_plan(plan_id=plan_id)
        assert message == f"Plan {plan_id} pushed to the signal."
        assert plan_id not in [o["value"] for o in approved]
        assert "pushed" in str(plans)
        message, *_rest = traffic.push_signal_plan(plan_id=None)
        assert message == "Choose an approved plan to push."
    with engine.connect() as c:
        status, pushed_at, notes = c.execute(
            text("SELECT status, pushed_at, notes FROM signal_plan WHERE id = :i"), {"i": plan_id}
        ).one()
    assert status == "pushed" and pushed_at is not None
    assert any(n.startswith("pushed by operator at ") for n in notes)


def test_no_flows_is_explained(console: Flask, engine: Engine, traffic: ModuleType) -> None:
    with engine.connect() as c:
        node = c.scalar(
            text(
                "SELECT i.id FROM intersection i WHERE i.signalised AND NOT EXISTS ("
                "SELECT 1 FROM observation_hourly) ORDER BY i.id LIMIT 1"
            )
        )
    if node is None:
        pytest.skip("hourly counts exist in this database")
    with as_user(console, "operator"):
        message, *_rest = traffic.act_on_signal_plan(
            action="traffic-propose", junction=node, draft=None
        )
    assert message == "No measured flows for this intersection in the last 24 hours."


def test_incidents_panel_lists_detections_and_says_when_there_are_none(
    console: Flask, traffic: ModuleType
) -> None:
    from shared.traffic.aid import IncidentDetection

    t = datetime(2026, 12, 2, 8, 15, tzinfo=UTC)
    found = [
        IncidentDetection(
            upstream_code="TD-0003", downstream_code="TD-0007", road_name="Rudower Chaussee",
            gap_m=420.0, state=state, first_seen=t, confirmed_at=None, last_interval=t,
            up_occupancy_pct=48.0, down_occupancy_pct=3.0, up_speed_kmh=speed,
            lon=13.54, lat=52.43,
        )
        for state, speed in (("incident", 8.0), ("tentative", None))
    ]  # fmt: skip
    with as_user(console, "viewer"):
        table = str(traffic._incidents_table(found))
        empty = str(traffic._incidents_table([]))
    assert "Rudower Chaussee" in table and "TD-0003 → TD-0007" in table
    assert "Incident (confirmed)" in table and "Possible incident" in table
    assert "48 % / 3 %" in table and "'8'" in table and "'—'" in table
    assert "No incident detected in the last 15 minutes." in empty
