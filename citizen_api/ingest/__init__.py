"""HTTP batch ingest for scripts and back-fills: POST /api/v1/ingest/readings, per-device keys.

Readings go through the same Celery task as MQTT batches, so they meet the same validation,
dead-letter table and alert rules.
"""

from __future__ import annotations

import time
from uuid import uuid4

import orjson
from flask import Blueprint, Response, current_app, jsonify, request

from citizen_api.errors import ApiProblem
from shared.db import session_scope
from shared.districts.models import District
from shared.ingest.parsers import parse_message
from shared.ingest.schemas import Batch, Reading, Reject, batch_encoder
from shared.sensing.service import authenticate_device

bp = Blueprint("ingest", __name__, url_prefix="/api/v1/ingest")

MAX_READINGS = 200_000
SENML = "application/senml+json"


def _device_topic() -> tuple[str, str]:
    auth = request.headers.get("Authorization", "")
    if not auth.startswith("Bearer ") or not auth[7:].strip():
        raise ApiProblem(401, "send the device key as `Authorization: Bearer <key>`")
    with session_scope() as session:
        thing = authenticate_device(session=session, key=auth[7:].strip())
        if thing is None:
            raise ApiProblem(401, "unknown or revoked device key")
        d = session.get(District, thing.district_id) if thing.district_id is not None else None
        district = d.code if d else "none"
        return thing.code, f"city/{district}/{thing.sensor_type.value}/{thing.code}"


@bp.post("/readings")
def post_readings() -> tuple[Response, int]:
    """Accept a SenML pack or {"readings": [{"ts": ..., "<metric>": value}]} for one device."""
    code, topic = _device_topic()
    ctype = (request.mimetype or "").lower()
    if ctype not in (SENML, "application/json"):
        raise ApiProblem(415, f"send {SENML} or application/json, not {ctype or 'nothing'}")
    body = request.get_data(cache=False)
    now = time.time()
    readings: list[Reading] = []
    rejects: list[Reject] = []
    if ctype == SENML or body.lstrip()[:1] == b"[":
        readings, rejects = parse_message(topic, body, now=now)
    else:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ApiProblem(400, f"body is not JSON: {exc}") from exc
        items = doc.get("readings") if isinstance(doc, dict) else None
        if not isinstance(items, list):
            raise ApiProblem(400, 'expected {"readings": [...]} or a SenML pack')
        for item in items:
            r, j = parse_message(topic, orjson.dumps(item), now=now)
            readings += r
            rejects += j
    if len(readings) + len(rejects) > MAX_READINGS:
        raise ApiProblem(413, f"at most {MAX_READINGS} readings per request; split the back-fill")
    foreign = sorted({r.sensor for r in readings if r.sensor != code})
    if foreign:
        raise ApiProblem(
            403, f"this key belongs to {code}; it cannot send for {', '.join(foreign)}"
        )
    batch = Batch(batch_id=uuid4().hex, received_at=now, readings=readings, rejects=rejects)
    current_app.extensions["celery"].send_task(
        "ingest.store_batch", args=[batch_encoder.encode(batch).decode()]
    )
    shown = [{"reason": j.reason, "detail": j.detail} for j in rejects[:100]]
    body_out = {"batch_id": batch.batch_id, "accepted": len(readings), "rejected": len(rejects),
                "rejects": shown}  # fmt: skip
    return jsonify(body_out), 202
