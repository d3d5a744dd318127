"""A small Open311 GeoReport v2 client written from the specification (wiki.open311.org).

It knows only the spec: paths `<base>/<resource>.<format>`, form-encoded POST, JSON top-level
arrays, XML with the spec's element names, errors as a list of {code, description}. It does not
import anything from the code under test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree as ET

# Elements whose children form a list, per the spec's XML examples.
LISTS = {"services", "service_requests", "errors", "attributes", "values", "endpoints", "formats"}


def xml_to_py(el: ET.Element) -> Any:
    """Turn a spec XML element into lists/dicts/strings (all leaf values are text)."""
    if el.tag in LISTS:
        return [xml_to_py(child) for child in el]
    if len(el) == 0:
        return el.text
    return {child.tag: xml_to_py(child) for child in el}


@dataclass
class Answer:
    status: int
    content_type: str
    body: Any


class Open311Client:
    """GeoReport v2 over any WSGI test client (or anything with get/post(path, ...))."""

    def __init__(self, http: Any, base: str, fmt: str, api_key: str | None = None) -> None:
        self.http, self.base, self.fmt, self.api_key = http, base.rstrip("/"), fmt, api_key

    def _answer(self, resp: Any) -> Answer:
        ctype = resp.headers.get("Content-Type", "")
        if self.fmt == "xml":
            assert "xml" in ctype, ctype
            root = ET.fromstring(resp.data)
            return Answer(resp.status_code, ctype, xml_to_py(root))
        assert ctype.startswith("application/json"), ctype
        return Answer(resp.status_code, ctype, resp.get_json())

    def get(self, path: str, **params: Any) -> Answer:
        return self._answer(self.http.get(f"{self.base}/{path}.{self.fmt}", query_string=params))

    def discovery(self) -> Answer:
        return self.get("discovery")

    def services(self) -> Answer:
        return self.get("services")

    def service_definition(self, code: str) -> Answer:
        return self.get(f"services/{code}")

    def requests(self, **filters: Any) -> Answer:
        return self.get("requests", **filters)

    def request(self, request_id: str) -> Answer:
        return self.get(f"requests/{request_id}")

    def token(self, token: str) -> Answer:
        return self.get(f"tokens/{token}")

    def post_request(self, *, attributes: dict[str, Any] | None = None, **fields: Any) -> Answer:
        form: list[tuple[str, str]] = []
        if self.api_key is not None and "api_key" not in fields:
            form.append(("api_key", self.api_key))
        form += [(k, str(v)) for k, v in fields.items() if v is not None]
        for code, value in (attributes or {}).items():
            if isinstance(value, list):
                form += [(f"attribute[{code}][]", v) for v in value]
            else:
                form.append((f"attribute[{code}]", value))
        body = "&".join(f"{_q(k)}={_q(v)}" for k, v in form)
        resp = self.http.post(
            f"{self.base}/requests.{self.fmt}",
            data=body,
            content_type="application/x-www-form-urlencoded",
        )
        return self._answer(resp)


def _q(s: str) -> str:
    from urllib.parse import quote_plus

    return quote_plus(s)
