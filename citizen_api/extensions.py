"""Extensions created at module level and bound to the app in the factory."""

from __future__ import annotations

import hashlib
import time

from celery import Celery
from flask import Flask, request
from flask_cors import CORS
from flask_limiter import Limiter
from redis import Redis

from citizen_api.ratelimit import NAME as ONE_TRIP_SLIDING_WINDOW
from shared.realtime import Fanout
from shared.tasks.celery_app import make_celery

celery: Celery | None = None


def rate_key() -> str:
    """Rate-limit per account (bearer token), per Open311 client (api_key), else per address."""
    from citizen_api.tokens import peek_subject

    auth = request.headers.get("Authorization", "")
    if (
        auth.startswith("Bearer ")
        and request.path.startswith("/api/v1/")
        and (sub := peek_subject(auth[7:].strip()))
    ):
        return f"citizen:{sub}"
    key = request.args.get("api_key") or (
        request.form.get("api_key") if request.mimetype.endswith("form-urlencoded") else None
    )
    if key and _is_client_key(key):
        return "client:" + hashlib.sha256(key.encode()).hexdigest()[:16]
    # An unknown key is the caller's address: made-up keys must not buy fresh budgets.
    return f"ip:{request.remote_addr}"


# key -> (is a valid client key, when checked); a revoked key stops counting within a minute.
_CLIENT_KEYS: dict[str, tuple[bool, float]] = {}
_CLIENT_KEY_TTL_S = 60.0


def _is_client_key(key: str) -> bool:
    """Return True if `key` belongs to an active Open311 client (cached per process)."""
    now = time.monotonic()
    hit = _CLIENT_KEYS.get(key)
    if hit is not None and now - hit[1] < _CLIENT_KEY_TTL_S:
        return hit[0]
    from citizen_api.db import db_read
    from shared.accounts.service import find_api_client_id

    with db_read() as session:
        valid = find_api_client_id(session=session, api_key=key) is not None
    if len(_CLIENT_KEYS) > 10_000:  # bounded: made-up keys cannot grow it without limit
        _CLIENT_KEYS.clear()
    _CLIENT_KEYS[key] = (valid, now)
    return valid


# Sliding-window counter: two counters per key in Redis (O(1) a request), nearly as strict as a
# moving window, whose per-hit list made every request scan the key's whole window. Ours counts
# and reads the window for the headers in one round trip (citizen_api/ratelimit.py).
limiter = Limiter(key_func=rate_key, headers_enabled=True, strategy=ONE_TRIP_SLIDING_WINDOW)
cors = CORS()


def redis_client() -> Redis:
    """Return the app's Redis client (token revocation list)."""
    from flask import current_app

    return current_app.extensions["redis"]


def fanout() -> Fanout:
    """Return the app's Socket.IO emitter (Redis message queue to the console)."""
    from flask import current_app

    return current_app.extensions["fanout"]


def init_extensions(app: Flask) -> None:
    """Bind Celery (task producer), Redis, the console emitter, CORS and the rate limiter."""
    global celery
    celery = app.config.get("CELERY") or make_celery()
    app.extensions["celery"] = celery
    redis_url = app.config.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    app.extensions["redis"] = Redis.from_url(redis_url)
    # Connects lazily on the first emit; no MQTT: requests are for the console only.
    app.extensions["fanout"] = app.config.get("FANOUT") or Fanout(
        redis_url=redis_url, mqtt_url=None
    )
    app.config.setdefault("RATELIMIT_STORAGE_URI", redis_url)
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "smartcity-rl")
    limiter.init_app(app)
    cors.init_app(
        app,
        resources={r"/api/*": {}, r"/open311/*": {}},
        origins=app.config["CORS_ORIGINS"],
        expose_headers=["X-RateLimit-Limit", "X-RateLimit-Remaining", "Retry-After"],
    )
