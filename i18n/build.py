"""Rebuild the console catalogues: extract messages.pot, refresh en/de/ar .po, compile .mo.

Run from the repository root: `.venv/bin/python i18n/build.py`. The compiled .mo files are
committed, so the app needs no build step; CI can run this and fail on a diff.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from translations import AR, DE  # noqa: E402

LOCALES = {"en": {}, "de": DE, "ar": AR}


def main() -> int:
    """Extract, merge and compile; report msgids that lack a translation."""
    pybabel = Path(sys.executable).with_name("pybabel")
    subprocess.run(
        # `t` is the citizen app's marker (mobile/, see babel.cfg).
        [str(pybabel), "extract", "-F", str(HERE / "babel.cfg"), "-k", "_", "-k", "t",
         "--no-location",
         "--project", "smartcity", "--copyright-holder", "smartcity contributors",
         "-o", str(HERE / "messages.pot"), "."],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    with (HERE / "messages.pot").open("rb") as f:
        template = read_po(f)
    missing = 0
    for locale, table in LOCALES.items():
        catalog = Catalog(locale=locale, project="smartcity", fuzzy=False)
        for msg in template:
            if not msg.id:
                continue
            # English is the source language: an empty msgstr falls back to the msgid.
            catalog.add(msg.id, table.get(msg.id, ""), flags=msg.flags)
            if locale != "en" and msg.id not in table:
                missing += 1
                print(f"{locale}: untranslated {msg.id!r}")
        out = HERE / locale / "LC_MESSAGES"
        out.mkdir(parents=True, exist_ok=True)
        with (out / "messages.po").open("wb") as f:
            write_po(f, catalog, width=100)
        with (out / "messages.mo").open("wb") as f:
            write_mo(f, catalog)
    print(f"{len(template) - 1} messages, {missing} untranslated")
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
