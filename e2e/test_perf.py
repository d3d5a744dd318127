"""Acceptance 7: time to first paint of the map with 10,000 sensors, in headless Chromium.

Runs last (file order): it adds 10,000 sensors to the e2e database and removes them after.
How it measures, from the navigation start of a fresh load of "/" (performance.now()):
  * FCP: the browser's first-contentful-paint entry (the page shell);
  * map ready: the first animation frame in which clustered sensor markers covering all
    10,000+ sensors are in the DOM, plus one more frame so they are painted;
  * the sensors.geojson request's own duration (Resource Timing);
  * smoothness: frames per second while panning the map with the arrow keys for 2 s.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import text

from e2e.conftest import City, login

N_SENSORS = 10_000
RUNS = 3

_INSERT = text(
    """
    WITH box AS (SELECT ST_Extent(geom) AS e FROM district),
    loc AS (
      INSERT INTO location (name, description, encoding_type, geom)
      SELECT 'PERF-' || lpad(g::text, 5, '0'), '', 'application/geo+json',
             ST_SetSRID(ST_MakePoint(ST_XMin(e) + random() * (ST_XMax(e) - ST_XMin(e)),
                                     ST_YMin(e) + random() * (ST_YMax(e) - ST_YMin(e))), 4326)
      FROM box, generate_series(1, :n) g RETURNING id, name),
    th AS (
      INSERT INTO thing (code, name, description, sensor_type, properties)
      SELECT 'PERF-' || lpad(g::text, 5, '0'), 'Synthetic sensor ' || g, '',
             (ARRAY['air_quality', 'noise', 'weather', 'traffic'])[1 + g % 4]::sensor_type,
             '{}'::jsonb
      FROM generate_series(1, :n) g RETURNING id, code)
    INSERT INTO thing_location (thing_id, location_id)
    SELECT th.id, loc.id FROM th JOIN loc ON loc.name = th.code
    """
)


@pytest.fixture
def ten_thousand_sensors(city: City) -> object:
    with city.engine.begin() as c:
        c.execute(_INSERT, {"n": N_SENSORS})
    with city.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        # What autovacuum would do soon after a bulk import: fresh planner statistics.
        c.execute(text("ANALYZE thing, location, thing_location"))
    yield
    with city.engine.begin() as c:
        c.execute(text("DELETE FROM thing WHERE code LIKE 'PERF-%'"))
        c.execute(text("DELETE FROM location WHERE name LIKE 'PERF-%'"))


_MAP_READY = """
total => new Promise(resolve => {
  function count() {
    let n = document.querySelectorAll('.sensor-icon').length;
    for (const c of document.querySelectorAll('.cluster-icon')) {
      n += parseInt((c.getAttribute('title') || '0').replace(/\\D/g, ''), 10) || 0;
    }
    return n;
  }
  function frame() {
    if (count() >= total) {
      requestAnimationFrame(() => resolve(performance.now()));  // the next frame is painted
    } else {
      requestAnimationFrame(frame);
    }
  }
  frame();
})
"""

_FPS = """
() => new Promise(resolve => {
  let frames = 0; const t0 = performance.now();
  function tick(t) { frames++; if (t - t0 < 2000) requestAnimationFrame(tick);
                     else resolve(frames * 1000 / (t - t0)); }
  requestAnimationFrame(tick);
})
"""


def test_first_paint_with_10k_sensors(
    page: Page, city: City, artifacts: Path, ten_thousand_sensors: object
) -> None:
    login(page, city, "operator")
    with city.engine.connect() as c:
        total = c.scalar(text("SELECT count(*) FROM thing"))
    assert total >= N_SENSORS
    runs = []
    for _ in range(RUNS):
        page.goto("/")  # a fresh navigation: the timings below start at its navigation start
        ready_ms = page.evaluate(_MAP_READY, total)
        fcp_ms = page.evaluate(
            "performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null"
        )
        geojson_ms = page.evaluate(
            "performance.getEntriesByType('resource')"
            ".filter(r => r.name.includes('sensors.geojson')).map(r => r.duration)[0] ?? null"
        )
        runs.append((ready_ms, fcp_ms, geojson_ms))
    ready_ms, fcp_ms, geojson_ms = sorted(runs)[len(runs) // 2]  # the median run
    page.locator("#home-map").focus()
    fps_promise = page.evaluate_handle(_FPS)
    for _ in range(8):
        page.keyboard.press("ArrowRight")
        page.wait_for_timeout(120)
    fps = fps_promise.json_value()
    result = {"sensors": total, "runs": RUNS, "fcp_ms": fcp_ms, "map_ready_ms": round(ready_ms),
              "map_ready_ms_all": [round(r[0]) for r in runs],
              "sensors_geojson_ms": round(geojson_ms or 0), "pan_fps": round(fps, 1)}  # fmt: skip
    print("\n10k-sensor map:", json.dumps(result))
    (artifacts / "perf-10k.json").write_text(json.dumps(result, indent=2))
    page.screenshot(path=artifacts / "home-10k-sensors.png")
    expect(page.locator(".cluster-icon").first).to_be_visible()
    assert ready_ms < 10_000  # a generous guard; the figure itself goes to the report
