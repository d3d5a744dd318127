"""Nothing of the console is served without a login; the login itself behaves."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient


@pytest.mark.parametrize("path", ["/", "/districts", "/health", "/sensor/AQ-01"])
def test_pages_redirect_to_login(console: Flask, path: str) -> None:
    resp = console.test_client().get(path)
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize(
    "path", ["/_dash-layout", "/_dash-dependencies", "/api/map/sensors.geojson"]
)
def test_background_requests_get_401(console: Flask, path: str) -> None:
    assert console.test_client().get(path).status_code == 401


def test_callbacks_refuse_anonymous_users(console: Flask) -> None:
    assert console.test_client().post("/_dash-update-component", json={}).status_code == 401


def test_wrong_password_is_refused(console: Flask) -> None:
    client = console.test_client()
    client.get("/login")
    with client.session_transaction() as s:
        csrf = s["csrf"]
    resp = client.post("/login", data={"username": "admin", "password": "nope", "csrf": csrf})
    assert resp.status_code == 401
    assert client.get("/").status_code == 302


def test_login_without_csrf_token_is_refused(console: Flask, passwords: dict[str, str]) -> None:
    resp = console.test_client().post(
        "/login", data={"username": "admin", "password": passwords["admin"]}
    )
    assert resp.status_code == 400


def test_next_is_kept_on_site(client_as: Callable[[str], FlaskClient], console: Flask,
                              passwords: dict[str, str]) -> None:  # fmt: skip
    client = console.test_client()
    client.get("/login")
    with client.session_transaction() as s:
        csrf = s["csrf"]
    resp = client.post(
        "/login?next=https://evil.example/",
        data={"username": "viewer", "password": passwords["viewer"], "csrf": csrf},
    )
    assert resp.headers["Location"] == "/"


def test_logged_in_user_gets_the_pages(client_as: Callable[[str], FlaskClient]) -> None:
    client = client_as("viewer")
    page = client.get("/")
    assert page.status_code == 200
    assert b'<html lang="en" dir="ltr" class="mode-desk">' in page.data
    assert client.get("/api/map/sensors.geojson").json["type"] == "FeatureCollection"


def test_language_cookie_sets_lang_and_direction(client_as: Callable[[str], FlaskClient]) -> None:
    client = client_as("viewer")
    resp = client.get("/lang/ar?next=/health")
    assert resp.headers["Location"] == "/health"
    page = client.get("/health?display=wall")
    assert b'<html lang="ar" dir="rtl" class="mode-wall">' in page.data


@pytest.mark.parametrize(
    ("lang", "path", "title"),
    [
        ("en", "/districts", "Districts · City control room"),
        ("de", "/districts", "Bezirke · Städtische Leitstelle"),
        ("ar", "/", "الخريطة الحية · غرفة التحكم في المدينة"),
        ("de", "/sensor/NS-01", "Sensor · Städtische Leitstelle"),
    ],
)
def test_the_tab_title_names_the_page_in_the_chosen_language(
    client_as: Callable[[str], FlaskClient], lang: str, path: str, title: str
) -> None:
    client = client_as("viewer")
    client.get(f"/lang/{lang}?next=/")
    page = client.get(path)
    assert f"<title>{title}</title>" in page.get_data(as_text=True)
