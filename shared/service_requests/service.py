"""Queries and state changes for the service catalogue and service requests."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from geoalchemy2 import Geography
from sqlalchemy import Float, Row, Select, bindparam, cast, func, insert, or_, select
from sqlalchemy.orm import Session, load_only, make_transient_to_detached, selectinload

from shared.districts.models import District
from shared.geo import SRID, lonlat, point
from shared.service_requests.catalogue import CATALOGUE
from shared.service_requests.models import (
    RequestFollower,
    RequestMedia,
    RequestStatus,
    Service,
    ServiceRequest,
    StatusChange,
)
from shared.service_requests.schemas import (
    HistoryEntry,
    RequestCreate,
    RequestInvalid,
    RequestQuery,
    RequestQueueItem,
)

NUMBER_TYPES = ("number",)


def seed_service_catalogue(*, session: Session) -> int:
    """Create or update the demo catalogue of city services; return how many were new."""
    existing = {s.code: s for s in session.scalars(select(Service))}
    created = 0
    for item in CATALOGUE:
        svc = existing.get(item["code"])
        if svc is None:
            svc = Service(code=item["code"])
            session.add(svc)
            created += 1
        svc.name, svc.description, svc.group = item["name"], item["description"], item["group"]
        svc.keywords, svc.agency_responsible = item["keywords"], item["agency"]
        svc.type, svc.attributes, svc.is_active = "realtime", item["attributes"], True
    session.flush()
    return created


def list_services(*, session: Session) -> list[Service]:
    """Return the active services ordered by group and name."""
    q = select(Service).where(Service.is_active.is_(True)).order_by(Service.group, Service.name)
    return list(session.scalars(q))


# Built once with bound parameters (as the statements below): every POST runs them, and a
# statement built per call is also cache-keyed per call.
_ACTIVE_SERVICE = select(Service).where(
    Service.code == bindparam("code"), Service.is_active.is_(True)
)


def get_service(*, session: Session, code: str) -> Service | None:
    """Return the active service with this code, or None."""
    return session.scalar(_ACTIVE_SERVICE, {"code": code})


def check_attributes(*, service: Service, values: dict[str, str | list[str]]) -> dict[str, Any]:
    """Return attribute values checked against the service's definitions, or raise."""
    defs = {a["code"]: a for a in service.attributes}
    unknown = sorted(set(values) - set(defs))
    if unknown:
        raise RequestInvalid(f"unknown attribute(s) for {service.code}: {', '.join(unknown)}")
    out: dict[str, Any] = {}
    for code, d in defs.items():
        raw = values.get(code)
        if raw in (None, "", []):
            if d["required"]:
                raise RequestInvalid(f"attribute[{code}] is required: {d['description']}")
            continue
        keys = {v["key"] for v in d["values"]}
        if d["datatype"] == "multivaluelist":
            items = raw if isinstance(raw, list) else [raw]
            bad = [v for v in items if v not in keys]
            if bad:
                raise RequestInvalid(f"attribute[{code}]: {bad[0]!r} is not one of {sorted(keys)}")
            out[code] = list(dict.fromkeys(items))
            continue
        if isinstance(raw, list):
            if len(raw) != 1:
                raise RequestInvalid(f"attribute[{code}] takes one value")
            raw = raw[0]
        if d["datatype"] == "singlevaluelist" and raw not in keys:
            raise RequestInvalid(f"attribute[{code}]: {raw!r} is not one of {sorted(keys)}")
        if d["datatype"] in NUMBER_TYPES:
            try:
                float(raw)
            except ValueError as exc:
                raise RequestInvalid(f"attribute[{code}] must be a number") from exc
        if d["datatype"] == "datetime":
            try:
                datetime.fromisoformat(raw)
            except ValueError as exc:
                raise RequestInvalid(f"attribute[{code}] must be an ISO 8601 datetime") from exc
        out[code] = raw
    return out


def create_request(
    *,
    session: Session,
    data: RequestCreate,
    actor: str,
    reporter_citizen_id: int | None = None,
    api_client_id: int | None = None,
) -> ServiceRequest:
    """Create an open request with its first history row; the reporter follows it."""
    service = get_service(session=session, code=data.service_code)
    if service is None:
        raise RequestInvalid(f"service_code {data.service_code!r} is not in the catalogue")
    attributes = check_attributes(service=service, values=data.attributes)
    district = None
    if data.lat is not None and data.long is not None:
        district = _district_at(session=session, lon=data.long, lat=data.lat)
    values: dict[str, Any] = {
        "token": str(uuid.uuid4()),
        "service_id": service.id,
        "status": RequestStatus.open.value,
        "status_notes": "",
        "description": data.description,
        "geom": point(data.long, data.lat)
        if data.lat is not None and data.long is not None
        else None,
        "address_string": data.address_string,
        "address_id": data.address_id,
        "district_id": district.id if district else None,
        "attributes": attributes,
        "media_url": data.media_url,
        "reporter_citizen_id": reporter_citizen_id,
        "api_client_id": api_client_id,
        "contact": data.contact.model_dump(exclude_none=True),
    }
    first = {"status": RequestStatus.open.value, "note": "", "actor": actor}
    stmt = _create_statement(follower=reporter_citizen_id is not None)
    row = session.execute(stmt, {**values, **{f"first_{k}": v for k, v in first.items()}}).one()
    # The rows as the session would have them after a flush, every column set, so reading them
    # back (the console's queue item, the app's answer) needs no query. Made persistent as if
    # loaded: the session must not insert them again.
    change = StatusChange(id=row.change_id, request_id=row.id, changed_at=row.changed_at, **first)
    req = ServiceRequest(
        **values,
        id=row.id,
        requested_at=row.requested_at,
        updated_at=row.updated_at,
        service=service,
        district=district,
        history=[change],
        # No photos yet: an empty, loaded collection (attach_photos appends to it) rather than a
        # lazy load when the queue item counts them.
        media=[],
    )
    make_transient_to_detached(change)
    make_transient_to_detached(req)
    session.add(req)
    return req


_RT = ServiceRequest.__table__
_HT = StatusChange.__table__
_FT = RequestFollower.__table__
# What create_request writes; the rest are server defaults the INSERT returns.
_CREATE_COLUMNS = (
    "token", "service_id", "status", "status_notes", "description", "geom", "address_string",
    "address_id", "district_id", "attributes", "media_url", "reporter_citizen_id",
    "api_client_id", "contact",
)  # fmt: skip


@lru_cache(maxsize=2)
def _create_statement(*, follower: bool) -> Select[Any]:
    """Return the one statement that inserts a request, its first history row and (for a
    citizen's report) its reporter as follower, returning the ids and server timestamps.

    One round trip instead of the ORM's flush (two or three INSERTs in order, and the unit of
    work around them: about a third of a POST's CPU). Values are bound parameters: built once.
    """
    new = (
        insert(_RT)
        .values({name: bindparam(name, type_=_RT.c[name].type) for name in _CREATE_COLUMNS})
        .returning(_RT.c.id, _RT.c.requested_at, _RT.c.updated_at)
        .cte("new_request")
    )
    history = [
        new.c.id,
        *(bindparam(f"first_{k}", type_=_HT.c[k].type) for k in ("status", "note", "actor")),
    ]
    first = (
        insert(_HT)
        .from_select(["request_id", "status", "note", "actor"], select(*history))
        .returning(_HT.c.id, _HT.c.request_id, _HT.c.changed_at)
        .cte("first_change")
    )
    q = select(
        new.c.id,
        new.c.requested_at,
        new.c.updated_at,
        first.c.id.label("change_id"),
        first.c.changed_at,
    ).select_from(new.join(first, first.c.request_id == new.c.id))
    if follower:
        follows = insert(_FT).from_select(
            ["request_id", "citizen_id"],
            select(new.c.id, bindparam("reporter_citizen_id", type_=_FT.c.citizen_id.type)),
        )
        # PostgreSQL runs a data-modifying WITH query even though the SELECT does not read it.
        q = q.add_cte(follows.cte("follows"))
    return q


# Its id and code are all a request needs; the boundary (a MultiPolygon) stays unloaded.
_DISTRICT_AT = (
    select(District)
    .options(load_only(District.id, District.code))
    .where(
        func.ST_Covers(
            District.geom,
            func.ST_SetSRID(
                func.ST_MakePoint(bindparam("lon", type_=Float), bindparam("lat", type_=Float)),
                SRID,
            ),
        )
    )
    .limit(1)
)


def _district_at(*, session: Session, lon: float, lat: float) -> District | None:
    """Return the district covering the WGS84 point (id and code only), or None."""
    return session.scalar(_DISTRICT_AT, {"lon": lon, "lat": lat})


def get_request(*, session: Session, request_id: int) -> ServiceRequest | None:
    """Return a request by id, or None."""
    return session.get(ServiceRequest, request_id)


def get_request_by_token(*, session: Session, token: str) -> ServiceRequest | None:
    """Return the request created under this token, or None."""
    return session.scalar(select(ServiceRequest).where(ServiceRequest.token == token))


# The Open311 listing's columns, in `request_out`'s order. Plain Core rows rather than ORM objects:
# building 75 mapped objects (identity map, state, deferred columns) and reading them back cost
# about 10 ms of CPU per GET, several times the query itself. Coordinates and the first photo's id
# come from SQL (no WKB parsing in Python, no media query per row); the JSONB columns a listing
# does not show (attributes, contact, the service's attribute definitions) are not read at all.
_R = ServiceRequest.__table__.c
_S = Service.__table__.c
_M = RequestMedia.__table__.c
LISTING_COLUMNS = (
    _R.id,
    _R.status,
    _R.status_notes,
    _S.name.label("service_name"),
    _S.code.label("service_code"),
    _R.description,
    _S.agency_responsible,
    _R.requested_at,
    _R.updated_at,
    _R.address_string,
    _R.address_id,
    func.ST_Y(_R.geom).label("lat"),
    func.ST_X(_R.geom).label("lon"),
    _R.media_url,
    select(func.min(_M.id))
    .where(_M.request_id == _R.id)
    .correlate_except(RequestMedia.__table__)
    .scalar_subquery()
    .label("first_media_id"),
)


@lru_cache(maxsize=64)
def _listing_statement(
    *, by_ids: bool, codes: bool, start: bool, end: bool, statuses: bool, bbox: bool
) -> Select[Any]:
    """Return the listing statement for one combination of filters, values as bound parameters.

    Built once per combination, so that each GET skips building and cache-keying the statement.
    """
    q = select(*LISTING_COLUMNS).select_from(
        ServiceRequest.__table__.join(Service.__table__, _S.id == _R.service_id)
    )
    if by_ids:
        q = q.where(_R.id.in_(bindparam("ids", expanding=True)))
    else:
        if codes:
            q = q.where(_S.code.in_(bindparam("codes", expanding=True)))
        if start:
            q = q.where(_R.requested_at >= bindparam("start", type_=_R.requested_at.type))
        if end:
            q = q.where(_R.requested_at <= bindparam("end", type_=_R.requested_at.type))
        if statuses:
            q = q.where(_R.status.in_(bindparam("statuses", expanding=True)))
        if bbox:
            envelope = func.ST_MakeEnvelope(
                bindparam("x0", type_=Float),
                bindparam("y0", type_=Float),
                bindparam("x1", type_=Float),
                bindparam("y1", type_=Float),
                SRID,
            )
            q = q.where(_R.geom.op("&&")(envelope))
    return q.order_by(_R.requested_at.desc(), _R.id.desc()).limit(bindparam("limit"))


def find_requests(*, session: Session, query: RequestQuery) -> Sequence[Row[Any]]:
    """Return requests matching Open311 filters, newest first, at most `query.limit`.

    Rows carry `LISTING_COLUMNS` by name: public fields only, plus `lat`, `lon` and
    `first_media_id`.
    """
    params: dict[str, Any] = {"limit": query.limit}
    if query.ids is not None:
        params["ids"] = query.ids
    else:
        if query.service_codes:
            params["codes"] = query.service_codes
        if query.start is not None:
            params["start"] = query.start
        if query.end is not None:
            params["end"] = query.end
        if query.statuses:
            params["statuses"] = [s.value for s in query.statuses]
        if query.bbox is not None:
            params.update(zip(("x0", "y0", "x1", "y1"), query.bbox, strict=True))
    stmt = _listing_statement(
        by_ids=query.ids is not None,
        codes="codes" in params,
        start="start" in params,
        end="end" in params,
        statuses="statuses" in params,
        bbox="x0" in params,
    )
    return session.connection().execute(stmt, params).all()


def set_request_status(
    *, session: Session, request_id: int, status: RequestStatus, note: str, actor: str
) -> StatusChange:
    """Record a status change (or a new public note on the same status) in the history."""
    lock = select(ServiceRequest).where(ServiceRequest.id == request_id)
    req = session.scalar(lock.with_for_update(of=ServiceRequest))
    if req is None:
        raise LookupError(f"no service request {request_id}")
    if status.value == req.status and not note.strip():
        raise RequestInvalid(f"request {request_id} is already {status.value}; add a note")
    change = StatusChange(request_id=req.id, status=status.value, note=note.strip(), actor=actor)
    session.add(change)
    req.status, req.status_notes, req.updated_at = status.value, note.strip(), func.now()
    session.flush()
    return change


def find_duplicates(
    *,
    session: Session,
    service_id: int,
    lon: float,
    lat: float,
    at: datetime,
    radius_m: float,
    window: timedelta,
    limit: int = 5,
) -> list[tuple[ServiceRequest, float]]:
    """Return open requests of the same service within radius and time window, nearest first."""
    here = cast(func.ST_SetSRID(func.ST_MakePoint(lon, lat), SRID), Geography)
    there = cast(ServiceRequest.geom, Geography)
    dist = func.ST_Distance(there, here).label("distance_m")
    q = (
        select(ServiceRequest, dist)
        .where(
            ServiceRequest.service_id == service_id,
            ServiceRequest.status != RequestStatus.closed.value,
            ServiceRequest.geom.is_not(None),
            ServiceRequest.requested_at >= at - window,
            ServiceRequest.requested_at <= at + window,
            func.ST_DWithin(there, here, radius_m),
        )
        .order_by(dist, ServiceRequest.id)
        .limit(limit)
    )
    return [(r, float(d)) for r, d in session.execute(q)]


def follow_request(*, session: Session, request_id: int, citizen_id: int) -> bool:
    """Make the citizen follow the request; return False if they already did."""
    if session.get(RequestFollower, (request_id, citizen_id)) is not None:
        return False
    session.add(RequestFollower(request_id=request_id, citizen_id=citizen_id))
    session.flush()
    return True


def unfollow_request(*, session: Session, request_id: int, citizen_id: int) -> bool:
    """Stop the citizen following the request; return False if they did not."""
    row = session.get(RequestFollower, (request_id, citizen_id))
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def follower_ids(*, session: Session, request_id: int) -> list[int]:
    """Return the ids of the citizens following a request."""
    q = select(RequestFollower.citizen_id).where(RequestFollower.request_id == request_id)
    return list(session.scalars(q))


def list_citizen_requests(*, session: Session, citizen_id: int) -> Sequence[ServiceRequest]:
    """Return the requests a citizen reported or follows, newest first, with history."""
    followed = select(RequestFollower.request_id).where(RequestFollower.citizen_id == citizen_id)
    q = (
        select(ServiceRequest)
        .where(
            or_(
                ServiceRequest.reporter_citizen_id == citizen_id,
                ServiceRequest.id.in_(followed),
            )
        )
        .options(selectinload(ServiceRequest.history), selectinload(ServiceRequest.media))
        .order_by(ServiceRequest.requested_at.desc(), ServiceRequest.id.desc())
    )
    return list(session.scalars(q))


def citizen_can_see(*, session: Session, request: ServiceRequest, citizen_id: int) -> bool:
    """Return True if the citizen reported or follows the request."""
    if request.reporter_citizen_id == citizen_id:
        return True
    return session.get(RequestFollower, (request.id, citizen_id)) is not None


def queue_item(*, session: Session, request: ServiceRequest) -> RequestQueueItem:
    """Return the console's view of one request, with its audited history."""
    lon, lat = lonlat(request.geom) if request.geom is not None else (None, None)
    district = request.district if request.district_id is not None else None
    return RequestQueueItem(
        id=request.id,
        service_code=request.service.code,
        service_name=request.service.name,
        status=RequestStatus(request.status),
        status_notes=request.status_notes,
        description=request.description,
        district_id=request.district_id,
        district_code=district.code if district else None,
        address=request.address_string or request.address_id,
        lat=lat,
        long=lon,
        photos=len(request.media),
        requested_at=request.requested_at,
        updated_at=request.updated_at,
        history=[
            HistoryEntry(
                status=RequestStatus(h.status), note=h.note, actor=h.actor, changed_at=h.changed_at
            )
            for h in request.history
        ],
    )


def list_request_queue(
    *, session: Session, include_closed: bool = False, limit: int = 100
) -> list[RequestQueueItem]:
    """Return the staff queue: requests not yet closed (or all), newest first."""
    q = (
        select(ServiceRequest)
        .options(
            selectinload(ServiceRequest.history),
            selectinload(ServiceRequest.media),
            selectinload(ServiceRequest.district).load_only(District.code),
        )
        .order_by(ServiceRequest.requested_at.desc(), ServiceRequest.id.desc())
        .limit(limit)
    )
    if not include_closed:
        q = q.where(ServiceRequest.status != RequestStatus.closed.value)
    return [queue_item(session=session, request=r) for r in session.scalars(q)]
