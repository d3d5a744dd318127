"""The mobile app's recorded API contract (mobile/__tests__/contract/recorded.json) still holds.

The app's Jest tests replay the recorded requests and responses against its typed client;
this test runs the same conversation against the real API (real stack) and fails if any
response's status or shape (keys and value types, recursively) differs from the recording.
`RECORD_CONTRACT=1 .venv/bin/pytest tests/citizen_api/test_mobile_contract.py` rewrites it.
"""

from __future__ import annotations

import io
import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from PIL import Image

RECORDING = (
    Path(__file__).resolve().parents[2] / "mobile" / "__tests__" / "contract" / "recorded.json"
)
SECRET_KEYS = {"access_token", "refresh_token", "token"}


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (90, 120, 200)).save(out, "JPEG")
    return out.getvalue()


def shape(value: Any) -> Any:
    """Return the value's shape: dict keys, list item shape, scalar type (None matches any)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if value is None:
        return None
    return type(value).__name__


def same_shape(a: Any, b: Any, path: str = "$") -> list[str]:
    """Return where two shapes differ; None (JSON null) matches any type, [] any list."""
    if a is None or b is None:
        return []
    if isinstance(a, dict) and isinstance(b, dict):
        diffs = [f"{path}: keys {sorted(set(a) ^ set(b))}"] if set(a) != set(b) else []
        return diffs + [d for k in set(a) & set(b) for d in same_shape(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        return same_shape(a[0], b[0], f"{path}[0]") if a and b else []
    if {a, b} <= {"int", "float"}:
        return []
    return [] if a == b else [f"{path}: {a} != {b}"]


def request_shape(request: dict[str, Any]) -> dict[str, Any]:
    """Return what must not change in a request: method, path (ids blanked), body keys."""
    return {
        "method": request["method"],
        "path": re.sub(r"/\d+(/|$)", r"/{id}\1", request["path"]),
        "auth": request["auth"],
        "json": sorted(request.get("json") or {}),
        "form": request.get("form"),
    }


def converse(client: FlaskClient) -> list[dict[str, Any]]:
    """Run the app's conversation with the API and record each request and response."""
    log: list[dict[str, Any]] = []
    headers: dict[str, str] = {}

    def call(name: str, method: str, path: str, *, json_body: Any = None,
             form: dict[str, Any] | None = None, auth: bool = True) -> Any:  # fmt: skip
        kw: dict[str, Any] = {"headers": headers if auth else {}}
        if json_body is not None:
            kw["json"] = json_body
        if form is not None:
            kw["data"] = form
            kw["content_type"] = "multipart/form-data"
        resp = client.open(path, method=method, **kw)
        body = resp.get_json(silent=True)
        request: dict[str, Any] = {"method": method, "path": path, "auth": auth}
        if json_body is not None:
            request["json"] = json_body
        if form is not None:
            request["form"] = sorted(k for k in form)
        log.append({"name": name, "request": request,
                    "response": {"status": resp.status_code, "body": body}})  # fmt: skip
        return body

    email = f"contract-{uuid.uuid4().hex[:8]}@example.org"
    reg = call("register", "POST", "/api/v1/auth/register", auth=False,
               json_body={"email": email, "password": "correct horse battery",
                          "display_name": "Ada", "locale": "de"})  # fmt: skip
    headers["Authorization"] = f"Bearer {reg['access_token']}"
    call("login", "POST", "/api/v1/auth/login", auth=False,
         json_body={"email": email, "password": "correct horse battery"})  # fmt: skip
    call("login_wrong", "POST", "/api/v1/auth/login", auth=False,
         json_body={"email": email, "password": "wrong password"})  # fmt: skip
    call("me", "GET", "/api/v1/me")
    call("services", "GET", "/open311/v2/services.json", auth=False)
    call("service_definition", "GET", "/open311/v2/services/pothole.json", auth=False)
    form = {"service_code": "pothole", "description": "Deep hole by the kerb",
            "lat": "52.43100", "long": "13.53000", "attribute[size]": "large",
            "photos": [(io.BytesIO(_jpeg()), "photo-1.jpeg")]}  # fmt: skip
    report = call("create_report", "POST", "/api/v1/reports", form=form)
    call("create_report_invalid", "POST", "/api/v1/reports",
         form={"service_code": "pothole", "lat": "52.431", "long": "13.53"})  # fmt: skip
    call("my_reports", "GET", "/api/v1/reports")
    call("duplicates", "GET",
         "/api/v1/reports/duplicates?service_code=pothole&lat=52.431&long=13.53")  # fmt: skip
    call("follow", "PUT", f"/api/v1/reports/{report['id']}/follow")
    call("subscribe", "POST", "/api/v1/subscriptions",
         json_body={"lat": 52.431, "long": 13.53, "radius_m": 500})  # fmt: skip
    call("subscriptions", "GET", "/api/v1/subscriptions")
    call("register_device", "POST", "/api/v1/devices",
         json_body={"token": "fcm-token-" + uuid.uuid4().hex, "platform": "android",
                    "locale": "de"})  # fmt: skip
    return log


def redact(value: Any) -> Any:
    """Replace tokens with a placeholder before writing the recording (same type, no secret)."""
    if isinstance(value, dict):
        return {k: "REDACTED" if k in SECRET_KEYS else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def test_recorded_contract_matches_the_real_api(client: FlaskClient) -> None:
    live = converse(client)
    if os.environ.get("RECORD_CONTRACT"):
        RECORDING.parent.mkdir(parents=True, exist_ok=True)
        RECORDING.write_text(json.dumps(redact(live), indent=2, ensure_ascii=False) + "\n")
    recorded = json.loads(RECORDING.read_text())
    assert [r["name"] for r in recorded] == [r["name"] for r in live]
    problems = []
    for rec, got in zip(recorded, live, strict=True):
        assert request_shape(rec["request"]) == request_shape(got["request"]), rec["name"]
        if rec["response"]["status"] != got["response"]["status"]:
            problems.append(f"{rec['name']}: status {got['response']['status']}, "
                            f"recorded {rec['response']['status']}")  # fmt: skip
        for diff in same_shape(shape(rec["response"]["body"]), shape(got["response"]["body"])):
            problems.append(f"{rec['name']}: {diff}")
    assert not problems, "\n".join(problems)
