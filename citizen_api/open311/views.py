"""Open311 GeoReport v2 views: thin wrappers over shared.service_requests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, request, url_for
from pydantic import ValidationError
from sqlalchemy import Row

from citizen_api.db import db, db_read
from citizen_api.errors import Open311Error
from citizen_api.extensions import fanout
from citizen_api.open311.render import respond
from shared.accounts.service import find_api_client_id
from shared.service_requests import service as sr
from shared.service_requests.flows import CREATED, announce_request
from shared.service_requests.models import RequestStatus
from shared.service_requests.schemas import (
    Contact,
    RequestCreate,
    RequestInvalid,
    RequestQuery,
    w3c,
)

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")

FMT = "<any(json, xml):fmt>"
MAX_WINDOW = timedelta(days=90)
SPEC = "http://wiki.open311.org/GeoReport_v2"
CLOSED = RequestStatus.closed.value


def request_out(r: Row[Any]) -> dict[str, object]:
    """Return the public Open311 fields of one row of `find_requests`."""
    # Unpacked in LISTING_COLUMNS' order: a Row's attribute access costs about 0.5 µs a field,
    # a third of the listing's rendering.
    (rid, status, notes, service_name, service_code, description, agency, requested_at,
     updated_at, address, address_id, lat, lon, media_url, first_media_id) = r  # fmt: skip
    return {
        "service_request_id": str(rid),
        "status": "closed" if status == CLOSED else "open",  # as open311_status
        "status_notes": notes or None,
        "service_name": service_name,
        "service_code": service_code,
        "description": description or None,
        "agency_responsible": agency or None,
        "service_notice": None,
        "requested_datetime": w3c(requested_at),
        "updated_datetime": w3c(updated_at),
        "expected_datetime": None,
        "address": address,
        "address_id": address_id,
        "zipcode": None,
        "lat": lat,
        "long": lon,
        "media_url": media_url
        or (
            url_for("reports.media", media_id=first_media_id, kind="full", _external=True)
            if first_media_id is not None
            else None
        ),
    }


@bp.get(f"/discovery.{FMT}")
def discovery(fmt: str) -> Response:
    """Describe this endpoint (Open311 service discovery)."""
    base = request.url_root.rstrip("/") + bp.url_prefix + "/"
    body = {
        "changeset": "2026-11-23T00:00:00+00:00",
        "contact": "Open311 desk of the city",
        "key_service": "Ask the city's IT desk for an API key",
        "endpoints": [
            {
                "specification": SPEC,
                "url": base,
                "changeset": "2026-11-23T00:00:00+00:00",
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
    return respond(fmt, "discovery", body)


@bp.get(f"/services.{FMT}")
def services(fmt: str) -> Response:
    """List the service catalogue."""
    with db() as session:
        body = [
            {
                "service_code": s.code,
                "service_name": s.name,
                "description": s.description,
                "metadata": bool(s.attributes),
                "type": s.type,
                "keywords": s.keywords,
                "group": s.group,
            }
            for s in sr.list_services(session=session)
        ]
    return respond(fmt, "services", body)


@bp.get(f"/services/<code>.{FMT}")
def service_definition(code: str, fmt: str) -> Response:
    """Return a service's attribute definitions."""
    with db() as session:
        svc = sr.get_service(session=session, code=code)
        if svc is None:
            raise Open311Error(404, f"service_code {code!r} not found")
        body = {"service_code": svc.code, "attributes": svc.attributes}
    return respond(fmt, "service_definition", body)


def _attributes() -> dict[str, str | list[str]]:
    out: dict[str, str | list[str]] = {}
    for key in request.form:
        if not isinstance(key, str):
            continue
        if key.startswith("attribute[") and key.endswith("[]"):
            out[key[10:-3]] = request.form.getlist(key)
        elif key.startswith("attribute[") and key.endswith("]"):
            values = request.form.getlist(key)
            out[key[10:-1]] = values if len(values) > 1 else values[0]
    return out


def _float(name: str) -> float | None:
    raw = request.form.get(name)
    if raw in (None, ""):
        return None
    try:
        return float(raw)
    except ValueError as exc:
        raise Open311Error(400, f"{name} must be a number") from exc


def _form_create() -> RequestCreate:
    f = request.form
    try:
        return RequestCreate(
            service_code=f.get("service_code", ""),
            lat=_float("lat"),
            long=_float("long"),
            address_string=f.get("address_string") or None,
            address_id=f.get("address_id") or None,
            description=f.get("description", ""),
            attributes=_attributes(),
            media_url=f.get("media_url") or None,
            contact=Contact(**{k: f[k] for k in Contact.model_fields if f.get(k)}),
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise Open311Error(400, f"{where + ': ' if where else ''}{first['msg']}") from exc


@bp.post(f"/requests.{FMT}")
def create_request(fmt: str) -> Response:
    """Create a service request from a form-encoded body."""
    key = request.form.get("api_key", "")
    with db() as session:
        # The id is all a request records: a Core select, no ORM object to build.
        client_id = find_api_client_id(session=session, api_key=key) if key else None
        if client_id is None:
            raise Open311Error(403, "api_key is missing or not valid")
        if not request.form.get("service_code"):
            raise Open311Error(400, "service_code is required")
        data = _form_create()
        try:
            req = sr.create_request(
                session=session, data=data, actor=f"client:{client_id}", api_client_id=client_id
            )
        except RequestInvalid as exc:
            raise Open311Error(400, str(exc)) from exc
        announce_request(
            session=session, request_id=req.id, event=CREATED, emit=fanout().emit_request
        )
        body = [
            {
                "service_request_id": str(req.id),
                "token": req.token,
                "service_notice": None,
                "account_id": data.contact.account_id,
            }
        ]
    return respond(fmt, "service_requests", body, 201)


def _when(name: str) -> datetime | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        ts = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise Open311Error(
            400, f"{name} must be a W3C datetime, e.g. 2026-11-23T10:00:00Z"
        ) from exc
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _query() -> RequestQuery:
    a = request.args
    if ids := a.get("service_request_id"):
        try:
            return RequestQuery(ids=[int(i) for i in ids.split(",") if i.strip()][:1000])
        except ValueError as exc:
            raise Open311Error(400, "service_request_id must be request ids") from exc
    start, end = _when("start_date"), _when("end_date")
    if start and end and end < start:
        raise Open311Error(400, "end_date is before start_date")
    if start and end and end - start > MAX_WINDOW:
        raise Open311Error(400, "start_date to end_date spans more than 90 days")
    end = end or (start + MAX_WINDOW if start else datetime.now(UTC))
    start = start or end - MAX_WINDOW
    statuses = None
    if status := a.get("status"):
        wanted = {s.strip() for s in status.split(",")}
        if not wanted <= {"open", "closed"}:
            raise Open311Error(400, "status must be open or closed")
        statuses = [RequestStatus.closed] if wanted == {"closed"} else None
        if wanted == {"open"}:
            statuses = [s for s in RequestStatus if s != RequestStatus.closed]
    bbox = None
    if raw := a.get("bbox"):
        try:
            parts = tuple(float(p) for p in raw.split(","))
        except ValueError:
            parts = ()
        if len(parts) != 4:
            raise Open311Error(400, "bbox is min_long,min_lat,max_long,max_lat")
        bbox = parts
    codes = [c for c in a.get("service_code", "").split(",") if c] or None
    return RequestQuery(service_codes=codes, start=start, end=end, statuses=statuses, bbox=bbox)


@bp.get(f"/requests.{FMT}")
def list_requests(fmt: str) -> Response:
    """Search requests (default: the last 90 days, at most 1,000)."""
    query = _query()
    with db_read() as session:
        body = [request_out(r) for r in sr.find_requests(session=session, query=query)]
    return respond(fmt, "service_requests", body)


@bp.get(f"/requests/<request_id>.{FMT}")
def get_request(request_id: str, fmt: str) -> Response:
    """Return one request (as a one-element list, as the spec does)."""
    with db_read() as session:
        found = []
        # ASCII digits only: str.isdigit() also accepts '¹' or '٣', which int() rejects.
        if request_id.isascii() and request_id.isdigit() and len(request_id) < 19:
            found = sr.find_requests(session=session, query=RequestQuery(ids=[int(request_id)]))
        if not found:
            raise Open311Error(404, f"service request {request_id} not found")
        body = [request_out(found[0])]
    return respond(fmt, "service_requests", body)


@bp.get(f"/tokens/<token>.{FMT}")
def get_token(token: str, fmt: str) -> Response:
    """Map a token to its service request id."""
    with db() as session:
        req = sr.get_request_by_token(session=session, token=token)
        if req is None:
            raise Open311Error(404, f"token {token} not found")
        body = [{"service_request_id": str(req.id), "token": req.token}]
    return respond(fmt, "service_requests", body)
