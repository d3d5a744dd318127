"""Citizen accounts, tokens, reports with photos (EXIF stripped), privacy between citizens."""

from __future__ import annotations

import io

from flask.testing import FlaskClient
from PIL import Image

from tests.citizen_api.conftest import bearer, register

GPS_IFD = 0x8825


def _jpeg_with_gps() -> bytes:
    img = Image.new("RGB", (640, 480), (200, 80, 40))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0112] = 1  # Orientation
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (52.0, 25.0, 55.0), 3: "E", 4: (13.0, 32.0, 42.0)})
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif)
    data = out.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(GPS_IFD)  # the fixture has GPS
    return data


def _report(client: FlaskClient, tokens: dict, photos: list[bytes] = (), **fields: str):  # type: ignore[no-untyped-def]
    form = {
        "service_code": "pothole",
        "lat": "52.4321",
        "long": "13.5452",
        "description": "Deep hole",
        **fields,
    }
    if form["service_code"] == "pothole":
        form.setdefault("attribute[size]", "large")
    form["photos"] = [(io.BytesIO(p), f"p{i}.jpg") for i, p in enumerate(photos)]
    return client.post(
        "/api/v1/reports", data=form, headers=bearer(tokens), content_type="multipart/form-data"
    )


def test_register_login_refresh_logout(client: FlaskClient) -> None:
    t = register(client, locale="de")
    assert t["citizen"]["locale"] == "de" and "password" not in str(t)
    again = client.post(
        "/api/v1/auth/register", json={"email": t["email"].upper(), "password": "x" * 12}
    )
    assert again.status_code == 409 and again.mimetype == "application/problem+json"
    bad = client.post("/api/v1/auth/login", json={"email": t["email"], "password": "nope"})
    assert bad.status_code == 401
    ok = client.post(
        "/api/v1/auth/login", json={"email": t["email"], "password": "correct horse battery"}
    ).get_json()
    assert client.get("/api/v1/me", headers=bearer(ok)).get_json()["email"] == t["email"]
    new = client.post("/api/v1/auth/refresh", json={"refresh_token": ok["refresh_token"]})
    assert new.status_code == 200
    # Rotation: the old refresh token is spent.
    assert (
        client.post("/api/v1/auth/refresh", json={"refresh_token": ok["refresh_token"]}).status_code
        == 401
    )
    new = new.get_json()
    out = client.post(
        "/api/v1/auth/logout", json={"refresh_token": new["refresh_token"]}, headers=bearer(new)
    )
    assert out.status_code == 204
    assert (
        client.post(
            "/api/v1/auth/refresh", json={"refresh_token": new["refresh_token"]}
        ).status_code
        == 401
    )
    assert client.get("/api/v1/me", headers=bearer(new)).status_code == 401
    # An access token is not a refresh token.
    assert (
        client.post("/api/v1/auth/refresh", json={"refresh_token": ok["access_token"]}).status_code
        == 401
    )


def test_report_with_photo_strips_exif_and_makes_thumbnail(client: FlaskClient) -> None:
    t = register(client)
    resp = _report(client, t, photos=[_jpeg_with_gps()])
    assert resp.status_code == 201, resp.get_json()
    rep = resp.get_json()
    assert rep["status"] == "open" and [h["status"] for h in rep["history"]] == ["open"]
    media = rep["media"][0]
    full = client.get(media["url"])
    assert full.status_code == 200 and full.mimetype == "image/jpeg"
    img = Image.open(io.BytesIO(full.data))
    exif = img.getexif()
    assert not exif.get_ifd(GPS_IFD) and GPS_IFD not in exif and len(exif) == 0
    assert b"Exif" not in full.data[:200] and img.size == (640, 480)
    thumb = Image.open(io.BytesIO(client.get(media["thumbnail_url"]).data))
    assert max(thumb.size) <= 320 and not thumb.getexif()


def test_photo_type_and_size_checks(client: FlaskClient, app) -> None:  # type: ignore[no-untyped-def]
    t = register(client)
    bad = _report(client, t, photos=[b"GIF89a not really"])
    assert bad.status_code == 400 and "image" in bad.get_json()["detail"]
    from shared.config import get_settings

    settings = get_settings()
    saved = settings.max_photo_bytes
    settings.max_photo_bytes = 1000
    try:
        big = _report(client, t, photos=[_jpeg_with_gps()])
    finally:
        settings.max_photo_bytes = saved
    assert big.status_code == 400 and "limit" in big.get_json()["detail"]
    # Nothing half-made: the failed reports are not in "my reports".
    assert client.get("/api/v1/reports", headers=bearer(t)).get_json() == []


def test_citizens_cannot_see_or_change_each_others_data(client: FlaskClient) -> None:
    alice, bob = register(client), register(client)
    rep = _report(client, alice).get_json()
    rid = rep["id"]
    assert [r["id"] for r in client.get("/api/v1/reports", headers=bearer(bob)).get_json()] == []
    assert client.get(f"/api/v1/reports/{rid}", headers=bearer(bob)).status_code == 404
    assert client.get(f"/api/v1/reports/{rid}", headers=bearer(alice)).status_code == 200
    assert client.get("/api/v1/me", headers=bearer(bob)).get_json()["email"] == bob["email"]
    client.patch("/api/v1/me", json={"display_name": "Bob"}, headers=bearer(bob))
    assert client.get("/api/v1/me", headers=bearer(alice)).get_json()["display_name"] is None
    dev = client.post(
        "/api/v1/devices", json={"token": "tok-alice", "platform": "ios"}, headers=bearer(alice)
    ).get_json()
    assert client.delete(f"/api/v1/devices/{dev['id']}", headers=bearer(bob)).status_code == 404
    assert client.get("/api/v1/devices", headers=bearer(bob)).get_json() == []
    sub = client.post(
        "/api/v1/subscriptions", json={"district_code": "nw"}, headers=bearer(alice)
    ).get_json()
    assert (
        client.delete(f"/api/v1/subscriptions/{sub['id']}", headers=bearer(bob)).status_code == 404
    )
    assert client.get("/api/v1/reports").status_code == 401
    forged = {"Authorization": "Bearer " + alice["access_token"][:-3] + "abc"}
    assert client.get("/api/v1/reports", headers=forged).status_code == 401
    # Bob can follow Alice's open report (a duplicate) and then sees its public history only.
    assert client.put(f"/api/v1/reports/{rid}/follow", headers=bearer(bob)).status_code == 204
    seen = client.get(f"/api/v1/reports/{rid}", headers=bearer(bob)).get_json()
    assert seen["is_reporter"] is False and "email" not in str(seen)


def test_duplicates_are_offered_and_followable(client: FlaskClient) -> None:
    alice, bob = register(client), register(client)
    rid = _report(
        client, alice, service_code="blocked_drain", **{"attribute[flooding]": "no"}
    ).get_json()
    assert "id" in rid, rid
    q = {"service_code": "blocked_drain", "lat": "52.43212", "long": "13.54522"}
    matches = client.get("/api/v1/reports/duplicates", query_string=q, headers=bearer(bob))
    assert rid["id"] in [m["service_request_id"] for m in matches.get_json()]
    far = {**q, "lat": "52.4400"}
    got = client.get("/api/v1/reports/duplicates", query_string=far, headers=bearer(bob))
    assert rid["id"] not in [m["service_request_id"] for m in got.get_json()]
    client.put(f"/api/v1/reports/{rid['id']}/follow", headers=bearer(bob))
    mine = client.get("/api/v1/reports", headers=bearer(bob)).get_json()
    assert [r["id"] for r in mine] == [rid["id"]]
