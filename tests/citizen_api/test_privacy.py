"""Acceptance 3, route by route: a citizen can never read or change another citizen's account
data or private report details (test_accounts_and_reports covers reports, me, devices and
subscription deletion; this covers the rest), and new reports reach the console live."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from shared.stack import StackState
from tests.citizen_api.conftest import bearer, register
from tests.citizen_api.open311_client import Open311Client
from tests.citizen_api.test_accounts_and_reports import _jpeg_with_gps, _report

PRIVATE = ("email", "reporter", "contact", "citizen", "password", "first_name", "phone")


def _no_private_fields(body: Any, *secrets: str) -> None:
    text = json.dumps(body)
    for key in PRIVATE:
        assert f'"{key}":' not in text and f'"{key}_' not in text, key
    for secret in secrets:
        assert secret not in text, secret


def test_logout_with_someone_elses_refresh_token_is_refused(client: FlaskClient) -> None:
    alice, bob = register(client), register(client)
    resp = client.post(
        "/api/v1/auth/logout", json={"refresh_token": alice["refresh_token"]}, headers=bearer(bob)
    )
    assert resp.status_code == 403 and resp.mimetype == "application/problem+json"
    # Alice's session is untouched.
    again = client.post("/api/v1/auth/refresh", json={"refresh_token": alice["refresh_token"]})
    assert again.status_code == 200


def test_account_fields_cannot_be_taken_over(client: FlaskClient) -> None:
    alice, bob = register(client), register(client)
    for body in ({"email": alice["email"]}, {"id": alice["citizen"]["id"]}, {"password": "x" * 12}):
        resp = client.patch("/api/v1/me", json=body, headers=bearer(bob))
        assert resp.status_code == 400, body
    me = client.get("/api/v1/me", headers=bearer(bob)).get_json()
    assert me["email"] == bob["email"] and me["id"] == bob["citizen"]["id"]


def test_lists_show_only_the_callers_own_devices_and_subscriptions(client: FlaskClient) -> None:
    alice, bob = register(client), register(client)
    client.post(
        "/api/v1/devices", json={"token": "tok-a", "platform": "ios"}, headers=bearer(alice)
    )
    sub = client.post(
        "/api/v1/subscriptions",
        json={"lat": 52.43, "long": 13.54, "radius_m": 300},
        headers=bearer(alice),
    ).get_json()
    assert client.get("/api/v1/subscriptions", headers=bearer(bob)).get_json() == []
    assert client.get("/api/v1/devices", headers=bearer(bob)).get_json() == []
    mine = client.get("/api/v1/subscriptions", headers=bearer(alice)).get_json()
    assert [s["id"] for s in mine] == [sub["id"]]
    # Device tokens are never echoed, not even to their owner.
    assert "tok-a" not in json.dumps(client.get("/api/v1/devices", headers=bearer(alice)).json)


def test_unfollow_cannot_remove_someone_elses_following(client: FlaskClient) -> None:
    alice, bob = register(client), register(client)
    rid = _report(client, alice).get_json()["id"]
    assert client.delete(f"/api/v1/reports/{rid}/follow", headers=bearer(bob)).status_code == 404
    assert client.get(f"/api/v1/reports/{rid}", headers=bearer(alice)).status_code == 200
    assert [r["id"] for r in client.get("/api/v1/reports", headers=bearer(alice)).json] == [rid]


def test_public_views_of_a_citizen_report_carry_no_private_details(
    client: FlaskClient, api_key: str
) -> None:
    alice, bob = register(client, display_name="Alice Private"), register(client)
    rep = _report(client, alice, photos=[_jpeg_with_gps()], service_code="graffiti",
                  description="Tag on the bridge").get_json()  # fmt: skip
    rid = rep["id"]
    secrets = (alice["email"], "Alice Private")
    # A follower sees the public report only.
    client.put(f"/api/v1/reports/{rid}/follow", headers=bearer(bob))
    followed = client.get(f"/api/v1/reports/{rid}", headers=bearer(bob)).get_json()
    assert followed["is_reporter"] is False
    _no_private_fields(followed, *secrets)
    # Duplicate matching shows nothing about who reported.
    q = {"service_code": "graffiti", "lat": "52.4321", "long": "13.5452"}
    dups = client.get("/api/v1/reports/duplicates", query_string=q, headers=bearer(bob)).json
    assert rid in [d["service_request_id"] for d in dups]
    _no_private_fields(dups, *secrets)
    # Open311 (anyone, any client) in both formats.
    for fmt in ("json", "xml"):
        o311 = Open311Client(client, "/open311/v2", fmt, api_key)
        one = o311.request(str(rid))
        assert one.status == 200
        # The photo (EXIF already stripped) is public, as Open311's media_url.
        assert one.body[0]["media_url"].endswith(f"/api/v1/media/{rep['media'][0]['id']}/full")
        _no_private_fields(one.body, *secrets)
        listing = o311.requests(service_code="graffiti")
        _no_private_fields(listing.body, *secrets)


def test_open311_contact_details_stay_private(client: FlaskClient, api_key: str) -> None:
    o311 = Open311Client(client, "/open311/v2", "json", api_key)
    contact = {"email": "ann@example.org", "first_name": "Ann", "phone": "+49 30 1234"}
    made = o311.post_request(service_code="graffiti", lat="52.4321", long="13.5452", **contact)
    rid = made.body[0]["service_request_id"]
    token = made.body[0]["token"]
    for answer in (o311.request(rid), o311.token(token), o311.requests(service_request_id=rid)):
        _no_private_fields(answer.body, "ann@example.org", "+49 30 1234")
    # A citizen cannot pull a client's report into "my reports" by id either.
    bob = register(client)
    assert client.get(f"/api/v1/reports/{rid}", headers=bearer(bob)).status_code == 404


@pytest.fixture
def sio_events(stack: StackState):  # type: ignore[no-untyped-def]
    """Read Socket.IO emits off the Redis message queue (channel `flask-socketio`)."""
    pubsub = redis.Redis.from_url(stack.redis_url).pubsub()
    pubsub.subscribe("flask-socketio")
    pubsub.get_message(timeout=1)

    def read(event: str, timeout: float = 5.0) -> list[dict[str, Any]]:
        found, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = pubsub.get_message(timeout=0.2)
            if msg and msg["type"] == "message":
                data = json.loads(msg["data"])
                if data.get("event") == event:
                    found.append(data)
            elif found:
                break
        return found

    yield read
    pubsub.close()


def test_new_requests_are_emitted_to_the_console(
    client: FlaskClient, app: Flask, api_key: str, sio_events
) -> None:  # type: ignore[no-untyped-def]
    o311 = Open311Client(client, "/open311/v2", "json", api_key)
    made = o311.post_request(service_code="graffiti", lat="52.4321", long="13.5452",
                             email="ann@example.org", description="Fresh tag")  # fmt: skip
    rid = int(made.body[0]["service_request_id"])
    alice = register(client)
    rep = _report(client, alice, service_code="graffiti", description="Another tag").get_json()
    events = sio_events("service_request.created")
    items = {e["data"][0]["id"]: e for e in events}
    assert set(items) == {rid, rep["id"]}
    for e in items.values():
        assert e["room"] == "requests:all"
        _no_private_fields(e["data"], "ann@example.org", alice["email"])
    first = items[rid]["data"][0]
    assert first["description"] == "Fresh tag" and first["status"] == "open"
    assert first["service_code"] == "graffiti" and first["district_code"]
    assert [h["status"] for h in first["history"]] == ["open"]
    # A refused report emits nothing.
    o311.post_request(service_code="unicorns", lat="52.4321", long="13.5452")
    assert sio_events("service_request.created", timeout=1.0) == []
