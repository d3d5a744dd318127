"""Emergency dispatch page: an operator creates an incident, routes a unit, proposes and approves
the pre-emption plan by keyboard only; axe finds nothing in English and Arabic, with results
on screen."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy import text

from e2e.conftest import City, login
from e2e.test_alerts import _choose_option, _close_dropdowns, _tab_to
from e2e.test_pages import check_axe

# Server round trips (routing, plan writes) on a loaded 2-core CI machine.
SLOW_MS = 15_000


def test_route_propose_and_approve_by_keyboard(page: Page, city: City, artifacts: Path) -> None:
    login(page, city, "operator")
    page.goto("/emergency")
    status = page.locator("#emergency-status")
    expect(page.locator("#emergency-create")).to_be_enabled()
    check_axe(page, "emergency-empty-en")

    _tab_to(page, "#emergency-create")
    page.keyboard.press("Enter")
    expect(status).to_contain_text("created.", timeout=SLOW_MS)
    incident_id = int(status.inner_text().split()[1])

    _tab_to(page, "button.emergency-unit-select")
    page.keyboard.press("ArrowDown")
    _choose_option(page, "RTW-1")
    _tab_to(page, "#emergency-find")
    page.keyboard.press("Enter")
    expect(status).to_contain_text("Best route: ETA", timeout=SLOW_MS)
    rows = page.locator("#emergency-table tbody tr")
    expect(rows.first).to_contain_text("Best route")
    expect(page.locator("#emergency-map path.leaflet-interactive").first).to_be_attached()
    expect(page.locator("#emergency-map .leaflet-control-attribution")).to_contain_text(
        "OpenStreetMap"
    )

    _tab_to(page, "#emergency-propose")
    page.keyboard.press("Enter")
    expect(status).to_contain_text("proposed.", timeout=SLOW_MS)
    expect(page.locator("#emergency-plan-view table")).to_be_visible()
    _close_dropdowns(page)
    check_axe(page, "emergency-plan-en")
    page.screenshot(path=artifacts / "emergency-plan-en.png", full_page=True)

    _tab_to(page, "#emergency-approve")
    page.keyboard.press("Enter")
    expect(status).to_contain_text("approved: the unit is dispatched", timeout=SLOW_MS)
    with city.engine.connect() as c:
        row = c.execute(
            text(
                "SELECT p.status, p.approved_by, u.status FROM preemption_plan p "
                "JOIN unit u ON u.id = p.unit_id WHERE p.incident_id = :i"
            ),
            {"i": incident_id},
        ).one()
    assert tuple(row) == ("active", "operator", "dispatched")


def test_arabic_page_is_axe_clean(page: Page, city: City, artifacts: Path) -> None:
    login(page, city, "operator", lang="ar")
    page.goto("/emergency")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("h1")).to_have_text("إرسال الطوارئ")
    check_axe(page, "emergency-ar")
    page.screenshot(path=artifacts / "emergency-ar.png", full_page=True)


def test_viewer_sees_disabled_actions(page: Page, city: City) -> None:
    login(page, city, "viewer")
    page.goto("/emergency")
    expect(page.locator("#emergency-create")).to_be_disabled()
    expect(page.locator("#emergency-approve")).to_be_disabled()
