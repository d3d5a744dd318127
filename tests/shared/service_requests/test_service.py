"""Catalogue, request creation, status history, duplicates and followers on the real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from shared.geo import lonlat
from shared.service_requests import flows
from shared.service_requests.models import RequestStatus, Service, ServiceRequest, StatusChange
from shared.service_requests.schemas import Contact, RequestCreate, RequestInvalid, RequestQuery
from shared.service_requests.service import (
    create_request,
    find_duplicates,
    find_requests,
    follower_ids,
    list_citizen_requests,
    list_services,
    queue_item,
    seed_service_catalogue,
)
from tests.shared.service_requests.conftest import make_citizen

LON, LAT = 13.545, 52.432  # inside the demo city


def _new(session: Session, **kw) -> RequestCreate:
    base = {"service_code": "pothole", "lat": LAT, "long": LON, "attributes": {"size": "small"}}
    return RequestCreate(**{**base, **kw})


def test_catalogue_is_seeded_idempotently(catalogue: Session) -> None:
    codes = {s.code for s in list_services(session=catalogue)}
    assert codes == {
        "pothole",
        "streetlight_out",
        "illegal_dumping",
        "graffiti",
        "noise_complaint",
        "blocked_drain",
        "damaged_sign",
        "air_quality_concern",
    }
    assert seed_service_catalogue(session=catalogue) == 0
    pothole = catalogue.query(Service).filter_by(code="pothole").one()
    assert pothole.attributes[0]["code"] == "size" and pothole.attributes[0]["required"]


def test_create_request_writes_history_district_and_follower(catalogue: Session) -> None:
    citizen = make_citizen(catalogue)
    req = create_request(
        session=catalogue, data=_new(catalogue), actor="citizen", reporter_citizen_id=citizen.id
    )
    assert req.status == "open" and req.district_id is not None and len(req.token) == 36
    assert [h.status for h in req.history] == ["open"]
    assert follower_ids(session=catalogue, request_id=req.id) == [citizen.id]


REQUEST_FIELDS = (
    "id", "token", "service_id", "status", "status_notes", "description", "address_string",
    "address_id", "district_id", "attributes", "media_url", "reporter_citizen_id",
    "api_client_id", "contact", "requested_at", "updated_at",
)  # fmt: skip


def test_created_request_is_what_was_stored(catalogue: Session) -> None:
    # create_request writes with one statement and hands back objects built from what it wrote
    # and what the INSERT returned: they must equal a fresh read, and must not be written twice.
    citizen = make_citizen(catalogue)
    data = _new(
        catalogue,
        description="Deep hole by the kerb",
        media_url="https://example.org/hole.jpg",
        attributes={"size": "small", "lane": "cycle_lane"},
        contact=Contact(first_name="Ada", email="ada@example.org"),
    )
    req = create_request(
        session=catalogue, data=data, actor="citizen:7", reporter_citizen_id=citizen.id
    )
    queries: list[str] = []
    event.listen(catalogue, "do_orm_execute", lambda ctx: queries.append(str(ctx.statement)))
    built = {f: getattr(req, f) for f in REQUEST_FIELDS}
    built_geom = lonlat(req.geom)
    built_history = [(h.id, h.status, h.note, h.actor, h.changed_at) for h in req.history]
    built_item = queue_item(session=catalogue, request=req)
    assert queries == []  # nothing lazily loaded: the announce path makes no query
    assert built_item.district_code is not None and built_item.photos == 0

    catalogue.flush()  # a second INSERT would break the token's unique constraint here
    catalogue.expire_all()
    stored = catalogue.get(ServiceRequest, built["id"])
    assert stored is not None
    assert {f: getattr(stored, f) for f in REQUEST_FIELDS} == built
    assert lonlat(stored.geom) == built_geom == (LON, LAT)
    assert built["contact"] == {"first_name": "Ada", "email": "ada@example.org"}
    assert built["attributes"] == {"size": "small", "lane": "cycle_lane"}
    assert [(h.id, h.status, h.note, h.actor, h.changed_at) for h in stored.history] == (
        built_history
    )
    assert built_history[0][1:4] == ("open", "", "citizen:7")
    assert built["requested_at"] == built_history[0][4]  # one transaction, one now()
    assert queue_item(session=catalogue, request=stored) == built_item
    assert follower_ids(session=catalogue, request_id=built["id"]) == [citizen.id]
    changes = select(func.count()).where(StatusChange.request_id == built["id"])
    assert catalogue.scalar(changes) == 1


@pytest.mark.parametrize(
    "attrs, message",
    [
        ({}, "required"),
        ({"size": "huge"}, "not one of"),
        ({"colour": "x", "size": "small"}, "unknown"),
    ],
)
def test_attributes_are_checked(catalogue: Session, attrs: dict, message: str) -> None:
    with pytest.raises(RequestInvalid, match=message):
        create_request(session=catalogue, data=_new(catalogue, attributes=attrs), actor="t")


def test_exactly_one_location() -> None:
    with pytest.raises(ValidationError, match="exactly one location"):
        RequestCreate(service_code="pothole", lat=1, long=2, address_string="Main St 1")
    with pytest.raises(ValidationError, match="exactly one location"):
        RequestCreate(service_code="pothole")
    with pytest.raises(ValidationError, match="both lat and long"):
        RequestCreate(service_code="pothole", lat=1)


def test_status_changes_keep_full_history_and_notify_after_commit(catalogue: Session) -> None:
    req = create_request(session=catalogue, data=_new(catalogue), actor="t")
    sent: list[int] = []
    for status, note in [
        (RequestStatus.acknowledged, "Seen"),
        (RequestStatus.in_progress, "Crew on the way"),
        (RequestStatus.closed, "Filled"),
    ]:
        flows.change_request_status(
            session=catalogue,
            request_id=req.id,
            status=status,
            note=note,
            actor="alice",
            notify=sent.append,
        )
    assert sent == []  # nothing before commit
    catalogue.commit()
    assert len(sent) == 3
    catalogue.refresh(req)
    assert [h.status for h in req.history] == ["open", "acknowledged", "in_progress", "closed"]
    assert req.status_notes == "Filled" and req.history[-1].actor == "alice"
    with pytest.raises(RequestInvalid):
        flows.change_request_status(
            session=catalogue,
            request_id=req.id,
            status=RequestStatus.closed,
            note="",
            actor="a",
            notify=None,
        )


def test_find_requests_filters(catalogue: Session) -> None:
    a = create_request(session=catalogue, data=_new(catalogue), actor="t")
    b = create_request(
        session=catalogue, data=_new(catalogue, service_code="graffiti", attributes={}), actor="t"
    )
    flows.change_request_status(
        session=catalogue,
        request_id=b.id,
        status=RequestStatus.closed,
        note="done",
        actor="t",
        notify=None,
    )
    now = datetime.now(UTC)
    window = {"start": now - timedelta(hours=1), "end": now + timedelta(hours=1)}
    got = find_requests(session=catalogue, query=RequestQuery(service_codes=["pothole"], **window))
    assert a.id in [r.id for r in got] and b.id not in [r.id for r in got]
    got = find_requests(session=catalogue, query=RequestQuery(statuses=["closed"], **window))
    assert [r.id for r in got if r.id in (a.id, b.id)] == [b.id]
    bbox = (LON - 0.001, LAT - 0.001, LON + 0.001, LAT + 0.001)
    got = find_requests(session=catalogue, query=RequestQuery(bbox=bbox, **window))
    assert {a.id, b.id} <= {r.id for r in got}
    assert find_requests(session=catalogue, query=RequestQuery(ids=[a.id]))[0].id == a.id


def test_duplicates_same_service_nearby_open_only(catalogue: Session) -> None:
    a = create_request(session=catalogue, data=_new(catalogue), actor="t")
    svc = a.service
    now = datetime.now(UTC)
    kw = {
        "session": catalogue,
        "service_id": svc.id,
        "at": now,
        "radius_m": 50,
        "window": timedelta(hours=72),
    }
    near = find_duplicates(lon=LON + 0.0003, lat=LAT, **kw)  # about 20 m east
    dist = dict((r.id, d) for r, d in near)
    assert a.id in dist and 15 < dist[a.id] < 25
    assert [r for r, _ in find_duplicates(lon=LON + 0.003, lat=LAT, **kw) if r.id == a.id] == []
    flows.change_request_status(
        session=catalogue,
        request_id=a.id,
        status=RequestStatus.closed,
        note="done",
        actor="t",
        notify=None,
    )
    assert [r for r, _ in find_duplicates(lon=LON, lat=LAT, **kw) if r.id == a.id] == []


def test_my_requests_include_followed(catalogue: Session) -> None:
    me, other = make_citizen(catalogue), make_citizen(catalogue)
    mine = create_request(
        session=catalogue, data=_new(catalogue), actor="t", reporter_citizen_id=me.id
    )
    theirs = create_request(
        session=catalogue, data=_new(catalogue), actor="t", reporter_citizen_id=other.id
    )
    assert [r.id for r in list_citizen_requests(session=catalogue, citizen_id=me.id)] == [mine.id]
    flows_follow = __import__("shared.service_requests.service", fromlist=["x"]).follow_request
    assert flows_follow(session=catalogue, request_id=theirs.id, citizen_id=me.id)
    ids = [r.id for r in list_citizen_requests(session=catalogue, citizen_id=me.id)]
    assert set(ids) == {mine.id, theirs.id}
