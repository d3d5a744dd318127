"""The citizen API (Flask): Open311, citizen accounts, push devices and the device ingest."""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.routing import IntegerConverter

INT4_MAX = 2**31 - 1


class BoundedInt(IntegerConverter):
    """`<int:...>` limited to PostgreSQL's integer range (the id columns' smallest type)."""

    def __init__(self, map, *args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs.setdefault("max", INT4_MAX)
        super().__init__(map, *args, **kwargs)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create the API app; blueprints are imported here so that importing the package is cheap."""
    from shared.config import get_settings

    app = Flask(__name__)
    # Ids in paths above int4 are nobody's (a 404), not a database error.
    app.url_map.converters["int"] = BoundedInt
    settings = get_settings()
    app.config.from_mapping(
        SECRET_KEY=settings.secret_key,
        # Back-fills are sent in chunks; 16 MiB holds about 150k SenML records.
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
        REDIS_URL=settings.redis_url,
        ACCESS_TOKEN_TTL_S=15 * 60,
        REFRESH_TOKEN_TTL_S=30 * 24 * 3600,
        CORS_ORIGINS="*",
        RATELIMIT_ENABLED=True,
        # One budget per client across all routes (a per-route default would multiply it).
        RATELIMIT_APPLICATION=settings.api_rate_limit,
        RATELIMIT_AUTH=settings.api_auth_rate_limit,
        RATELIMIT_LOGIN_FAILURES=settings.api_login_failure_limit,
    )
    if test_config:
        app.config.update(test_config)

    from citizen_api.auth import bp as auth_bp
    from citizen_api.docs import bp as docs_bp
    from citizen_api.errors import register_error_handlers
    from citizen_api.extensions import init_extensions
    from citizen_api.ingest import bp as ingest_bp
    from citizen_api.notifications import bp as notifications_bp
    from citizen_api.open311 import bp as open311_bp
    from citizen_api.reports import bp as reports_bp
    from citizen_api.validation import reject_nul_bytes

    init_extensions(app)
    register_error_handlers(app)
    app.before_request(reject_nul_bytes)
    app.register_blueprint(ingest_bp)
    app.register_blueprint(open311_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(reports_bp)
    app.register_blueprint(notifications_bp)
    app.register_blueprint(docs_bp)
    return app
