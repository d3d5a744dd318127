"""The app's JSON catalogues (mobile/src/i18n/locales) are what i18n/export_json.py makes now."""

from __future__ import annotations

import json
import sys

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "i18n"))

import export_json


def test_app_strings_are_extracted_translated_and_exported() -> None:
    msgids = export_json.app_msgids()
    assert "Report an issue" in msgids and "Send report" in msgids
    tables, problems = export_json.tables(msgids)
    assert problems == []
    assert tables["ar"]["My reports"] == "بلاغاتي"
    for locale, table in tables.items():
        path = export_json.OUT / f"{locale}.json"
        assert json.loads(path.read_text(encoding="utf-8")) == table, (
            f"{path.name} is stale: run .venv/bin/python i18n/export_json.py"
        )
