"""Errors as RFC 9457 problem+json on /api, as Open311 error lists on /open311; never HTML."""

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


class Open311Error(Exception):
    """An Open311 error: rendered as [{code, description}] in the request's format."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status, self.description = status, description


def problem(status: int, detail: str, *, type_: str = "about:blank", **extra: Any) -> Response:
    """Return a problem+json response."""
    body = {"type": type_, "title": HTTPStatus(status).phrase, "status": status,
            "detail": detail, "instance": request.path, **extra}  # fmt: skip
    resp = jsonify(body)
    resp.status_code = status
    resp.content_type = PROBLEM
    return resp


def _is_open311() -> bool:
    return request.path.startswith("/open311/")


def _error(status: int, detail: str) -> Response:
    if _is_open311():
        from citizen_api.open311.render import error_response

        return error_response(Open311Error(status, detail))
    return problem(status, detail)


def register_error_handlers(app: Flask) -> None:
    """Turn every error into problem+json (or an Open311 error list under /open311)."""

    @app.errorhandler(ApiProblem)
    def _api_problem(exc: ApiProblem) -> Response:
        return problem(exc.status, exc.detail, type_=exc.type, **exc.extra)

    @app.errorhandler(Open311Error)
    def _open311(exc: Open311Error) -> Response:
        from citizen_api.open311.render import error_response

        return error_response(exc)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        resp = _error(exc.code or 500, exc.description or "")
        if exc.code == 405 and exc.response is None:
            resp.headers["Allow"] = ", ".join(getattr(exc, "valid_methods", None) or [])
        return resp

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        app.logger.exception("unhandled error on %s", request.path)
        return _error(500, "an unexpected error occurred; it has been logged")
