"""OpenAPI 3.1 document built from the app's routes, view docstrings and pydantic bodies."""

from __future__ import annotations

import re
from typing import Any

from flask import current_app

from citizen_api import schemas

JSON_BODIES: dict[str, type] = {
    "auth.register": schemas.RegisterIn,
    "auth.login": schemas.LoginIn,
    "auth.refresh": schemas.RefreshIn,
    "auth.logout": schemas.RefreshIn,
    "auth.update_me": schemas.MeUpdate,
    "notifications.register_device": schemas.DeviceIn,
    "notifications.subscribe": schemas.SubscriptionIn,
}
OPEN311_FORM = {
    "type": "object",
    "properties": {
        k: {"type": "string"}
        for k in (
            "api_key",
            "service_code",
            "lat",
            "long",
            "address_string",
            "address_id",
            "description",
            "media_url",
            "email",
            "first_name",
            "last_name",
            "phone",
            "device_id",
            "account_id",
        )
    },
    "required": ["api_key", "service_code"],
}
REPORT_FORM = {
    "type": "object",
    "properties": {
        "service_code": {"type": "string"},
        "lat": {"type": "string"},
        "long": {"type": "string"},
        "address_string": {"type": "string"},
        "description": {"type": "string"},
        "photos": {"type": "array", "items": {"type": "string", "format": "binary"}},
    },
    "required": ["service_code"],
}
PROBLEM = {
    "application/problem+json": {
        "schema": {
            "type": "object",
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
            },
            "required": ["status", "title"],
        }
    }
}
OPEN311_ERRORS = {
    "application/json": {
        "schema": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"code": {"type": "integer"}, "description": {"type": "string"}},
                "required": ["code", "description"],
            },
        }
    },
    "text/xml": {"schema": {"type": "string"}},
}
# /api/v1 routes that need no citizen token (ingest uses its own device key).
PUBLIC = {"auth.register", "auth.login", "auth.refresh", "reports.media", "ingest.post_readings"}
_VAR = re.compile(r"<(?:(\w+)(?:\(([^)]*)\))?:)?(\w+)>")


def _param(conv: str | None, args: str | None, name: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if conv == "int":
        schema = {"type": "integer", "minimum": 0, "maximum": 2**62}
    elif conv == "any" and args:
        schema = {"type": "string", "enum": [a.strip().strip("'\"") for a in args.split(",")]}
    return {"name": name, "in": "path", "required": True, "schema": schema}


def spec() -> dict[str, Any]:
    """Return the OpenAPI 3.1 document for every route of the current app."""
    paths: dict[str, dict[str, Any]] = {}
    for rule in current_app.url_map.iter_rules():
        if rule.endpoint in ("static",):
            continue
        path = _VAR.sub(lambda m: "{" + m.group(3) + "}", rule.rule)
        params = [_param(c, a, n) for c, a, n in _VAR.findall(rule.rule)]
        view = current_app.view_functions[rule.endpoint]
        doc = (view.__doc__ or rule.endpoint).strip().splitlines()[0]
        errors = OPEN311_ERRORS if rule.rule.startswith("/open311/") else PROBLEM
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            op: dict[str, Any] = {
                "operationId": f"{rule.endpoint}.{method.lower()}",
                "summary": doc,
                "tags": [rule.endpoint.split(".")[0]],
                "parameters": params,
                "responses": {
                    "2XX": {"description": "success"},
                    "4XX": {"description": "client error", "content": errors},
                },
            }
            if rule.rule.startswith("/api/v1/") and rule.endpoint not in PUBLIC:
                op["security"] = [{"bearer": []}]
            if model := JSON_BODIES.get(rule.endpoint):
                op["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": model.model_json_schema()}},
                }
            elif rule.endpoint == "open311.create_request":
                op["requestBody"] = {
                    "required": True,
                    "content": {"application/x-www-form-urlencoded": {"schema": OPEN311_FORM}},
                }
            elif rule.endpoint == "reports.create_report":
                op["requestBody"] = {
                    "required": True,
                    "content": {"multipart/form-data": {"schema": REPORT_FORM}},
                }
            paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "smartcity citizen API",
            "version": "1",
            "description": "Open311 GeoReport v2, citizen accounts, reports and push.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            }
        },
    }
