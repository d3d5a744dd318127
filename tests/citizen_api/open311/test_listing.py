"""The Open311 listing shows every public field of a request, read back from the ORM objects."""

from __future__ import annotations

from datetime import timedelta
from xml.etree import ElementTree as ET

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from shared.db import session_scope
from shared.service_requests import flows
from shared.service_requests.models import RequestMedia, RequestStatus, ServiceRequest
from shared.service_requests.schemas import RequestCreate
from shared.service_requests.service import create_request

LON, LAT = 13.5452, 52.4321


def _expected(req: ServiceRequest, media_url: str | None) -> dict[str, str | None]:
    """The spec's fields as text, from the ORM object (not from the listing's query)."""
    return {
        "service_request_id": str(req.id),
        "status": "closed" if req.status == "closed" else "open",
        "status_notes": req.status_notes or None,
        "service_name": req.service.name,
        "service_code": req.service.code,
        "description": req.description or None,
        "agency_responsible": req.service.agency_responsible or None,
        "service_notice": None,
        "requested_datetime": req.requested_at.isoformat(timespec="seconds"),
        "updated_datetime": req.updated_at.isoformat(timespec="seconds"),
        "expected_datetime": None,
        "address": req.address_string,
        "address_id": req.address_id,
        "zipcode": None,
        "lat": str(LAT) if req.geom is not None else None,
        "long": str(LON) if req.geom is not None else None,
        "media_url": media_url,
    }


@pytest.fixture
def requests(engine: Engine) -> dict[str, tuple[ServiceRequest, str | None]]:
    """A closed pothole with a note and two photos, and an open report at an address only."""
    with session_scope(engine) as s:
        hole = create_request(
            session=s,
            data=RequestCreate(service_code="pothole", lat=LAT, long=LON,
                               description="Deep & <wide>", attributes={"size": "large"}),
            actor="t",
        )  # fmt: skip
        photos = [
            RequestMedia(request_id=hole.id, key=f"k-{hole.id}-{i}", thumb_key=f"t-{hole.id}-{i}",
                         content_type="image/jpeg", size_bytes=1, width=1, height=1)
            for i in range(2)
        ]  # fmt: skip
        s.add_all(photos)
        s.flush()
        flows.change_request_status(session=s, request_id=hole.id, status=RequestStatus.closed,
                                    note="Filled", actor="alice", notify=None)  # fmt: skip
        sign = create_request(
            session=s,
            data=RequestCreate(service_code="graffiti", address_string="Rudower Chaussee 17"),
            actor="t",
        )  # fmt: skip
        s.flush()
        for r in (hole, sign):
            s.refresh(r)
        first = min(p.id for p in photos)
    return {
        "hole": (hole, f"http://localhost/api/v1/media/{first}/full"),
        "sign": (sign, None),
    }


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_listing_fields(client: FlaskClient, requests: dict, fmt: str) -> None:  # type: ignore[type-arg]
    hole, sign = requests["hole"][0], requests["sign"][0]
    window = {
        "start_date": (hole.requested_at - timedelta(minutes=1)).isoformat(),
        "end_date": (sign.requested_at + timedelta(minutes=1)).isoformat(),
    }
    for name, (req, media_url) in requests.items():
        for query in ({"service_request_id": str(req.id)}, window):
            resp = client.get(f"/open311/v2/requests.{fmt}", query_string=query)
            assert resp.status_code == 200, resp.data
            if fmt == "json":
                rows = [
                    {k: (None if v is None else str(v)) for k, v in row.items()}
                    for row in resp.get_json()
                ]
            else:
                root = ET.fromstring(resp.data)
                assert root.tag == "service_requests"
                rows = [{el.tag: el.text for el in item} for item in root]
            got = next(r for r in rows if r["service_request_id"] == str(req.id))
            assert got == _expected(req, media_url), name
    # The per-request endpoint shows the same row.
    one = client.get(f"/open311/v2/requests/{hole.id}.json").get_json()
    assert one[0]["media_url"] == requests["hole"][1] and one[0]["status_notes"] == "Filled"
