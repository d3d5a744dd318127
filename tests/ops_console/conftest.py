"""Fixtures for the console: one Flask server per run on the test stack, logged-in clients,
and a throwaway alert that is deleted afterwards (the console commits for real)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from shared.stack import StackState


@pytest.fixture(scope="session")
def console(stack: StackState, engine: Engine) -> Flask:
    """The console's Flask server (Dash keeps page callbacks per process: create it once)."""
    from ops_console.app import create_app

    return create_app({"TESTING": True, "MESSAGE_QUEUE": stack.redis_url})


@pytest.fixture(scope="session")
def passwords(engine: Engine) -> dict[str, str]:
    """The demo staff passwords, by username (= role)."""
    report = engine.info_seed_report  # type: ignore[attr-defined]
    return {user: pw for user, pw, _role in report.staff_credentials}


@pytest.fixture
def client_as(console: Flask, passwords: dict[str, str]) -> Callable[[str], FlaskClient]:
    """Return a function giving a test client logged in as the demo user of a role."""

    def make(role: str) -> FlaskClient:
        client = console.test_client()
        client.get("/login")
        with client.session_transaction() as s:
            csrf = s["csrf"]
        resp = client.post(
            "/login", data={"username": role, "password": passwords[role], "csrf": csrf}
        )
        assert resp.status_code == 302, resp.data
        return client

    return make


@pytest.fixture
def open_alert(engine: Engine) -> Iterator[int]:
    """An open critical alert on NS-01, removed with its audit trail afterwards."""
    now = datetime.now(UTC)
    with engine.begin() as c:
        alert_id = c.scalar(
            text(
                "INSERT INTO alert (rule_id, thing_id, datastream_id, district_id, severity,"
                " status, value, message, opened_at, updated_at) "
                "SELECT r.id, t.id, d.id, t.district_id, 'critical', 'open', 91.0,"
                " 'NS-01 laeq 91 dB >= 80', :now, :now FROM alert_rule r, thing t"
                " JOIN datastream d ON d.thing_id = t.id"
                " WHERE r.name = 'Noise loud' AND t.code = 'NS-01' RETURNING id"
            ),
            {"now": now},
        )
    yield int(alert_id)
    with engine.begin() as c:
        c.execute(text("DELETE FROM alert WHERE id = :i"), {"i": alert_id})
