"""OpenAPI 3.1 document built from the app's routes, view docstrings and pydantic bodies."""

from __future__ import annotations

import re
from typing import Any

from flask import current_app
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from citizen_api import schemas
from shared.service_requests.schemas import (
    DuplicateMatch,
    Open311Request,
    ReportRead,
    ServiceDefinition,
    ServiceRead,
)

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
REF = "#/components/schemas/{model}"
PROBLEM = {"application/problem+json": {"schema": {"$ref": REF.format(model="ProblemOut")}}}
XML = {"text/xml": {"schema": {"type": "string"}}}
OPEN311_ERRORS = {
    "application/json": {
        "schema": {"type": "array", "items": {"$ref": REF.format(model="Open311ErrorOut")}}
    },
    **XML,
}
# endpoint -> (success status, body model or None for no body, a JSON list of them?)
RESPONSES: dict[str, tuple[int, type[BaseModel] | None, bool]] = {
    "open311.discovery": (200, schemas.Open311Discovery, False),
    "open311.services": (200, ServiceRead, True),
    "open311.service_definition": (200, ServiceDefinition, False),
    "open311.create_request": (201, schemas.Open311Created, True),
    "open311.list_requests": (200, Open311Request, True),
    "open311.get_request": (200, Open311Request, True),
    "open311.get_token": (200, schemas.Open311Token, True),
    "auth.register": (201, schemas.RegisteredOut, False),
    "auth.login": (200, schemas.TokensOut, False),
    "auth.refresh": (200, schemas.TokensOut, False),
    "auth.logout": (204, None, False),
    "auth.get_me": (200, schemas.CitizenOut, False),
    "auth.update_me": (200, schemas.CitizenOut, False),
    "reports.create_report": (201, ReportRead, False),
    "reports.my_reports": (200, ReportRead, True),
    "reports.get_report": (200, ReportRead, False),
    "reports.duplicates": (200, DuplicateMatch, True),
    "reports.follow": (204, None, False),
    "reports.unfollow": (204, None, False),
    "notifications.register_device": (201, schemas.DeviceOut, False),
    "notifications.list_devices": (200, schemas.DeviceOut, True),
    "notifications.remove_device": (204, None, False),
    "notifications.subscribe": (201, schemas.SubscriptionOut, False),
    "notifications.list_subscriptions": (200, schemas.SubscriptionOut, True),
    "notifications.unsubscribe": (204, None, False),
    "ingest.post_readings": (202, schemas.IngestAccepted, False),
}
BINARY = {"type": "string", "format": "binary"}
# Answers that are not JSON models.
RAW: dict[str, dict[str, Any]] = {
    "reports.media": {
        "200": {
            "description": "the photo (EXIF stripped) or its JPEG thumbnail",
            "content": {t: {"schema": BINARY} for t in ("image/jpeg", "image/png", "image/webp")},
        }
    },
    "docs.openapi": {
        "200": {
            "description": "this document",
            "content": {
                "application/json": {
                    "schema": {"type": "object", "required": ["openapi", "info", "paths"]}
                }
            },
        }
    },
    "docs.docs": {
        "200": {"description": "interactive docs", "content": {"text/html": {"schema": {}}}}
    },
}
# /api/v1 routes that need no citizen token (ingest uses its own device key).
PUBLIC = {"auth.register", "auth.login", "auth.refresh", "reports.media", "ingest.post_readings"}
_VAR = re.compile(r"<(?:(\w+)(?:\(([^)]*)\))?:)?(\w+)>")


def _success(endpoint: str, *, xml: bool) -> dict[str, Any]:
    """Return the operation's success response with its specific schema."""
    if endpoint in RAW:
        return RAW[endpoint]
    if endpoint not in RESPONSES:
        raise LookupError(f"no response schema for {endpoint}: add it to RESPONSES")
    status, model, many = RESPONSES[endpoint]
    if model is None:
        return {str(status): {"description": "done, no content"}}
    ref: dict[str, Any] = {"$ref": REF.format(model=model.__name__)}
    content = {"application/json": {"schema": {"type": "array", "items": ref} if many else ref}}
    return {str(status): {"description": "success", "content": {**content, **(XML if xml else {})}}}


def _closed(schema: dict[str, Any]) -> dict[str, Any]:
    """Forbid fields the model does not name (unless it allows extras), recursively."""
    if "properties" in schema:
        schema.setdefault("additionalProperties", False)
    for value in schema.values():
        if isinstance(value, dict):
            _closed(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    _closed(item)
    return schema


def _component_schemas() -> dict[str, Any]:
    """Return the response models' JSON schemas, referenced as #/components/schemas/<Model>."""
    models = {m for _s, m, _many in RESPONSES.values() if m is not None}
    models |= {schemas.ProblemOut, schemas.Open311ErrorOut}
    _keys, doc = models_json_schema(
        [(m, "serialization") for m in sorted(models, key=lambda m: m.__name__)],
        ref_template=REF,
    )
    defs: dict[str, Any] = doc.get("$defs", {})
    return {name: _closed(d) for name, d in sorted(defs.items())}


def _param(conv: str | None, args: str | None, name: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if conv == "int":
        schema = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}
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
                    **_success(rule.endpoint, xml=rule.rule.startswith("/open311/")),
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
            "schemas": _component_schemas(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
