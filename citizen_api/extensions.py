"""Extensions created at module level and bound to the app in the factory."""

from __future__ import annotations

import hashlib

from celery import Celery
from flask import Flask, request
from flask_cors import CORS
from flask_limiter import Limiter
from redis import Redis

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
    if key:
        return "client:" + hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"ip:{request.remote_addr}"


limiter = Limiter(key_func=rate_key, headers_enabled=True, strategy="moving-window")
cors = CORS()


def redis_client() -> Redis:
    """Return the app's Redis client (token revocation list)."""
    from flask import current_app

    return current_app.extensions["redis"]


def init_extensions(app: Flask) -> None:
    """Bind Celery (task producer), Redis, CORS and the Redis-backed rate limiter."""
    global celery
    celery = app.config.get("CELERY") or make_celery()
    app.extensions["celery"] = celery
    redis_url = app.config.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    app.extensions["redis"] = Redis.from_url(redis_url)
    app.config.setdefault("RATELIMIT_STORAGE_URI", redis_url)
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "smartcity-rl")
    limiter.init_app(app)
    cors.init_app(
        app,
        resources={r"/api/*": {}, r"/open311/*": {}},
        origins=app.config["CORS_ORIGINS"],
        expose_headers=["X-RateLimit-Limit", "X-RateLimit-Remaining", "Retry-After"],
    )
