"""Parse JSON bodies into pydantic models, with problem+json on failure."""

from __future__ import annotations

from typing import TypeVar

from flask import request
from pydantic import BaseModel, ValidationError

from citizen_api.errors import ApiProblem

M = TypeVar("M", bound=BaseModel)


def body(model: type[M]) -> M:
    """Return the request's JSON body as `model`, or raise 400/415."""
    if not request.is_json:
        raise ApiProblem(415, "send application/json")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiProblem(400, "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"]} for e in exc.errors()
        ]
        raise ApiProblem(400, "the body is not valid", errors=errors) from exc


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):  # args/form come as (key, value) pairs
        return any(_has_nul(v) for v in value)
    return False


def reject_nul_bytes() -> None:
    """Refuse NUL characters anywhere in the input (PostgreSQL text cannot store them)."""
    from werkzeug.exceptions import BadRequest

    values: list[object] = [list(request.args.items(multi=True))]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        values.append(list(request.form.items(multi=True)))
    elif request.is_json:
        values.append(request.get_json(silent=True))
    if any(_has_nul(v) for v in values) or "\x00" in request.path:
        raise BadRequest("the request contains a NUL character")
