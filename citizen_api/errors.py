"""Errors as RFC 9457 problem+json on /api; never an HTML page or a stack trace."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

PROBLEM = "application/problem+json"


class ApiProblem(Exception):
    """An error with a specific title, detail and status for API clients."""

    def __init__(self, status: int, detail: str, *, type_: str = "about:blank", **extra: Any):
        super().__init__(detail)
        self.status, self.detail, self.type, self.extra = status, detail, type_, extra


def problem(status: int, detail: str, *, type_: str = "about:blank", **extra: Any) -> Response:
    """Return a problem+json response."""
    body = {"type": type_, "title": HTTPStatus(status).phrase, "status": status,
            "detail": detail, "instance": request.path, **extra}  # fmt: skip
    resp = jsonify(body)
    resp.status_code = status
    resp.content_type = PROBLEM
    return resp


def register_error_handlers(app: Flask) -> None:
    """Turn every error into problem+json."""

    @app.errorhandler(ApiProblem)
    def _api_problem(exc: ApiProblem) -> Response:
        return problem(exc.status, exc.detail, type_=exc.type, **exc.extra)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        return problem(exc.code or 500, exc.description or "")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        app.logger.exception("unhandled error on %s", request.path)
        return problem(500, "an unexpected error occurred; it has been logged")
