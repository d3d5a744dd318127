"""HTTP batch ingest: per-device keys, problem+json errors, readings stored by the real worker."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import orjson
import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from citizen_api import create_app
from shared.db import session_scope
from shared.sensing.service import issue_device_key
from tests.integration.conftest import WorkerProcess


@pytest.fixture(scope="module")
def client(engine: Engine) -> FlaskClient:
    return create_app({"TESTING": True}).test_client()


@pytest.fixture(scope="module")
def device_key(engine: Engine) -> str:
    with session_scope(engine) as session:
        return issue_device_key(session=session, thing_code="WX-02")


def _stored(engine: Engine, code: str, metric: str) -> int:
    with engine.connect() as c:
        return c.scalar(
            text(
                "SELECT count(*) FROM observation o JOIN datastream d ON d.id = o.datastream_id "
                "JOIN thing t ON t.id = d.thing_id JOIN observed_property p "
                "ON p.id = d.observed_property_id WHERE t.code = :c AND p.code = :m"
            ),
            {"c": code, "m": metric},
        )


def test_a_senml_backfill_is_stored(
    client: FlaskClient, device_key: str, engine: Engine, worker: WorkerProcess
) -> None:
    base = int(time.time()) - 3600
    pack = [{"bn": "WX-02:", "bt": base, "n": "humidity", "u": "%", "v": 50.0}]
    pack += [{"n": "humidity", "t": i * 60, "v": 50.0 + i % 10} for i in range(1, 60)]
    resp = client.post("/api/v1/ingest/readings", data=orjson.dumps(pack),
                       headers={"Authorization": f"Bearer {device_key}",
                                "Content-Type": "application/senml+json"})  # fmt: skip
    assert resp.status_code == 202, resp.get_data(as_text=True)
    assert resp.json["accepted"] == 60 and resp.json["rejected"] == 0
    deadline = time.monotonic() + 20
    while _stored(engine, "WX-02", "humidity") < 60 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _stored(engine, "WX-02", "humidity") == 60


def test_plain_json_readings_are_accepted(client: FlaskClient, device_key: str) -> None:
    ts = datetime.now(UTC).isoformat()
    body = {"readings": [{"ts": ts, "temperature": 11.5, "wind_speed": 3.0}]}
    resp = client.post("/api/v1/ingest/readings", json=body,
                       headers={"Authorization": f"Bearer {device_key}"})  # fmt: skip
    assert resp.status_code == 202 and resp.json["accepted"] == 2


@pytest.mark.parametrize(
    ("headers", "body", "ctype", "status", "fragment"),
    [
        ({}, b"[]", "application/json", 401, "Authorization: Bearer"),
        ({"Authorization": "Bearer nope"}, b"[]", "application/json", 401, "unknown or revoked"),
        (None, b"hello", "text/plain", 415, "application/senml+json"),
        (None, b"{oops", "application/json", 400, "not JSON"),
        (None, b'{"rows": []}', "application/json", 400, '{"readings"'),
    ],
)
def test_errors_are_problem_json(  # type: ignore[no-untyped-def]
    client: FlaskClient, device_key: str, headers, body, ctype, status, fragment
) -> None:
    hdrs = headers if headers is not None else {"Authorization": f"Bearer {device_key}"}
    resp = client.post(
        "/api/v1/ingest/readings", data=body, headers={**hdrs, "Content-Type": ctype}
    )
    assert resp.status_code == status
    assert resp.content_type == "application/problem+json"
    assert resp.json["status"] == status and fragment in resp.json["detail"]


def test_unknown_routes_are_problem_json_too(client: FlaskClient) -> None:
    resp = client.get("/api/v1/nothing-here")
    assert resp.status_code == 404 and resp.content_type == "application/problem+json"


def test_a_device_cannot_send_for_another_sensor(client: FlaskClient, device_key: str) -> None:
    resp = client.post("/api/v1/ingest/readings", data=b'[{"n": "TD-0001:speed", "v": 3}]',
                       headers={"Authorization": f"Bearer {device_key}",
                                "Content-Type": "application/senml+json"})  # fmt: skip
    assert resp.status_code == 202
    assert resp.json["accepted"] == 0 and resp.json["rejected"] == 1
    assert "TD-0001" in resp.json["rejects"][0]["detail"]
