"""Acceptance 1: after login the map shows the seeded city, and nothing leaves the machine."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Page, expect

from e2e.conftest import City, login


def test_map_shows_the_city_offline(page: Page, city: City) -> None:
    hosts: set[str] = set()
    page.on("request", lambda req: hosts.add(urlsplit(req.url).hostname or req.url))
    login(page, city, "operator")
    # Districts and roads are SVG paths in Leaflet's overlay pane; sensors are marker icons.
    expect(page.locator(".leaflet-overlay-pane path").first).to_be_attached(timeout=10_000)
    page.wait_for_function(
        "document.querySelectorAll('.leaflet-overlay-pane path, .leaflet-overlay-pane canvas')"
        ".length > 0"
    )
    expect(page.locator(".sensor-icon, .cluster-icon").first).to_be_visible(timeout=10_000)
    expect(page.locator(".leaflet-control-attribution")).to_contain_text(
        "© OpenStreetMap contributors (ODbL)"
    )
    page.wait_for_load_state("networkidle")
    assert hosts <= {"127.0.0.1", "localhost"}, hosts


def test_sensor_popup_shows_latest_values_and_trend(page: Page, city: City) -> None:
    login(page, city, "viewer")
    marker = page.locator(".sensor-icon").first
    expect(marker).to_be_visible(timeout=10_000)
    marker.click()
    popup = page.locator(".leaflet-popup .popup")
    expect(popup).to_be_visible()
    expect(popup.locator(".popup-values")).to_be_visible()
    expect(popup.locator("a", has_text="Open sensor details")).to_be_visible()
    spark = popup.locator("img.popup-spark")
    expect(spark).to_be_visible()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=spark.element_handle()
    )


def test_choropleth_switches_to_congestion(page: Page, city: City) -> None:
    login(page, city, "operator")
    page.locator("#home-choropleth").click()
    page.get_by_role("option", name="Congestion").click()
    expect(page.locator("#home-choropleth")).to_contain_text("Congestion")
