"""The citizen-request queue: role-checked status changes through the Dash callback, audited in
the request's history, announced to every console over the Redis queue, and pushed to the
reporter (the real Celery message on Redis, then delivered to a local fake FCM)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from shared.accounts.models import Citizen
from shared.db import session_scope
from shared.notifications import service as ns
from shared.notifications.flows import push_status_change
from shared.service_requests.schemas import RequestCreate
from shared.service_requests.service import create_request, seed_service_catalogue
from shared.stack import StackState
from tests.ops_console.test_actions import _outputs
from tests.shared.notifications.test_push import fcm  # noqa: F401  (the fake FCM fixture)

SIO_CHANNEL = "flask-socketio"  # python-socketio's Redis manager channel


@pytest.fixture
def citizen_request(engine: Engine) -> Iterator[int]:
    """An open graffiti report by a citizen with a German Android device; removed afterwards."""
    with session_scope(engine) as session:
        seed_service_catalogue(session=session)
        citizen = Citizen(email=f"q-{uuid.uuid4().hex[:8]}@example.org", password_hash="x",
                          locale="de")  # fmt: skip
        session.add(citizen)
        session.flush()
        req = create_request(
            session=session, actor=f"citizen:{citizen.id}", reporter_citizen_id=citizen.id,
            data=RequestCreate(service_code="graffiti", lat=52.4321, long=13.5452,
                               description="Tag an der Brücke"),
        )  # fmt: skip
        ns.register_device(session=session, citizen_id=citizen.id, token=f"tok-{req.id}",
                           platform="android", locale="de-DE")  # fmt: skip
        rid, cid = req.id, citizen.id
    yield rid
    with engine.begin() as c:
        c.execute(text("DELETE FROM service_request WHERE id = :i"), {"i": rid})
        c.execute(text("DELETE FROM citizen WHERE id = :i"), {"i": cid})


def _dash_change(client: FlaskClient, console: Flask, rid: int, status: str, note: str) -> Any:
    """Post what the browser posts when a request card's button for `status` is pressed."""
    dash_app = console.extensions["dash"]
    output = next(k for k in dash_app.callback_map if "requests-action-status.children" in k)
    button = {"request": rid, "status": status, "type": "requests-to"}
    box = {"request": rid, "type": "requests-note"}
    body = {
        "output": output,
        "outputs": [{"id": o["id"], "property": o["property"]} for o in _outputs(output)],
        "inputs": [[{"id": button, "property": "n_clicks", "value": 1}]],
        "state": [
            [{"id": box, "property": "value", "value": note}],
            [{"id": box, "property": "id", "value": box}],
            {"id": "requests-version", "property": "data", "value": 0},
        ],
        "changedPropIds": [json.dumps(button, separators=(",", ":"), sort_keys=True)
                           + ".n_clicks"],
    }  # fmt: skip
    return client.post("/_dash-update-component", json=body)


def _status(engine: Engine, rid: int) -> str:
    with engine.connect() as c:
        return str(c.scalar(text("SELECT status FROM service_request WHERE id = :i"), {"i": rid}))


def _sio_events(pubsub: Any, event: str, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Socket.IO emits that went through the Redis message queue, decoded."""
    found, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline and not found:
        msg = pubsub.get_message(timeout=0.2)
        if msg and msg["type"] == "message":
            data = json.loads(msg["data"])  # python-socketio 5.x publishes JSON envelopes
            if data.get("event") == event:
                found.append(data)
    return found


def test_viewer_is_refused_by_the_server(
    client_as: Callable[[str], FlaskClient], console: Flask, engine: Engine, citizen_request: int
) -> None:
    resp = _dash_change(client_as("viewer"), console, citizen_request, "acknowledged", "")
    assert resp.status_code == 200, resp.data
    assert "may not change requests" in resp.data.decode()
    assert _status(engine, citizen_request) == "open"


def test_operator_moves_a_request_on_audited_announced_and_pushed(
    client_as: Callable[[str], FlaskClient],
    console: Flask,
    engine: Engine,
    stack: StackState,
    citizen_request: int,
    fcm,  # noqa: F811
) -> None:
    fake, notifier = fcm
    fake.sent.clear()
    r = redis.Redis.from_url(stack.redis_url)
    pubsub = r.pubsub()
    pubsub.subscribe(SIO_CHANNEL)
    pubsub.get_message(timeout=1)  # the subscribe confirmation
    r.delete("push")
    client, rid = client_as("operator"), citizen_request

    # Closing needs a public note; going backwards is refused.
    resp = _dash_change(client, console, rid, "closed", "  ")
    assert "public note" in resp.data.decode() and _status(engine, rid) == "open"
    resp = _dash_change(client, console, rid, "in_progress", "Team ist unterwegs.")
    assert f"Request {rid} is now In progress" in resp.data.decode(), resp.data
    assert _status(engine, rid) == "in_progress"
    resp = _dash_change(client, console, rid, "acknowledged", "")
    assert "changed meanwhile" in resp.data.decode() and _status(engine, rid) == "in_progress"

    # Audited: the history row names the operator and carries the public note.
    with engine.connect() as c:
        row = c.execute(
            text("SELECT id, status, note, actor FROM service_request_status_change"
                 " WHERE request_id = :i ORDER BY id DESC LIMIT 1"), {"i": rid}).one()  # fmt: skip
    change_id = row[0]
    assert tuple(row[1:]) == ("in_progress", "Team ist unterwegs.", "operator")

    # Announced to the consoles' request room through the Redis queue.
    (event,) = _sio_events(pubsub, "service_request.updated")
    (item,) = event["data"]  # the emit's arguments
    assert event["room"] == "requests:all" and item["id"] == rid
    assert item["status"] == "in_progress" and "contact" not in item

    # The push task went to the real broker with the change's id ...
    queued = [json.loads(m) for m in r.lrange("push", 0, -1)]
    assert [(m["headers"]["task"], m["headers"]["argsrepr"]) for m in queued] == [
        ("notify.request_status", f"[{change_id}]")
    ]
    # ... and running it sends exactly this message to the reporter's device.
    with session_scope(engine) as session:
        results = push_status_change(session=session, notifier=notifier, change_id=change_id)
    assert [(x.token, x.ok) for x in results] == [(f"tok-{rid}", True)]
    assert fake.sent == [
        {
            "path": "/v1/projects/demo/messages:send",
            "message": {
                "token": f"tok-{rid}",
                "notification": {
                    "title": "Ihre Meldung: Graffiti",
                    "body": fake.sent[0]["message"]["notification"]["body"],
                },
                "data": {
                    "kind": "service_request.status",
                    "service_request_id": str(rid),
                    "status": "in_progress",
                },
            },
        }
    ]
    assert fake.sent[0]["message"]["notification"]["body"].endswith("Team ist unterwegs.")
    r.delete("push")


def test_queue_page_lists_open_requests_newest_first(
    client_as: Callable[[str], FlaskClient], citizen_request: int
) -> None:
    from ops_console.pages.requests import layout

    client = client_as("operator")
    with client.application.test_request_context("/requests"):
        from flask import session

        session["user"] = {"username": "operator", "display_name": "O", "role": "operator"}
        page = str(layout())
    assert f"requests-item-{citizen_request}" in page and "Tag an der Brücke" in page
    assert "requests-to" in page  # operators get the controls
