"""Rate limits per Open311 client (api_key) and per citizen account, in the real Redis of the
test stack, against the API served as `smartcity api` serves it (gunicorn), with the limits set
through the environment (API_RATE_LIMIT, API_AUTH_RATE_LIMIT)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree as ET

import httpx
import pytest
from sqlalchemy import Engine

from shared.accounts.service import create_api_client
from shared.db import session_scope
from shared.stack import StackState, free_port, port_open
from tests.conftest import REPO

LIMIT = 6  # per minute, per key, across all routes
# One client with a generous timeout: a busy 2-core machine can take seconds to answer.
http = httpx.Client(timeout=60)
AUTH_LIMIT = 2  # per minute, per address and auth route
FAIL_LIMIT = 3  # failed logins per minute, per account, from any address (> AUTH_LIMIT)


@pytest.fixture(scope="module")
def served(stack: StackState, engine: Engine, api_key: str, tmp_path_factory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """`smartcity api` on a free port with low limits; its log is shown if it fails to start."""
    port = free_port()
    log = tmp_path_factory.mktemp("api") / "api.log"
    env = {
        **os.environ,
        **stack.env(),
        "SMARTCITY_ENV": "development",
        "PYTHONPATH": str(REPO),
        "API_RATE_LIMIT": f"{LIMIT} per minute",
        "API_AUTH_RATE_LIMIT": f"{AUTH_LIMIT} per minute",
        "API_LOGIN_FAILURE_LIMIT": f"{FAIL_LIMIT} per minute",
    }
    exe = str(Path(sys.executable).with_name("smartcity"))
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [exe, "api", "--port", str(port), "--workers", "1"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not port_open(port):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def _new_key(engine: Engine) -> str:
    with session_scope(engine) as session:
        return create_api_client(session=session, name=f"rl-{uuid.uuid4().hex[:8]}").api_key


def _retry_after(resp: httpx.Response) -> int:
    value = int(resp.headers["Retry-After"])
    assert 0 < value <= 60, value
    return value


def test_open311_client_limit_gives_429_error_list_per_key(served: str, engine: Engine) -> None:
    key, other = _new_key(engine), _new_key(engine)
    url = f"{served}/open311/v2/services.json"
    for i in range(LIMIT):
        resp = http.get(url, params={"api_key": key})
        assert resp.status_code == 200, (i, resp.text)
        assert resp.headers["X-RateLimit-Remaining"] == str(LIMIT - 1 - i)
    over = http.get(url, params={"api_key": key})
    assert over.status_code == 429 and over.headers["Content-Type"].startswith("application/json")
    body = over.json()
    assert (
        isinstance(body, list)
        and body[0]["code"] == 429
        and "per 1 minute" in body[0]["description"]
    ), body
    _retry_after(over)
    # The same client in XML: the spec's <errors>, not an HTML page.
    xml = http.get(f"{served}/open311/v2/services.xml", params={"api_key": key})
    assert xml.status_code == 429 and xml.headers["Content-Type"].startswith("text/xml")
    root = ET.fromstring(xml.content)
    assert root.tag == "errors" and root.find("error/code").text == "429"  # type: ignore[union-attr]
    _retry_after(xml)
    # POSTs count against the same client; another client is not affected.
    post = http.post(
        f"{served}/open311/v2/requests.json",
        data={"api_key": key, "service_code": "graffiti", "lat": "52.4321", "long": "13.5452"},
    )
    assert post.status_code == 429
    assert http.get(url, params={"api_key": other}).status_code == 200


def test_account_limit_gives_429_problem_per_citizen(served: str) -> None:
    tokens = []
    for _ in range(2):  # 2 of the address's AUTH_LIMIT sign-ups a minute
        email = f"rl-{uuid.uuid4().hex[:10]}@example.org"
        resp = http.post(
            f"{served}/api/v1/auth/register",
            json={"email": email, "password": "correct horse battery"},
        )
        assert resp.status_code == 201, resp.text
        tokens.append({"Authorization": f"Bearer {resp.json()['access_token']}"})
    alice, bob = tokens
    for i in range(LIMIT):
        assert http.get(f"{served}/api/v1/me", headers=alice).status_code == 200, i
    over = http.get(f"{served}/api/v1/me", headers=alice)
    assert over.status_code == 429
    assert over.headers["Content-Type"] == "application/problem+json"
    problem = over.json()
    assert problem["status"] == 429 and problem["title"] == "Too Many Requests"
    assert "per 1 minute" in problem["detail"]
    _retry_after(over)
    # Per account, not per address: Bob, on the same address, still gets through.
    assert http.get(f"{served}/api/v1/me", headers=bob).status_code == 200
    # Password guessing is limited tighter, per address and route: AUTH_LIMIT tries a minute.
    wrong = {"email": "nobody@example.org", "password": "wrong password"}
    for _ in range(AUTH_LIMIT):
        assert http.post(f"{served}/api/v1/auth/login", json=wrong).status_code == 401
    guess = http.post(f"{served}/api/v1/auth/login", json=wrong)
    assert guess.status_code == 429 and guess.json()["status"] == 429
    _retry_after(guess)


def test_made_up_keys_share_the_address_budget(served: str) -> None:
    """Rotating invented api_keys must not buy fresh budgets: they count as the address."""
    url = f"{served}/open311/v2/discovery.json"
    codes = [
        http.get(url, params={"api_key": f"made-up-{i}"}).status_code for i in range(LIMIT + 1)
    ]
    # With a budget per made-up key all of these would pass; as one address, the last cannot.
    assert codes[-1] == 429, codes


def _from(address: str) -> httpx.Client:
    """A client whose requests come from another loopback address (127.0.0.0/8 is ours)."""
    return httpx.Client(timeout=60, transport=httpx.HTTPTransport(local_address=address))


def test_failed_logins_are_limited_per_account_from_any_address(served: str) -> None:
    """Guesses spread over addresses share the account's budget; successes do not count."""
    password = "correct horse battery"
    victim, other = (f"rl-{uuid.uuid4().hex[:10]}@example.org" for _ in range(2))
    with _from("127.0.0.2") as a, _from("127.0.0.3") as b, _from("127.0.0.4") as c:
        assert (
            a.post(
                f"{served}/api/v1/auth/register", json={"email": victim, "password": password}
            ).status_code
            == 201
        )
        assert (
            c.post(
                f"{served}/api/v1/auth/register", json={"email": other, "password": password}
            ).status_code
            == 201
        )
        wrong = {"email": victim.upper(), "password": "wrong password"}  # same account
        for client in (a, a, b):  # within each address's AUTH_LIMIT
            assert client.post(f"{served}/api/v1/auth/login", json=wrong).status_code == 401
        # The account's FAIL_LIMIT is spent: another address is held back too, even with the
        # right password, until the window moves on.
        over = b.post(f"{served}/api/v1/auth/login", json={"email": victim, "password": password})
        assert over.status_code == 429 and over.json()["status"] == 429, over.text
        _retry_after(over)
        # Another account is not affected.
        for _ in range(AUTH_LIMIT):
            ok = c.post(f"{served}/api/v1/auth/login", json={"email": other, "password": password})
            assert ok.status_code == 200, ok.text
