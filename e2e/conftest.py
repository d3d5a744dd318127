"""End-to-end fixtures: a private stack, a real worker and MQTT bridge, the console under
gunicorn, and Debian's Chromium driven by pytest-playwright.

Everything starts here on free ports on 127.0.0.1, so `.venv/bin/pytest e2e` needs nothing
running. Set E2E_KEEP_STACK=1 to keep the stack folder after the run for post-mortems.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import Engine, create_engine, text

from shared.config import get_settings
from shared.db import normalise_url
from shared.stack import LocalStack, StackState, free_port, port_open
from tests.conftest import REPO, new_stack_dir
from tests.integration.conftest import WorkerProcess

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
# Values well inside every default rule's "ok" range, so the seeded city starts green.
BASELINE = {
    "vehicle_count": 12.0, "speed": 42.0, "occupancy": 18.0, "pm25": 8.0, "pm10": 18.0,
    "no2": 21.0, "o3": 0.03, "co": 0.4, "laeq": 55.0, "temperature": 14.0, "humidity": 62.0,
    "wind_speed": 3.0, "precipitation": 0.0,
}  # fmt: skip


@dataclass
class City:
    """What the e2e run started: URLs, the database engine and the demo staff passwords."""

    stack: StackState
    engine: Engine
    console_url: str
    passwords: dict[str, str]
    env: dict[str, str]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Use Debian's Chromium: `playwright install` cannot reach its CDN here."""
    return {
        **browser_type_launch_args,
        "executable_path": shutil.which("chromium") or "/usr/bin/chromium",
        "args": ["--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"],
    }  # fmt: skip


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    """A wall-ish desktop viewport and a fixed locale, so screenshots are comparable."""
    return {**browser_context_args, "viewport": {"width": 1600, "height": 1000},
            "locale": "en-GB", "timezone_id": "Europe/Berlin"}  # fmt: skip


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


def send_batch(readings: list[Any]) -> None:
    """Send one ingest batch straight to Celery (as the bridge would)."""
    from shared.ingest.schemas import Batch, batch_encoder
    from shared.tasks.celery_app import make_celery

    batch = Batch(batch_id=uuid.uuid4().hex, received_at=time.time(), readings=readings)
    make_celery().send_task("ingest.store_batch", args=[batch_encoder.encode(batch).decode()])


def _baseline_readings(engine: Engine) -> list[Any]:
    from shared.ingest.schemas import Reading

    # A minute old at the newest, so that the warm-up's readings (now - 2 s) are the newest: the
    # worker judges alerts only on readings that move a datastream's latest state forward.
    now = time.time() - 60
    with engine.connect() as c:
        rows = c.execute(
            text("SELECT t.code, op.code FROM datastream d JOIN thing t ON t.id = d.thing_id "
                 "JOIN observed_property op ON op.id = d.observed_property_id")
        ).all()  # fmt: skip
    # A few readings per stream over the last hour give the detail charts something to draw.
    return [
        Reading(code, metric, now - 600 * k, BASELINE[metric] * (1 + 0.05 * ((hash(code) + k) % 5)))
        for code, metric in rows
        for k in range(6)
    ]


@pytest.fixture(scope="session")
def city() -> Iterator[City]:
    """The whole city: stack, schema, seed, worker, bridge, console; torn down at the end."""
    from shared.db import session_scope
    from shared.migrations.runner import upgrade
    from shared.seed.demo import seed_demo
    from shared.sensing.service import ensure_partitions_around_now, roll_up

    t0 = time.monotonic()
    local = LocalStack(new_stack_dir("e2e"), fsync=False)
    state = local.up()
    saved = {k: os.environ.get(k) for k in ("DATABASE_URL", "REDIS_URL", "MQTT_URL",
                                             "SMARTCITY_ENV")}  # fmt: skip
    os.environ.update(state.env())
    os.environ["SMARTCITY_ENV"] = "development"
    get_settings.cache_clear()
    procs: list[WorkerProcess] = []
    console: subprocess.Popen[bytes] | None = None
    bridge = None
    engine = create_engine(normalise_url(state.database_url))
    try:
        upgrade(database_url=state.database_url)
        with session_scope(engine) as session:
            ensure_partitions_around_now(session=session, ahead_days=2, back_days=2)
            report = seed_demo(session=session)
        passwords = {user: pw for user, pw, _role in report.staff_credentials}

        env = dict(os.environ)
        env.update(state.env())
        env["SMARTCITY_ENV"] = "development"
        env["PYTHONPATH"] = str(REPO)
        env["INGEST_VISIBILITY_TIMEOUT_S"] = "5"  # a lost task comes back quickly
        logs = Path(state.root) / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        worker = WorkerProcess({**env, "SMARTCITY_STACK_DIR": state.root}, logs / "worker.log")
        worker.start()
        procs.append(worker)

        bridge = _start_bridge(state)

        port = free_port()
        out = (logs / "console.log").open("ab")
        console = subprocess.Popen(
            [sys.executable, "-c",
             f"from ops_console.app import run; run('127.0.0.1', {port})"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        _wait(lambda: port_open(port), 30, "the console to listen")
        urllib.request.urlopen(f"{url}/login", timeout=10).read()

        readings = _baseline_readings(engine)
        send_batch(readings)
        with engine.connect() as c:
            expected = c.scalar(text("SELECT count(*) FROM datastream"))

        def stored() -> bool:
            with engine.connect() as c:
                return c.scalar(text("SELECT count(*) FROM datastream_latest")) == expected

        _wait(stored, 60, "the baseline readings")
        _warm_up_alert_path(engine)
        with session_scope(engine) as session:
            roll_up(session=session, lookback_hours=3)
        print(f"\ne2e city ready in {time.monotonic() - t0:.1f} s at {url}", file=sys.stderr)
        yield City(stack=state, engine=engine, console_url=url, passwords=passwords, env=env)
    finally:
        if console is not None and console.poll() is None:
            os.killpg(console.pid, signal.SIGTERM)
            console.wait(timeout=20)
        if bridge is not None:
            bridge.stop(timeout=5)
        for p in procs:
            p.kill(signal.SIGTERM)
        engine.dispose()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()
        local.down(purge=not os.environ.get("E2E_KEEP_STACK"))


def _warm_up_alert_path(engine: Engine) -> None:
    """Open and clear one warning, so the worker's Socket.IO/MQTT fan-out is connected.

    A long-running worker is always warm; the first emit of a fresh one pays its Redis and
    MQTT connects, which would otherwise land on the latency test.
    """
    from shared.ingest.schemas import Reading

    now = time.time()
    send_batch([Reading("TD-0001", "speed", now - 2, 12.0)])  # warning: speed <= 15 km/h

    def count(status: str) -> int:
        with engine.connect() as c:
            return c.scalar(text("SELECT count(*) FROM alert WHERE status = :s"), {"s": status})

    _wait(lambda: count("open") == 1, 30, "the warm-up alert")
    send_batch([Reading("TD-0001", "speed", now - 1, 44.0)])  # clears it (hysteresis 5)
    _wait(lambda: count("open") == 0, 30, "the warm-up alert to clear")


def _start_bridge(state: StackState) -> Any:
    """The real MQTT bridge in a thread, enqueueing each batch as a Celery task."""
    from shared.ingest.bridge import Bridge
    from shared.ingest.schemas import Batch, batch_encoder
    from shared.tasks.celery_app import make_celery

    celery = make_celery()

    def enqueue(batch: Batch) -> None:
        celery.send_task("ingest.store_batch", args=[batch_encoder.encode(batch).decode()])

    bridge = Bridge(url=state.mqtt_url, sink=enqueue, client_id=f"e2e-{uuid.uuid4().hex[:8]}",
                    max_batch=500, max_wait_s=0.01)  # fmt: skip
    bridge.start()
    if not bridge.wait_ready(15):
        raise RuntimeError("the MQTT bridge did not subscribe in 15 s")
    return bridge


@pytest.fixture(scope="session")
def base_url(city: City) -> str:
    """pytest-playwright resolves relative page.goto() paths against this."""
    return city.console_url


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots go (gitignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def login(page: Page, city: City, role: str = "operator", lang: str = "en") -> None:
    """Sign in as the demo user of a role, in a language, and land on the map."""
    page.context.add_cookies([{"name": "console_lang", "value": lang, "url": city.console_url}])
    page.goto("/login")
    page.fill("#login-username", role)
    page.fill("#login-password", city.passwords[role])
    page.click("#login-submit")
    page.wait_for_url(f"{city.console_url}/")
    expect(page.locator("#home-map")).to_be_visible()
