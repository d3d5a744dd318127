"""Traffic page: congestion map and table, and a signal plan proposed from measured flows,
reviewed and approved by keyboard only; axe finds nothing in English and Arabic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy import text
from sqlalchemy.orm import Session

from e2e.conftest import City, login
from e2e.test_alerts import _choose_option, _close_dropdowns, _tab_to
from e2e.test_pages import check_axe
from tests.shared.traffic.detectors import detectors

# Server round trips (plan writes) on a loaded 2-core CI machine.
SLOW_MS = 15_000


def _counts_for_one_junction(city: City) -> int:
    """Write an hour of counts for the first detector junction; return its intersection id."""
    with Session(city.engine) as s:
        dets = detectors(s)
    node = dets[0].intersection_id
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    with city.engine.begin() as c:
        for i, d in enumerate(x for x in dets if x.intersection_id == node):
            c.execute(
                text(
                    "INSERT INTO observation_hourly (datastream_id, bucket, count, total, min, "
                    "max) VALUES (:d, :b, 60, :v, 0, :v) ON CONFLICT DO NOTHING"
                ),
                {"d": d.count_ds, "b": hour, "v": 400.0 + 100 * i},
            )
    return node


def test_propose_review_and_approve_by_keyboard(page: Page, city: City, artifacts: Path) -> None:
    node = _counts_for_one_junction(city)
    login(page, city, "operator")
    page.goto("/traffic")
    status = page.locator("#traffic-status")
    expect(page.locator("#traffic-map .leaflet-control-attribution")).to_contain_text(
        "OpenStreetMap"
    )
    check_axe(page, "traffic-en")

    _tab_to(page, "button.traffic-junction-select")
    page.keyboard.press("ArrowDown")
    _choose_option(page, f"{node} ·")
    _tab_to(page, "#traffic-propose")
    page.keyboard.press("Enter")
    expect(status).to_contain_text("drafted.", timeout=SLOW_MS)
    plan_id = int(status.inner_text().split()[1])
    expect(page.locator("#traffic-diff-view table")).to_be_visible()
    expect(page.locator("#traffic-plans")).to_contain_text(f"{node} · v1")
    _close_dropdowns(page)
    check_axe(page, "traffic-diff-en")
    page.screenshot(path=artifacts / "traffic-en.png", full_page=True)

    _tab_to(page, "#traffic-approve")
    page.keyboard.press("Enter")
    expect(status).to_contain_text(f"Plan {plan_id} approved.", timeout=SLOW_MS)
    with city.engine.connect() as c:
        row = c.execute(
            text("SELECT status, approver FROM signal_plan WHERE id = :i"), {"i": plan_id}
        ).one()
    assert tuple(row) == ("approved", "operator")

    _tab_to(page, "button.traffic-approved-select")
    page.keyboard.press("ArrowDown")
    _choose_option(page, f"{node} · v1")
    _tab_to(page, "#traffic-push")
    page.keyboard.press("Enter")
    expect(status).to_contain_text(f"Plan {plan_id} pushed to the signal.", timeout=SLOW_MS)
    with city.engine.connect() as c:
        pushed = c.scalar(text("SELECT status FROM signal_plan WHERE id = :i"), {"i": plan_id})
    assert pushed == "pushed"
    _close_dropdowns(page)
    check_axe(page, "traffic-pushed-en")


def test_arabic_page_is_axe_clean(page: Page, city: City, artifacts: Path) -> None:
    login(page, city, "operator", lang="ar")
    page.goto("/traffic")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("h2").first).to_have_text("الازدحام")
    check_axe(page, "traffic-ar")
    page.screenshot(path=artifacts / "traffic-ar.png", full_page=True)
