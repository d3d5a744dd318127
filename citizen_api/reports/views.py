"""/api/v1/reports and /api/v1/media: thin views over shared.service_requests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from pydantic import ValidationError

from citizen_api.db import db
from citizen_api.errors import ApiProblem
from citizen_api.extensions import fanout
from citizen_api.tokens import current_citizen_id
from shared.config import get_settings
from shared.geo import lonlat
from shared.service_requests import service as sr
from shared.service_requests.flows import CREATED, announce_request, attach_photos
from shared.service_requests.models import RequestMedia, ServiceRequest
from shared.service_requests.schemas import RequestCreate, RequestInvalid
from shared.service_requests.storage import LocalStorage, MediaStorage

bp = Blueprint("reports", __name__, url_prefix="/api/v1")


def storage() -> MediaStorage:
    """Return the configured media storage (local disk unless the app config gives one)."""
    configured = current_app.config.get("MEDIA_STORAGE")
    return configured or LocalStorage(get_settings().resolved_media_root())


def _media_out(m: RequestMedia) -> dict[str, object]:
    return {
        "id": m.id,
        "url": url_for("reports.media", media_id=m.id, kind="full"),
        "thumbnail_url": url_for("reports.media", media_id=m.id, kind="thumb"),
        "content_type": m.content_type,
        "width": m.width,
        "height": m.height,
    }


def report_out(r: ServiceRequest, citizen_id: int) -> dict[str, object]:
    """Return a report as its reporter or a follower sees it (no other reporter's data)."""
    lon, lat = lonlat(r.geom) if r.geom is not None else (None, None)
    return {
        "id": r.id,
        "token": r.token,
        "service_code": r.service.code,
        "service_name": r.service.name,
        "status": r.status,
        "status_notes": r.status_notes,
        "description": r.description,
        "lat": lat,
        "long": lon,
        "address_string": r.address_string,
        "attributes": r.attributes,
        "requested_at": r.requested_at.isoformat(),
        "updated_at": r.updated_at.isoformat(),
        "is_reporter": r.reporter_citizen_id == citizen_id,
        "history": [
            {"status": h.status, "note": h.note, "changed_at": h.changed_at.isoformat()}
            for h in r.history
        ],
        "media": [_media_out(m) for m in r.media],
    }


def _form_create() -> RequestCreate:
    f = request.form
    attrs: dict[str, str | list[str]] = {}
    for key in f:
        # A multipart part may come without a name (werkzeug keys it None).
        if isinstance(key, str) and key.startswith("attribute[") and key.endswith("]"):
            values = f.getlist(key)
            multi = key.endswith("[]") or len(values) > 1
            attrs[key[10:].split("]")[0]] = values if multi else values[0]
    try:
        return RequestCreate(
            service_code=f.get("service_code", ""),
            lat=f.get("lat") or None,
            long=f.get("long") or None,
            address_string=f.get("address_string") or None,
            description=f.get("description", ""),
            attributes=attrs,
        )
    except ValidationError as exc:
        errors = [
            {"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"]} for e in exc.errors()
        ]
        raise ApiProblem(400, "the report is not valid", errors=errors) from exc


@bp.post("/reports")
def create_report() -> tuple[Response, int]:
    """File a report (multipart/form-data) with up to MAX_PHOTOS photos in `photos`."""
    citizen_id = current_citizen_id()
    if request.mimetype not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise ApiProblem(415, "send multipart/form-data")
    data = _form_create()
    settings = get_settings()
    photos = [f.read(settings.max_photo_bytes + 1) for f in request.files.getlist("photos")]
    if len(photos) > settings.max_photos:
        raise ApiProblem(400, f"at most {settings.max_photos} photos per report")
    with db() as session:
        try:
            req = sr.create_request(
                session=session,
                data=data,
                actor=f"citizen:{citizen_id}",
                reporter_citizen_id=citizen_id,
            )
            attach_photos(
                session=session,
                request=req,
                photos=photos,
                storage=storage(),
                max_bytes=settings.max_photo_bytes,
            )
        except RequestInvalid as exc:
            raise ApiProblem(400, str(exc)) from exc
        announce_request(
            session=session, request_id=req.id, event=CREATED, emit=fanout().emit_request
        )
        # No refresh: the INSERTs returned the server-side timestamps, and history and media
        # are the loaded collections the rows were added through.
        return jsonify(report_out(req, citizen_id)), 201


@bp.get("/reports")
def my_reports() -> Response:
    """List the caller's reports and the ones they follow, with full status history."""
    citizen_id = current_citizen_id()
    with db() as session:
        rows = sr.list_citizen_requests(session=session, citizen_id=citizen_id)
        return jsonify([report_out(r, citizen_id) for r in rows])


def _visible(session, report_id: int, citizen_id: int) -> ServiceRequest:  # type: ignore[no-untyped-def]
    req = sr.get_request(session=session, request_id=report_id)
    if req is None or not sr.citizen_can_see(session=session, request=req, citizen_id=citizen_id):
        raise ApiProblem(404, f"you have no report {report_id}")
    return req


@bp.get("/reports/<int:report_id>")
def get_report(report_id: int) -> Response:
    """Return one of the caller's reports (or one they follow)."""
    citizen_id = current_citizen_id()
    with db() as session:
        return jsonify(report_out(_visible(session, report_id, citizen_id), citizen_id))


@bp.get("/reports/duplicates")
def duplicates() -> Response:
    """Return open reports of the same service near a point, to follow instead of filing."""
    current_citizen_id()
    a = request.args
    try:
        lat, lon = float(a["lat"]), float(a["long"])
        code = a["service_code"]
    except (KeyError, ValueError) as exc:
        raise ApiProblem(400, "give service_code, lat and long") from exc
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ApiProblem(400, "lat/long out of range")
    settings = get_settings()
    with db() as session:
        svc = sr.get_service(session=session, code=code)
        if svc is None:
            raise ApiProblem(404, f"no service {code!r}")
        matches = sr.find_duplicates(
            session=session,
            service_id=svc.id,
            lon=lon,
            lat=lat,
            at=datetime.now(UTC),
            radius_m=settings.duplicate_radius_m,
            window=timedelta(hours=settings.duplicate_window_h),
        )
        out = []
        for r, dist in matches:
            rlon, rlat = lonlat(r.geom)
            out.append(
                {
                    "service_request_id": r.id,
                    "service_code": code,
                    "status": r.status,
                    "description": r.description,
                    "distance_m": round(dist, 1),
                    "requested_at": r.requested_at.isoformat(),
                    "lat": rlat,
                    "long": rlon,
                }
            )
        return jsonify(out)


@bp.put("/reports/<int:report_id>/follow")
def follow(report_id: int) -> tuple[str, int]:
    """Follow an open report (e.g. a duplicate match) instead of filing a new one."""
    citizen_id = current_citizen_id()
    with db() as session:
        req = sr.get_request(session=session, request_id=report_id)
        if req is None:
            raise ApiProblem(404, f"no report {report_id}")
        sr.follow_request(session=session, request_id=report_id, citizen_id=citizen_id)
    return "", 204


@bp.delete("/reports/<int:report_id>/follow")
def unfollow(report_id: int) -> tuple[str, int]:
    """Stop following a report."""
    citizen_id = current_citizen_id()
    with db() as session:
        if not sr.unfollow_request(session=session, request_id=report_id, citizen_id=citizen_id):
            raise ApiProblem(404, f"you do not follow report {report_id}")
    return "", 204


@bp.get("/media/<int:media_id>/<any(full, thumb):kind>")
def media(media_id: int, kind: str) -> Response:
    """Serve a stored photo (EXIF already stripped) or its thumbnail."""
    with db() as session:
        m = session.get(RequestMedia, media_id)
        if m is None:
            raise ApiProblem(404, f"no media {media_id}")
        key, ctype = (m.key, m.content_type) if kind == "full" else (m.thumb_key, "image/jpeg")
    try:
        data = storage().load(key)
    except FileNotFoundError as exc:
        raise ApiProblem(404, "the file is gone") from exc
    resp = Response(data, mimetype=ctype)
    resp.headers["Cache-Control"] = "public, max-age=86400, immutable"
    return resp
