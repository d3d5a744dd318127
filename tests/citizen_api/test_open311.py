"""Every Open311 endpoint in JSON and XML, and each error case, through a spec-written client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient

from tests.citizen_api.open311_client import Open311Client

LAT, LONG = "52.4321", "13.5452"
FORMATS = ["json", "xml"]


@pytest.fixture(params=FORMATS)
def o311(request: pytest.FixtureRequest, client: FlaskClient, api_key: str) -> Open311Client:
    return Open311Client(client, "/open311/v2", request.param, api_key)


def _is_error(answer, code: int) -> None:  # type: ignore[no-untyped-def]
    assert answer.status == code
    assert isinstance(answer.body, list) and len(answer.body) == 1
    assert str(answer.body[0]["code"]) == str(code) and answer.body[0]["description"]


def test_discovery(o311: Open311Client) -> None:
    a = o311.discovery()
    assert a.status == 200
    ep = a.body["endpoints"][0]
    assert ep["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert ep["url"].endswith("/open311/v2/") and "text/xml" in ep["formats"]


def test_services_and_definitions(o311: Open311Client) -> None:
    a = o311.services()
    assert a.status == 200
    codes = {s["service_code"] for s in a.body}
    assert {
        "pothole",
        "streetlight_out",
        "illegal_dumping",
        "graffiti",
        "noise_complaint",
        "blocked_drain",
        "damaged_sign",
        "air_quality_concern",
    } <= codes
    pothole = next(s for s in a.body if s["service_code"] == "pothole")
    assert str(pothole["metadata"]).lower() == "true" and pothole["type"] == "realtime"
    d = o311.service_definition("pothole")
    assert d.status == 200 and d.body["service_code"] == "pothole"
    size = next(x for x in d.body["attributes"] if x["code"] == "size")
    assert size["datatype"] == "singlevaluelist" and str(size["required"]).lower() == "true"
    assert {v["key"] for v in size["values"]} == {"small", "medium", "large"}
    _is_error(o311.service_definition("no_such_service"), 404)


def test_post_then_get_by_id_token_and_search(o311: Open311Client) -> None:
    a = o311.post_request(
        service_code="illegal_dumping",
        lat=LAT,
        long=LONG,
        description="Sofa & <mattress> by the bins",
        attributes={"items": ["furniture", "household"], "size": "car"},
        email="someone@example.org",
        first_name="Ann",
        media_url="https://example.org/p.jpg",
    )
    assert a.status == 201, a.body
    created = a.body[0]
    rid, token = created["service_request_id"], created["token"]
    one = o311.request(rid)
    assert one.status == 200 and len(one.body) == 1
    r = one.body[0]
    assert r["service_request_id"] == rid and r["status"] == "open"
    assert r["service_code"] == "illegal_dumping" and r["description"].startswith("Sofa & <m")
    assert abs(float(r["lat"]) - float(LAT)) < 1e-9 and abs(float(r["long"]) - float(LONG)) < 1e-9
    assert r["media_url"] == "https://example.org/p.jpg"
    assert "email" not in r and "first_name" not in r  # contact details stay private
    datetime.fromisoformat(r["requested_datetime"])
    t = o311.token(token)
    assert t.status == 200 and t.body[0]["service_request_id"] == rid
    found = o311.requests(service_code="illegal_dumping", status="open")
    assert rid in [x["service_request_id"] for x in found.body]
    assert rid not in [x["service_request_id"] for x in o311.requests(status="closed").body]
    by_id = o311.requests(service_request_id=rid)
    assert [x["service_request_id"] for x in by_id.body] == [rid]
    old = datetime.now(UTC) - timedelta(days=200)
    window = {"start_date": old.isoformat(), "end_date": (old + timedelta(days=10)).isoformat()}
    assert rid not in [x["service_request_id"] for x in o311.requests(**window).body]
    assert len(o311.requests().body) <= 1000


def test_post_with_address_string_and_address_id(o311: Open311Client) -> None:
    a = o311.post_request(service_code="graffiti", address_string="Rudower Chaussee 17")
    assert a.status == 201
    r = o311.request(a.body[0]["service_request_id"]).body[0]
    assert r["address"] == "Rudower Chaussee 17" and r["lat"] in (None, "")
    assert o311.post_request(service_code="graffiti", address_id="A-1").status == 201


@pytest.mark.parametrize(
    "fields, code",
    [
        ({"api_key": "wrong"}, 403),
        ({"api_key": ""}, 403),
        ({"service_code": ""}, 400),
        ({"service_code": "unicorns"}, 400),
        ({"lat": None, "long": None}, 400),  # no location
        ({"address_string": "Main St 1"}, 400),  # two locations
        ({"long": None}, 400),  # lat without long
        ({"lat": "north"}, 400),
        ({"lat": "123"}, 400),
    ],
)
def test_post_errors(o311: Open311Client, fields: dict, code: int) -> None:
    base = {"service_code": "graffiti", "lat": LAT, "long": LONG}
    _is_error(o311.post_request(**{**base, **fields}), code)


@pytest.mark.parametrize(
    "attributes", [{}, {"size": "enormous"}, {"size": "small", "colour": "red"}]
)
def test_post_attribute_errors(o311: Open311Client, attributes: dict) -> None:
    a = o311.post_request(service_code="pothole", lat=LAT, long=LONG, attributes=attributes)
    _is_error(a, 400)


def test_get_errors(o311: Open311Client) -> None:
    now = datetime.now(UTC)
    _is_error(
        o311.requests(start_date=(now - timedelta(days=120)).isoformat(), end_date=now.isoformat()),
        400,
    )
    _is_error(o311.requests(start_date="yesterday"), 400)
    _is_error(o311.requests(status="pending"), 400)
    _is_error(
        o311.requests(start_date=now.isoformat(), end_date=(now - timedelta(days=1)).isoformat()),
        400,
    )
    _is_error(o311.request("999999999"), 404)
    _is_error(o311.request("abc"), 404)
    _is_error(o311.request("\u00b9"), 404)  # '¹': a digit to str.isdigit(), not to int()
    _is_error(o311.token("00000000-0000-0000-0000-000000000000"), 404)
    _is_error(o311.get("nothing-here"), 404)


@pytest.mark.parametrize("fmt", FORMATS)
def test_wrong_method_is_spec_error_not_html(client: FlaskClient, fmt: str) -> None:
    resp = client.delete(f"/open311/v2/services.{fmt}")
    assert resp.status_code == 405 and b"<html" not in resp.data.lower()
    assert (b"<errors>" in resp.data) if fmt == "xml" else resp.get_json()[0]["code"] == 405


def test_xml_is_well_formed_with_declaration(client: FlaskClient) -> None:
    resp = client.get("/open311/v2/services.xml")
    assert resp.data.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    assert resp.mimetype == "text/xml"


@pytest.mark.parametrize("fmt", FORMATS)
def test_nul_characters_are_a_400_not_a_database_error(client: FlaskClient, fmt: str) -> None:
    # PostgreSQL text cannot hold NUL: a query parameter or form field with one must be refused.
    resp = client.get(f"/open311/v2/requests.{fmt}", query_string={"service_code": "a\x00b"})
    assert resp.status_code == 400 and b"NUL" in resp.data
    resp = client.post(f"/open311/v2/requests.{fmt}", data={"api_key": "k", "description": "x\x00"})
    assert resp.status_code == 400 and b"NUL" in resp.data
