"""Roles are enforced on the server: through the JSON endpoint, the Dash callback and the
action layer itself. Operators' actions are audited with their username."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, text


def _status(engine: Engine, alert_id: int) -> str:
    with engine.connect() as c:
        return str(c.scalar(text("SELECT status FROM alert WHERE id = :i"), {"i": alert_id}))


def _dash_ack(client: FlaskClient, console: Flask, alert_id: int) -> Any:
    """Post what the browser posts when the Acknowledge button of a card is pressed."""
    dash_app = console.extensions["dash"]
    output = next(k for k in dash_app.callback_map if "home-action-status.children" in k)
    button = {"alert": alert_id, "type": "home-ack"}
    body = {
        "output": output,
        "outputs": [{"id": o["id"], "property": o["property"]} for o in _outputs(output)],
        "inputs": [
            [{"id": button, "property": "n_clicks", "value": 1}],
            [],
        ],
        # reasons (values, ids) of the cards on screen, then the alert store
        "state": [[], [], {"id": "app-alerts", "property": "data", "value": {}}],
        "changedPropIds": [json.dumps(button, separators=(",", ":"), sort_keys=True)
                           + ".n_clicks"],
    }  # fmt: skip
    return client.post("/_dash-update-component", json=body)


def _outputs(output: str) -> list[dict[str, str]]:
    parts = [p for p in output.strip(".").split("...") if p]
    out = []
    for p in parts:
        cid, prop = p.rsplit(".", 1)
        out.append({"id": cid, "property": prop})
    return out


def test_viewer_is_refused_by_the_endpoint(
    client_as: Callable[[str], FlaskClient], engine: Engine, open_alert: int
) -> None:
    resp = client_as("viewer").post(f"/api/alerts/{open_alert}/acknowledge", json={})
    assert resp.status_code == 403
    assert "viewer" in resp.json["error"]
    assert _status(engine, open_alert) == "open"


def test_viewer_is_refused_by_the_dash_callback(
    client_as: Callable[[str], FlaskClient], console: Flask, engine: Engine, open_alert: int
) -> None:
    resp = _dash_ack(client_as("viewer"), console, open_alert)
    assert resp.status_code == 200, resp.data
    assert "may not change alerts" in resp.data.decode()
    assert _status(engine, open_alert) == "open"


def test_operator_acknowledges_through_the_dash_callback(
    client_as: Callable[[str], FlaskClient], console: Flask, engine: Engine, open_alert: int
) -> None:
    resp = _dash_ack(client_as("operator"), console, open_alert)
    assert resp.status_code == 200, resp.data
    assert "Acknowledged NS-01" in resp.data.decode()
    assert _status(engine, open_alert) == "acknowledged"


def test_operator_resolves_with_reason_and_is_audited(
    client_as: Callable[[str], FlaskClient], engine: Engine, open_alert: int
) -> None:
    client = client_as("operator")
    assert client.post(f"/api/alerts/{open_alert}/resolve", json={}).status_code == 400
    resp = client.post(f"/api/alerts/{open_alert}/resolve", json={"reason": "sensor cleaned"})
    assert resp.status_code == 200, resp.json
    assert resp.json["status"] == "resolved"
    with engine.connect() as c:
        row = c.execute(
            text("SELECT actor, action, note FROM alert_event WHERE alert_id = :i "
                 "ORDER BY id DESC LIMIT 1"), {"i": open_alert}).one()  # fmt: skip
    assert tuple(row) == ("operator", "resolved", "sensor cleaned")


def test_endpoint_wants_json(client_as: Callable[[str], FlaskClient], open_alert: int) -> None:
    resp = client_as("admin").post(f"/api/alerts/{open_alert}/acknowledge", data="x")
    assert resp.status_code == 415


def test_operator_assigns_through_the_endpoint_and_is_audited(
    client_as: Callable[[str], FlaskClient], engine: Engine, open_alert: int
) -> None:
    client = client_as("operator")
    resp = client.post(f"/api/alerts/{open_alert}/assign", json={"assignee": "nobody"})
    assert resp.status_code == 400, resp.json
    resp = client.post(f"/api/alerts/{open_alert}/assign", json={"assignee": "dispatcher"})
    assert resp.status_code == 200, resp.json
    assert resp.json["assigned_to"] == "dispatcher" and resp.json["status"] == "open"
    with engine.connect() as c:
        row = c.execute(
            text("SELECT actor, action, note FROM alert_event WHERE alert_id = :i "
                 "ORDER BY id DESC LIMIT 1"), {"i": open_alert}).one()  # fmt: skip
        assigned = c.scalar(text("SELECT assigned_to FROM alert WHERE id = :i"), {"i": open_alert})
    assert tuple(row) == ("operator", "assigned", "to dispatcher")
    assert assigned == "dispatcher"


def test_viewer_cannot_assign(
    client_as: Callable[[str], FlaskClient], engine: Engine, open_alert: int
) -> None:
    resp = client_as("viewer").post(f"/api/alerts/{open_alert}/assign", json={"assignee": "viewer"})
    assert resp.status_code == 403
    with engine.connect() as c:
        assigned = c.scalar(text("SELECT assigned_to FROM alert WHERE id = :i"), {"i": open_alert})
    assert assigned is None


def test_assign_callback_refuses_viewers_and_serves_operators(
    client_as: Callable[[str], FlaskClient], console: Flask, engine: Engine, open_alert: int
) -> None:
    dash_app = console.extensions["dash"]
    output = next(
        k for k in dash_app.callback_map
        if "home-action-status.children" in k
        and any("home-assign" in str(i["id"]) for i in dash_app.callback_map[k]["inputs"])
    )  # fmt: skip
    button = {"alert": open_alert, "type": "home-assign"}
    picker = {"alert": open_alert, "type": "home-assignee"}
    body = {
        "output": output,
        "outputs": [{"id": o["id"], "property": o["property"].split("@")[0]}
                    for o in _outputs(output)],
        "inputs": [[{"id": button, "property": "n_clicks", "value": 1}]],
        "state": [[{"id": picker, "property": "value", "value": "viewer"}],
                  [{"id": picker, "property": "id", "value": picker}],
                  {"id": "app-alerts", "property": "data", "value": {}}],
        "changedPropIds": [json.dumps(button, separators=(",", ":"), sort_keys=True)
                           + ".n_clicks"],
    }  # fmt: skip
    resp = client_as("viewer").post("/_dash-update-component", json=body)
    assert resp.status_code == 200, resp.data
    assert "may not change alerts" in resp.data.decode()
    resp = client_as("operator").post("/_dash-update-component", json=body)
    assert resp.status_code == 200, resp.data
    assert "Assigned NS-01 to viewer" in resp.data.decode()
    with engine.connect() as c:
        assigned = c.scalar(text("SELECT assigned_to FROM alert WHERE id = :i"), {"i": open_alert})
    assert assigned == "viewer"
