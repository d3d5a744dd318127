"""Fixtures for the citizen API: one app on the session's stack, a seeded catalogue, an API key."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

import shared.notifications.models
import shared.service_requests.models  # noqa: F401
from shared.accounts.service import create_api_client
from shared.db import session_scope
from shared.service_requests.service import seed_service_catalogue
from shared.service_requests.storage import LocalStorage


@pytest.fixture(scope="session")
def media_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def api_key(engine: Engine) -> str:
    with session_scope(engine) as session:
        seed_service_catalogue(session=session)
        issued = create_api_client(session=session, name=f"open311-test-{uuid.uuid4().hex[:8]}")
    return issued.api_key


@pytest.fixture(scope="session")
def app(engine: Engine, api_key: str, media_root: Path) -> Iterator[Flask]:
    from citizen_api import create_app

    app = create_app(
        {
            "TESTING": True,
            "RATELIMIT_ENABLED": False,
            "SECRET_KEY": "t" * 48,
            "MEDIA_STORAGE": LocalStorage(media_root),
        }
    )
    yield app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def register(client: FlaskClient, **kw: str) -> dict:
    """Register a fresh citizen and return the login answer (tokens + citizen)."""
    email = kw.pop("email", f"c-{uuid.uuid4().hex[:10]}@example.org")
    resp = client.post(
        "/api/v1/auth/register", json={"email": email, "password": "correct horse battery", **kw}
    )
    assert resp.status_code == 201, resp.get_json()
    return {**resp.get_json(), "email": email}


def bearer(tokens: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}
