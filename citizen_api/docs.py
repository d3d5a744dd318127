"""The OpenAPI document at /api/openapi.json and a docs page served from the package."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, jsonify

bp = Blueprint("docs", __name__, url_prefix="/api")

_PAGE = Path(__file__).with_name("static") / "docs.html"


@bp.get("/openapi.json")
def openapi() -> Response:
    """Return the OpenAPI 3.1 description of every route."""
    from citizen_api.openapi import spec

    return jsonify(spec())


@bp.get("/docs")
def docs() -> Response:
    """Return the interactive docs page (no CDN: plain HTML and script from this package)."""
    return Response(_PAGE.read_text(encoding="utf-8"), mimetype="text/html")
