"""The baseline: the same two Open311 calls as a bare WSGI app (no Flask, no ORM, no limiter).

GET runs the same SQL our `find_requests` does and renders the same JSON fields with orjson;
POST checks the api_key the same way and inserts the request and its first history row in one
transaction. Served by the same gunicorn settings as `smartcity api`, so the difference between
the two is what Flask, SQLAlchemy, pydantic, flask-limiter and our checks cost.
Run: gunicorn -w 2 --threads 8 'bench.api.baseline:make_app()'
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import orjson
import psycopg

SQL_FIND = """
SELECT r.id, r.status, r.status_notes, s.name, s.code, r.description, s.agency_responsible,
       r.requested_at, r.updated_at, r.address_string, r.address_id,
       ST_X(r.geom), ST_Y(r.geom), r.media_url
FROM service_request r JOIN service s ON s.id = r.service_id
WHERE r.requested_at >= %s AND r.requested_at <= %s
  AND r.geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326)
ORDER BY r.requested_at DESC, r.id DESC LIMIT 1000
"""
SQL_KEY = "SELECT id FROM api_client WHERE key_hash = %s AND is_active"
SQL_SERVICE = "SELECT id FROM service WHERE code = %s AND is_active"
SQL_INSERT = """
INSERT INTO service_request (token, service_id, status, status_notes, description, geom,
    attributes, contact, api_client_id, requested_at, updated_at)
VALUES (%s, %s, 'open', '', %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326), '{}', '{}', %s,
    now(), now())
RETURNING id
"""
SQL_HISTORY = (
    "INSERT INTO service_request_status_change (request_id, status, note, actor, changed_at) "
    "VALUES (%s, 'open', '', %s, now())"
)

Start = Callable[[str, list[tuple[str, str]]], Any]


def _w3c(ts: datetime) -> str:
    return ts.isoformat(timespec="seconds")


def make_app(database_url: str | None = None) -> Callable[[dict[str, Any], Start], Iterable[bytes]]:
    """Return the WSGI app; one psycopg connection per gunicorn thread."""
    url = database_url or os.environ["DATABASE_URL"]
    local = threading.local()

    def conn() -> psycopg.Connection[Any]:
        c = getattr(local, "conn", None)
        if c is None or c.closed:
            c = local.conn = psycopg.connect(url, autocommit=True)
        return c

    def answer(start: Start, status: str, body: Any) -> list[bytes]:
        data = orjson.dumps(body)
        start(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]

    def find(environ: dict[str, Any], start: Start) -> list[bytes]:
        q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        end = datetime.fromisoformat(q["end_date"]) if "end_date" in q else datetime.now(UTC)
        begin = end - timedelta(days=90)
        if "start_date" in q:
            begin = datetime.fromisoformat(q["start_date"])
        bbox = [float(x) for x in q.get("bbox", "-180,-90,180,90").split(",")]
        rows = conn().execute(SQL_FIND, (begin, end, *bbox)).fetchall()
        body = [
            {
                "service_request_id": str(r[0]),
                "status": "closed" if r[1] == "closed" else "open",
                "status_notes": r[2] or None,
                "service_name": r[3],
                "service_code": r[4],
                "description": r[5] or None,
                "agency_responsible": r[6] or None,
                "service_notice": None,
                "requested_datetime": _w3c(r[7]),
                "updated_datetime": _w3c(r[8]),
                "expected_datetime": None,
                "address": r[9],
                "address_id": r[10],
                "zipcode": None,
                "lat": r[12],
                "long": r[11],
                "media_url": r[13],
            }
            for r in rows
        ]
        return answer(start, "200 OK", body)

    def create(environ: dict[str, Any], start: Start) -> list[bytes]:
        size = int(environ.get("CONTENT_LENGTH") or 0)
        form = {k: v[0] for k, v in parse_qs(environ["wsgi.input"].read(size).decode()).items()}
        key_hash = hashlib.sha256(form.get("api_key", "").encode()).hexdigest()
        c = conn()
        with c.transaction():
            client = c.execute(SQL_KEY, (key_hash,)).fetchone()
            if client is None:
                return answer(start, "403 Forbidden", [{"code": 403, "description": "api_key"}])
            service = c.execute(SQL_SERVICE, (form.get("service_code", ""),)).fetchone()
            if service is None:
                return answer(start, "400 Bad Request", [{"code": 400, "description": "service"}])
            token = str(uuid.uuid4())
            rid = c.execute(
                SQL_INSERT,
                (token, service[0], form.get("description", ""), float(form["long"]),
                 float(form["lat"]), client[0]),
            ).fetchone()[0]  # fmt: skip
            c.execute(SQL_HISTORY, (rid, f"client:{client[0]}"))
        body = [{"service_request_id": str(rid), "token": token, "service_notice": None,
                 "account_id": None}]  # fmt: skip
        return answer(start, "201 Created", body)

    def app(environ: dict[str, Any], start: Start) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ["REQUEST_METHOD"]
        if path == "/open311/v2/requests.json":
            return create(environ, start) if method == "POST" else find(environ, start)
        return answer(start, "404 Not Found", [{"code": 404, "description": "not found"}])

    return app
