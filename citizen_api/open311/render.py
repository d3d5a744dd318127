"""Open311 output in JSON (top-level arrays) and XML (the spec's element names)."""

from __future__ import annotations

import re
from typing import Any
from xml.etree import ElementTree as ET

import orjson
from flask import Response, request

from citizen_api.errors import Open311Error

# Characters XML 1.0 cannot carry, even escaped.
_BAD_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# How a list's items are named in XML, per the spec's examples.
ITEM = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}


def fmt_of_path() -> str:
    """Return "xml" or "json" from the request path's extension (JSON by default)."""
    return "xml" if request.path.endswith(".xml") else "json"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _BAD_XML.sub("", str(value))


def _fill(parent: ET.Element, name: str, value: Any) -> None:
    el = ET.SubElement(parent, name)
    if isinstance(value, dict):
        for k, v in value.items():
            _fill(el, k, v)
    elif isinstance(value, list):
        for item in value:
            _fill(el, ITEM.get(name, "item"), item)
    elif value is not None:
        el.text = _text(value)


def to_xml(root: str, items: list[Any] | dict[str, Any]) -> bytes:
    """Return the document as XML with an XML declaration."""
    el = ET.Element(root)
    if isinstance(items, list):
        for item in items:
            _fill(el, ITEM[root], item)
    else:
        for k, v in items.items():
            _fill(el, k, v)
    return (
        b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(el, encoding="unicode").encode()
    )


def respond(fmt: str, root: str, body: Any, status: int = 200) -> Response:
    """Return the body in the requested format; `root` names XML's root element."""
    if fmt == "xml":
        return Response(to_xml(root, body), status=status, mimetype="text/xml")
    return Response(orjson.dumps(body), status=status, mimetype="application/json")


def error_response(exc: Open311Error, fmt: str | None = None) -> Response:
    """Return an Open311 error list: [{code, description}]."""
    body = [{"code": exc.status, "description": exc.description}]
    return respond(fmt or fmt_of_path(), "errors", body, exc.status)
