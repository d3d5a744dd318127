"""The citizen-request queue: role-checked status changes through the Dash callback, audited in
the request's history, announced to every console over the Redis queue, and pushed to the
reporter (the real Celery message on Redis, then delivered to a local fake FCM)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import dash
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


def _item(rid: int, status: str = "open", note: str = "") -> Any:
    from datetime import UTC, datetime, timedelta

    from shared.service_requests.schemas import HistoryEntry, RequestQueueItem

    at = datetime(2026, 12, 1, tzinfo=UTC) + timedelta(minutes=rid)
    history = [HistoryEntry(status="open", note="", actor="client:1", changed_at=at)]
    if status != "open":
        history.append(HistoryEntry(status=status, note=note, actor="operator", changed_at=at))
    return RequestQueueItem(
        id=rid, service_code="graffiti", service_name="Graffiti", status=status,
        status_notes=note, description=f"Report {rid}", district_id=None, district_code=None,
        address=None, lat=52.43, long=13.54, photos=0, requested_at=at, updated_at=at,
        history=history,
    )  # fmt: skip


def _apply(operations: list[dict[str, Any]], children: list[Any]) -> list[Any]:
    """Apply a Dash Patch's list operations as the browser does."""
    out = list(children)
    for op in operations:
        kind, where, params = op["operation"], op["location"], op["params"]
        if kind == "Insert":
            out.insert(params["index"], params["value"])
        elif kind == "Assign":
            out[where[0]] = params["value"]
        elif kind == "Delete":
            del out[where[0]]
        else:
            raise AssertionError(f"unexpected patch operation {kind}")
    return out


def test_queue_update_patches_only_new_changed_and_gone_cards(
    client_as: Callable[[str], FlaskClient],
) -> None:
    """A new request, one changed and one closed: the card an operator may be typing a note in
    (unchanged) is left alone in the browser, not re-rendered with an empty note."""
    from dash import Patch

    from ops_console.pages.requests import patch_queue, shown_state

    before = [_item(5), _item(4), _item(3), _item(2)]
    after = [_item(7), _item(6), _item(5), _item(4, "acknowledged", "On it"), _item(2)]
    client = client_as("operator")
    with client.application.test_request_context("/requests"):
        patch, state = patch_queue(shown_state(before), after, can_act=True)
        same = patch_queue(shown_state(after), after, can_act=True)
        empty = patch_queue(shown_state(before), [], can_act=True)
        first = patch_queue([], after, can_act=True)
    assert isinstance(patch, Patch) and state == shown_state(after)
    in_browser = ["typed-in-5", "card-4", "card-3", "typed-in-2"]  # what the browser holds
    result = _apply(patch.to_plotly_json()["operations"], in_browser)
    assert [getattr(c, "id", c) for c in result] == [
        "requests-item-7", "requests-item-6", "typed-in-5", "requests-item-4", "typed-in-2",
    ]  # fmt: skip
    assert "On it" in str(result[3])
    # Nothing changed: nothing is sent. No cards on either side: the whole list.
    assert same == (dash.no_update, dash.no_update)
    assert isinstance(empty[0], list) and "feed-empty" in str(empty[0])
    assert isinstance(first[0], list) and len(first[0]) == len(after)


def test_refresh_callback_sends_only_the_new_card(
    client_as: Callable[[str], FlaskClient], console: Flask, engine: Engine, citizen_request: int
) -> None:
    """Through the Dash endpoint, as the browser calls it on `service_request.created`."""
    from ops_console.pages.requests import read_queue, shown_state

    with console.test_request_context("/requests"):
        shown = shown_state(read_queue())
    assert shown[0][0] == citizen_request
    with session_scope(engine) as session:
        new = create_request(
            session=session, actor="client:1",
            data=RequestCreate(service_code="graffiti", lat=52.4321, long=13.5452,
                               description="A second tag"),
        ).id  # fmt: skip
    try:
        dash_app = console.extensions["dash"]
        output = next(k for k in dash_app.callback_map if "requests-shown.data" in k)
        event = {"id": "app-socket", "property": "data-service_request.created", "value": {}}
        body = {
            "output": output,
            "outputs": [{"id": o["id"], "property": o["property"]} for o in _outputs(output)],
            "inputs": [
                event,
                {"id": "app-socket", "property": "data-service_request.updated", "value": None},
                {"id": "requests-version", "property": "data", "value": 0},
            ],
            "state": [{"id": "requests-shown", "property": "data", "value": shown}],
            "changedPropIds": ["app-socket.data-service_request.created"],
        }
        resp = client_as("operator").post("/_dash-update-component", json=body)
        assert resp.status_code == 200, resp.data
        answer = resp.get_json()["response"]
        ops = answer["requests-queue"]["children"]["operations"]
        # One card inserted on top; at most the oldest dropped when the queue was full.
        inserts = [o for o in ops if o["operation"] == "Insert"]
        assert [o["params"]["index"] for o in inserts] == [0], ops
        assert inserts[0]["params"]["value"]["props"]["id"] == f"requests-item-{new}"
        assert all(o["operation"] in ("Insert", "Delete") for o in ops), ops
        assert all(o["location"][0] >= len(shown) - 1 for o in ops if o["operation"] == "Delete")
        new_shown = answer["requests-shown"]["data"]
        assert new_shown[0][0] == new and new_shown[1:] == shown[: len(new_shown) - 1]
    finally:
        with engine.begin() as c:
            c.execute(text("DELETE FROM service_request WHERE id = :i"), {"i": new})
