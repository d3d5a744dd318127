"""The string-built Open311 XML is byte for byte what ElementTree wrote before it."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

from hypothesis import given, settings
from hypothesis import strategies as st

from citizen_api.open311.render import ITEM, _text, to_xml


def _et_fill(parent: ET.Element, name: str, value: Any) -> None:
    el = ET.SubElement(parent, name)
    if isinstance(value, dict):
        for k, v in value.items():
            _et_fill(el, k, v)
    elif isinstance(value, list):
        for item in value:
            _et_fill(el, ITEM.get(name, "item"), item)
    elif value is not None:
        el.text = _text(value)


def et_xml(root: str, items: list[Any] | dict[str, Any]) -> bytes:
    """The previous renderer: an ElementTree per document."""
    el = ET.Element(root)
    if isinstance(items, list):
        for item in items:
            _et_fill(el, ITEM[root], item)
    else:
        for k, v in items.items():
            _et_fill(el, k, v)
    return (
        b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(el, encoding="unicode").encode()
    )


tags = st.sampled_from(
    ["service_request_id", "status", "lat", "description", "values", "attributes", "keywords"]
)
# Text with markup characters, XML-illegal control characters, non-ASCII and empty strings.
texts = st.text(alphabet=st.sampled_from(list("ab <>&\"'\n\r\t\x00\x01\x0b\ufffe\u00e4\u0627")))
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tags, inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(
    root=st.sampled_from(["service_requests", "services", "errors"]),
    items=st.lists(st.dictionaries(tags, values, max_size=5), max_size=4),
)
def test_lists_match_elementtree(root: str, items: list[dict[str, Any]]) -> None:
    assert to_xml(root, items) == et_xml(root, items)


@settings(max_examples=200, deadline=None)
@given(body=st.dictionaries(tags, values, max_size=5))
def test_documents_match_elementtree(body: dict[str, Any]) -> None:
    assert to_xml("discovery", body) == et_xml("discovery", body)


def test_a_request_renders_as_the_spec_shows_it() -> None:
    row = {"service_request_id": "7", "status": "open", "description": "A & B <x>",
           "zipcode": None, "lat": 52.43, "media_url": ""}  # fmt: skip
    assert to_xml("service_requests", [row]) == (
        b'<?xml version="1.0" encoding="utf-8"?>\n<service_requests><request>'
        b"<service_request_id>7</service_request_id><status>open</status>"
        b"<description>A &amp; B &lt;x&gt;</description><zipcode /><lat>52.43</lat>"
        b"<media_url /></request></service_requests>"
    )
    assert to_xml("service_requests", []) == (
        b'<?xml version="1.0" encoding="utf-8"?>\n<service_requests />'
    )
