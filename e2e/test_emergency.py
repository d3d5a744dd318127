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


def _report(**kw: object) -> dict[str, object]:
    """A `unit.progress` event as `twin run` sends it (shared/twin/live.py)."""
    report: dict[str, object] = {
        "plan_id": 990001, "unit_id": 1, "unit_code": "RTW-1", "incident_id": 1,
        "status": "en_route", "lon": 13.545, "lat": 52.43, "elapsed_s": 42.0,
        "planned_eta_s": 128.0, "eta_remaining_s": 75.5, "distance_remaining_m": 1040.0,
        "speed_kmh": 48.2, "junctions_passed": 1, "junctions_total": 3, "travel_s": None,
        "after_action": None, "detail": "", "sim_time_s": 900.0,
    }  # fmt: skip
    return {**report, **kw}


def test_the_twins_run_shows_live_without_reload(page: Page, city: City, artifacts: Path) -> None:
    from shared.realtime import TWIN_ROOM, Fanout

    fanout = Fanout(redis_url=city.stack.redis_url, mqtt_url=None)
    login(page, city, "viewer")
    page.goto("/emergency")
    expect(page.locator("#app-live")).to_have_attribute("data-connected", "true")
    expect(page.locator("#emergency-live")).to_contain_text("No unit is on a run in the twin.")
    page.evaluate("window.__loads = performance.getEntriesByType('navigation').length")

    fanout.emit_event("unit.progress", _report(), room=TWIN_ROOM)
    row = page.locator("#emergency-live tbody tr")
    expect(row).to_contain_text("RTW-1", timeout=5000)
    expect(row).to_contain_text("1 / 3")
    expect(page.locator("#emergency-live-status")).to_have_text("RTW-1: 1 of 3 signals passed.")
    expect(page.locator("#emergency-map path.leaflet-interactive")).to_have_count(1)
    fanout.emit_event(
        "unit.progress",
        _report(junctions_passed=2, eta_remaining_s=30.0, lon=13.55, lat=52.431),
        room=TWIN_ROOM,
    )
    expect(row).to_contain_text("2 / 3")
    expect(row).to_contain_text("0:30")
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    # The table of live runs is reachable by keyboard (its scroll box takes focus).
    _tab_to(page, "#emergency-live .table-wrap")
    check_axe(page, "emergency-live-en")
    page.screenshot(path=artifacts / "emergency-live-en.png", full_page=True)

    fanout.emit_event(
        "unit.progress", _report(status="arrived", travel_s=131.0, junctions_passed=3),
        room=TWIN_ROOM,
    )  # fmt: skip
    expect(page.locator("#emergency-live-status")).to_have_text(
        "RTW-1 arrived after 2:11 (planned 2:08)."
    )
    expect(row).to_contain_text("arrived")

    # A console opened (or reloaded) after the run's last report still shows it: `twin run`
    # keeps each run's latest report in Redis beside the event.
    from redis import Redis

    from shared.twin.service import RUN_REPORTS_KEY, remember_run_report

    redis = Redis.from_url(city.stack.redis_url)
    try:
        remember_run_report(
            redis=redis, report=_report(status="arrived", travel_s=131.0, junctions_passed=3)
        )
        page.reload()
        expect(page.locator("#emergency-live tbody tr")).to_contain_text("arrived")
        expect(page.locator("#emergency-live tbody tr")).to_contain_text("3 / 3")
        expect(page.locator("#emergency-map path.leaflet-interactive")).to_have_count(1)
    finally:
        redis.delete(RUN_REPORTS_KEY)
        redis.close()


def test_the_twins_run_in_arabic_is_axe_clean(page: Page, city: City, artifacts: Path) -> None:
    from shared.realtime import TWIN_ROOM, Fanout

    login(page, city, "operator", lang="ar")
    page.goto("/emergency")
    expect(page.locator("#app-live")).to_have_attribute("data-connected", "true")
    Fanout(redis_url=city.stack.redis_url, mqtt_url=None).emit_event(
        "unit.progress", _report(plan_id=990002), room=TWIN_ROOM
    )
    expect(page.locator("#emergency-live tbody tr")).to_contain_text("في الطريق", timeout=5000)
    check_axe(page, "emergency-live-ar")
    page.screenshot(path=artifacts / "emergency-live-ar.png", full_page=True)
