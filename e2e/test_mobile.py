"""Issue 7, acceptance 2 and 4: the citizen app's web build (`npx expo export --platform web`),
served by a tiny static server, driven in Debian's Chromium against the real citizen API.

A citizen registers, files a report with a photo and GPS position, finds it (with its photo)
in "My reports", and is offered the first report as a duplicate when filing the same again.
Every screen passes axe (the console's WCAG 2.2 AA tags) in English and Arabic (RTL) and is
saved as `artifacts/mobile-<screen>-<lang>.png`.

The build is made once per run, and only when mobile/dist is older than the app's sources.
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import text

from e2e.conftest import City
from e2e.test_pages import WCAG_TAGS
from shared.stack import free_port, port_open
from tests.conftest import REPO

MOBILE = REPO / "mobile"
DIST = MOBILE / "dist"
SOURCES = ["app", "src", "app.json", "package.json", "package-lock.json", "babel.config.js"]
# Inside the demo city (Berlin-Adlershof), where the API accepts reports.
HERE = {"latitude": 52.4312, "longitude": 13.5301}
PASSWORD = "correct horse battery"
SCREENS = {
    "report": "Report an issue",
    "reports": "My reports",
    "notifications": "Notifications",
    "permits": "Permits",
    "open-data": "Open data",
    "settings": "Settings",
}
axe = Axe()


def _newest(paths: list[Path]) -> float:
    newest = 0.0
    for p in paths:
        files = [p] if p.is_file() else [f for f in p.rglob("*") if f.is_file()]
        newest = max([newest, *(f.stat().st_mtime for f in files)])
    return newest


def build_web(force: bool = False) -> Path:
    """Export the web build unless mobile/dist is newer than every source file."""
    index = DIST / "index.html"
    if (
        not force
        and index.exists()
        and index.stat().st_mtime > _newest([MOBILE / s for s in SOURCES])
    ):
        return DIST
    npm, npx = shutil.which("npm"), shutil.which("npx")
    if not npm or not npx:
        pytest.fail("npm/npx not found: install Node 20 (Debian: apt-get install nodejs npm)")
    if not (MOBILE / "node_modules").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=MOBILE, check=True)
    t0 = time.monotonic()
    done = subprocess.run(
        [npx, "expo", "export", "--platform", "web", "--output-dir", "dist"],
        cwd=MOBILE, capture_output=True, text=True, env={**os.environ, "CI": "1"},
    )  # fmt: skip
    if done.returncode != 0:
        pytest.fail(f"expo export failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    print(f"\nmobile web build in {time.monotonic() - t0:.0f} s", file=sys.stderr)
    return DIST


class _Handler(SimpleHTTPRequestHandler):
    """Static files from dist/; app routes fall back to index.html (a single-page build)."""

    api_url = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/app-config.json":
            body = json.dumps({"apiUrl": self.api_url}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if not Path(self.translate_path(path)).is_file():
            self.path = "/index.html"
        super().do_GET()


@pytest.fixture(scope="module")
def api_url(city: City) -> Iterator[str]:
    """The real citizen API (`smartcity api`, gunicorn) on the e2e city's stack."""
    port = free_port()
    logs = Path(city.stack.root) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**city.env, "MEDIA_ROOT": str(Path(city.stack.root) / "media")}
    out = (logs / "api.log").open("ab")
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("smartcity")), "api", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"],
        env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not port_open(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the citizen API did not start; see {logs / 'api.log'}")
        time.sleep(0.1)
    try:
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def app_url(api_url: str) -> Iterator[str]:
    """The web build on a static server of its own; app-config.json points it at the API."""
    dist = build_web()
    handler = type("Handler", (_Handler,), {"api_url": api_url})
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=dist))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def _phone(browser: Browser, lang: str = "en") -> BrowserContext:
    """A phone-sized context with GPS granted at a point in the demo city."""
    return browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
        has_touch=True, locale="ar" if lang == "ar" else "en-GB", geolocation=HERE,
        permissions=["geolocation"], timezone_id="Europe/Berlin",
    )  # fmt: skip


def _register(api_url: str) -> dict[str, Any]:
    """Create a citizen through the API (for screens that need one); return the tokens."""
    body = json.dumps({"email": f"e2e-{uuid.uuid4().hex[:8]}@example.org",
                       "password": PASSWORD}).encode()  # fmt: skip
    req = urllib.request.Request(f"{api_url}/api/v1/auth/register", data=body,
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def _file_via_api(api_url: str, tokens: dict[str, Any], photo: Path) -> int:
    """File one report with a photo through the API (multipart, as the app does)."""
    boundary = uuid.uuid4().hex
    fields = {"service_code": "streetlight_out", "attribute[problem]": "off", "lat": "52.4321",
              "long": "13.5312", "description": "Lamp 14 is dark at night"}  # fmt: skip
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]  # fmt: skip
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="photos"; '
                 f'filename="lamp.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'.encode()
                 + photo.read_bytes() + f"\r\n--{boundary}--\r\n".encode())  # fmt: skip
    req = urllib.request.Request(
        f"{api_url}/api/v1/reports", data=b"".join(parts),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}",
                 "Authorization": f"Bearer {tokens['access_token']}"},
    )  # fmt: skip
    with urllib.request.urlopen(req, timeout=10) as resp:
        return int(json.loads(resp.read())["id"])


def _screenshot(page: Page, path: Path) -> None:
    """Save the whole screen: the app scrolls inside its own view, so grow the viewport."""
    height = page.evaluate(
        "() => Math.max(...[...document.querySelectorAll('*')].map(e => e.scrollHeight))"
    )
    size = page.viewport_size or {"width": 390, "height": 844}
    page.set_viewport_size({"width": size["width"], "height": min(max(height, 844), 6000)})
    page.wait_for_timeout(200)
    page.screenshot(path=path)
    page.set_viewport_size(size)


def check_axe(page: Page, name: str) -> None:
    """axe-core with the console's tags; no exclusions."""
    results = axe.run(page, options={"runOnly": {"type": "tag", "values": WCAG_TAGS}})
    found = [
        f"{v['id']}: {[n['target'] for n in v['nodes']][:6]}"
        for v in results.response["violations"]
    ]
    assert not found, f"{name}:\n" + "\n".join(found)


def _jpeg(path: Path) -> Path:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (800, 600), (180, 90, 40)).save(buf, "JPEG")
    path.write_bytes(buf.getvalue())
    return path


def _heading(page: Page, name: str) -> None:
    expect(page.get_by_role("heading", level=1, name=name)).to_be_visible(timeout=15_000)


def _file_report(page: Page, photo: Path) -> None:
    page.get_by_role("radio", name=re.compile(r"^Pothole\.")).click()
    page.get_by_role("radio", name="Larger than a car tyre").click()
    page.get_by_label("Description (optional)").fill("Deep hole in the cycle lane")
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Choose a photo").click()
    chooser.value.set_files(str(photo))
    expect(page.get_by_role("img", name="Photo 1 of the problem").first).to_be_visible()
    page.get_by_role("button", name="Use my location").click()
    expect(page.get_by_text(re.compile(r"Chosen point: 52\.431"))).to_be_visible()
    page.get_by_role("button", name="Send report").click()


def test_register_report_with_photo_and_see_it(
    browser: Browser, app_url: str, city: City, artifacts: Path, tmp_path: Path
) -> None:
    context = _phone(browser)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(app_url)
    _heading(page, "Create an account")
    check_axe(page, "sign-in-en")
    email = f"ada-{uuid.uuid4().hex[:8]}@example.org"
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{app_url}/report")
    _heading(page, "Report an issue")

    _file_report(page, _jpeg(tmp_path / "pothole.jpg"))
    done = page.get_by_role("status").filter(has_text="Your report number is")
    expect(done).to_be_visible(timeout=15_000)
    report_id = int(re.search(r"(\d+)\.$", done.inner_text().strip()).group(1))  # type: ignore[union-attr]

    with city.engine.connect() as c:
        row = c.execute(
            text("SELECT s.code, c.email, (SELECT count(*) FROM service_request_media m "
                 " WHERE m.request_id = r.id) FROM service_request r "
                 "JOIN service s ON s.id = r.service_id "
                 "JOIN citizen c ON c.id = r.reporter_citizen_id WHERE r.id = :id"),
            {"id": report_id},
        ).one()  # fmt: skip
    assert tuple(row) == ("pothole", email, 1)

    page.get_by_role("link", name="My reports").click()
    _heading(page, "My reports")
    card = page.get_by_role("heading", name=f"Report {report_id}: Pothole")
    expect(card).to_be_visible(timeout=15_000)
    photo = page.get_by_role("img", name="Photo 1 of the problem").first
    expect(photo).to_be_visible()
    # The thumbnail really came from the API (a decoded image, not a broken link).
    page.wait_for_function(
        "() => [...document.querySelectorAll('img')].some(i => i.complete && i.naturalWidth > 0"
        " && i.src.includes('/api/v1/media/'))", timeout=10_000,
    )  # fmt: skip
    check_axe(page, "reports-en")

    # The same problem again, from the same spot: the app offers to follow the first report.
    page.get_by_role("link", name="Report an issue").click()
    _heading(page, "Report an issue")
    _file_report(page, _jpeg(tmp_path / "again.jpg"))
    follow = page.get_by_role("button", name=f"Follow report {report_id}")
    expect(follow).to_be_visible(timeout=15_000)
    check_axe(page, "duplicates-en")
    _screenshot(page, artifacts / "mobile-duplicates-en.png")
    follow.click()
    expect(page.get_by_text(f"You now follow report {report_id}.")).to_be_visible()
    assert not errors, errors
    context.close()


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_every_screen_axe_and_screenshot(
    browser: Browser,
    app_url: str,
    api_url: str,
    city: City,
    artifacts: Path,
    lang: str,
    tmp_path: Path,
) -> None:
    from shared.db import session_scope
    from shared.service_requests.models import RequestStatus
    from shared.service_requests.service import set_request_status

    tokens = _register(api_url)
    # Something to show: a report with a photo that the city has seen and answered.
    report_id = _file_via_api(api_url, tokens, _jpeg(tmp_path / "lamp.jpg"))
    with session_scope(city.engine) as session:
        set_request_status(session=session, request_id=report_id, actor="e2e",
                           status=RequestStatus.acknowledged,
                           note="A crew will replace the lamp this week.")  # fmt: skip
    context = _phone(browser, lang)
    page = context.new_page()
    # Signed out first: the sign-in screen.
    page.add_init_script(f"localStorage.setItem('smartcity.locale', {json.dumps(lang)})")
    page.goto(f"{app_url}/sign-in")
    expect(page.locator("html")).to_have_attribute("dir", "rtl" if lang == "ar" else "ltr")
    expect(page.locator("html")).to_have_attribute("lang", lang)
    page.wait_for_timeout(300)
    check_axe(page, f"sign-in-{lang}")
    _screenshot(page, artifacts / f"mobile-sign-in-{lang}.png")
    # Then signed in, every screen.
    stored = json.dumps({k: tokens[k] for k in ("access_token", "refresh_token", "token_type",
                                                 "expires_in")})  # fmt: skip
    page.add_init_script(f"localStorage.setItem('smartcity.tokens', {json.dumps(stored)})")
    for route, title in SCREENS.items():
        page.goto(f"{app_url}/{route}")
        h1 = page.get_by_role("heading", level=1)
        expect(h1).to_be_visible(timeout=15_000)
        if lang == "en":
            expect(h1).to_have_text(title)
        else:
            assert re.search("[\u0600-\u06ff]", h1.inner_text()), h1.inner_text()
        expect(page.get_by_text("Loading…")).to_have_count(0, timeout=10_000)
        if route == "reports":
            expect(page.get_by_role("heading", level=3)).to_have_count(1, timeout=10_000)
        page.wait_for_timeout(300)
        check_axe(page, f"{route}-{lang}")
        _screenshot(page, artifacts / f"mobile-{route}-{lang}.png")
    context.close()
