"""The citizen-request queue: an Open311 POST appears live (no reload, no polling) on the
Requests page, and an operator moves it on with the keyboard only; the server audits it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import text

from e2e.conftest import City, login
from e2e.test_alerts import _tab_to
from e2e.test_pages import check_axe


@pytest.fixture(scope="module")
def citizen_api(city: City) -> Iterator[tuple[Flask, str]]:
    """The citizen API in this process, on the e2e stack (its emits reach the console through
    the same Redis queue), with a fresh Open311 client key."""
    from citizen_api import create_app
    from shared.accounts.service import create_api_client
    from shared.db import session_scope

    with session_scope(city.engine) as session:
        key = create_api_client(session=session, name=f"e2e-{uuid.uuid4().hex[:6]}").api_key
    yield create_app({"TESTING": True, "RATELIMIT_ENABLED": False}), key


def _post_request(api: tuple[Flask, str], description: str) -> int:
    app, key = api
    resp = app.test_client().post(
        "/open311/v2/requests.json",
        data={"api_key": key, "service_code": "graffiti", "lat": "52.4321", "long": "13.5452",
              "description": description, "email": "reporter@example.org"},
    )  # fmt: skip
    assert resp.status_code == 201, resp.get_json()
    return int(resp.get_json()[0]["service_request_id"])


def test_posted_request_appears_live_and_is_handled_by_keyboard(
    page: Page, city: City, citizen_api: tuple[Flask, str]
) -> None:
    login(page, city, "operator")
    page.goto("/requests")
    expect(page.locator("#requests-queue")).to_be_visible()
    expect(page.locator("#app-live")).to_have_attribute("data-connected", "true")
    page.evaluate("window.__loads = performance.getEntriesByType('navigation').length")
    what = f"Tag on the bridge {uuid.uuid4().hex[:6]}"
    rid = _post_request(citizen_api, what)
    card = page.locator(f"#requests-item-{rid}")
    expect(card).to_be_visible(timeout=5000)  # pushed over Socket.IO, not reloaded
    expect(card).to_contain_text(what)
    expect(card).not_to_contain_text("reporter@example.org")  # contact details stay private
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    # Newest first.
    assert page.locator(".request-card").first.get_attribute("id") == f"requests-item-{rid}"
    check_axe(page, "requests-with-live-card")

    # Keyboard only: Tab to the card's note, type it, Tab on to "In progress", Enter.
    _tab_to(page, f"#requests-item-{rid} input[type=text]")
    page.keyboard.type("Crew on site this afternoon")
    _tab_to(page, f"#requests-item-{rid} .btn-to-in_progress", limit=5)
    page.keyboard.press("Enter")
    expect(page.locator("#requests-action-status")).to_contain_text(
        f"Request {rid} is now In progress"
    )
    card = page.locator(f"#requests-item-{rid}")
    expect(card.locator(".badge.st-in_progress")).to_be_visible()
    expect(card.locator(".alert-audit .audit-in_progress")).to_contain_text(
        "operator · In progress · Crew on site this afternoon"
    )
    with city.engine.connect() as c:
        rows = c.execute(
            text("SELECT status, actor, note FROM service_request_status_change"
                 " WHERE request_id = :i ORDER BY id"), {"i": rid},
        ).all()  # fmt: skip
    assert [tuple(r) for r in rows] == [
        ("open", rows[0].actor, ""),
        ("in_progress", "operator", "Crew on site this afternoon"),
    ]
    assert rows[0].actor.startswith("client:")


def test_viewer_sees_the_queue_without_controls(
    page: Page, city: City, citizen_api: tuple[Flask, str]
) -> None:
    rid = _post_request(citizen_api, "Viewer check")
    login(page, city, "viewer")
    page.goto("/requests")
    card = page.locator(f"#requests-item-{rid}")
    expect(card).to_be_visible()
    expect(card.locator("button")).to_have_count(0)
    expect(card.locator("input")).to_have_count(0)


def test_a_note_being_typed_survives_a_new_request_arriving(
    page: Page, city: City, citizen_api: tuple[Flask, str]
) -> None:
    """A live `service_request.created` adds the new card only: the note an operator is typing
    on another card keeps its text and its focus."""
    older = _post_request(citizen_api, f"Older report {uuid.uuid4().hex[:6]}")
    login(page, city, "operator")
    page.goto("/requests")
    expect(page.locator("#app-live")).to_have_attribute("data-connected", "true")
    box = page.locator(f"#requests-item-{older} input[type=text]")
    box.click()
    page.keyboard.type("Crew booked for")
    expect(box).to_have_value("Crew booked for")
    newer = _post_request(citizen_api, f"Newer report {uuid.uuid4().hex[:6]}")
    expect(page.locator(f"#requests-item-{newer}")).to_be_visible(timeout=5000)
    assert page.locator(".request-card").first.get_attribute("id") == f"requests-item-{newer}"
    page.keyboard.type(" Tuesday")  # still in the same box
    expect(box).to_have_value("Crew booked for Tuesday")
    expect(page.locator(f"#requests-item-{newer} input[type=text]")).to_have_value("")
