"""The citizen API (Flask): Open311, citizen accounts and the device ingest endpoint."""

from __future__ import annotations

from typing import Any

from flask import Flask


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create the API app; blueprints are imported here so that importing the package is cheap."""
    from shared.config import get_settings

    app = Flask(__name__)
    settings = get_settings()
    app.config.from_mapping(
        SECRET_KEY=settings.secret_key,
        # Back-fills are sent in chunks; 16 MiB holds about 150k SenML records.
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
    )
    if test_config:
        app.config.update(test_config)

    from citizen_api.errors import register_error_handlers
    from citizen_api.extensions import init_extensions
    from citizen_api.ingest import bp as ingest_bp

    init_extensions(app)
    register_error_handlers(app)
    app.register_blueprint(ingest_bp)
    return app
