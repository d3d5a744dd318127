"""Export the citizen app's strings from the Babel catalogues to JSON, one file per locale.

Run from the repository root after `i18n/build.py`: `.venv/bin/python i18n/export_json.py`.
The app's msgids are the literal `t("...")` calls that babel.cfg's `mobile/` sections
extract; each locale's JSON maps msgid -> translation, read from the same `.po` files the
console uses, so nothing is translated twice. `--check` only compares and exits 1 if a file
is stale or a translation is missing (CI).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = ROOT / "mobile" / "src" / "i18n" / "locales"
LOCALES = ("en", "de", "ar")


def app_msgids() -> list[str]:
    """Return the msgids of the app's `t("...")` calls, in source order, without repeats."""
    with (HERE / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    mobile = [(pattern, method) for pattern, method in method_map if pattern.startswith("mobile/")]
    if not mobile:
        raise SystemExit("i18n/babel.cfg has no mobile/ section: nothing to export")
    seen: dict[str, None] = {}
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), mobile, options_map, keywords={"t": None}, comment_tags=()
    ):
        if isinstance(message, str) and message:
            seen.setdefault(message, None)
    return list(seen)


def tables(msgids: list[str]) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Return {locale: {msgid: text}} and the problems found (missing translations)."""
    out: dict[str, dict[str, str]] = {}
    problems: list[str] = []
    for locale in LOCALES:
        po = HERE / locale / "LC_MESSAGES" / "messages.po"
        with po.open("rb") as f:
            catalog = read_po(f, locale=locale)
        table: dict[str, str] = {}
        for msgid in sorted(msgids):
            msg = catalog.get(msgid)
            text = msg.string if msg is not None and isinstance(msg.string, str) else ""
            if not text and locale != "en":
                problems.append(f"{locale}: no translation for {msgid!r} (run i18n/build.py?)")
            # English is the source language: an empty msgstr means "the msgid as written".
            table[msgid] = text or msgid
        out[locale] = table
    return out, problems


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, verify) mobile/src/i18n/locales/<locale>.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify only; exit 1 if stale")
    args = parser.parse_args(argv)
    msgids = app_msgids()
    data, problems = tables(msgids)
    for problem in problems:
        print(problem, file=sys.stderr)
    stale = []
    for locale, table in data.items():
        path = OUT / f"{locale}.json"
        text = json.dumps(table, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(path.name)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    verb = "stale" if args.check else "written"
    print(f"{len(msgids)} app messages; {verb}: {', '.join(stale) or 'none'}")
    return 1 if problems or (args.check and stale) else 0


if __name__ == "__main__":
    raise SystemExit(main())
