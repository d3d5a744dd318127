"""Locale selection: a cookie set by the language switcher, then Accept-Language."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import has_request_context, request
from flask_babel import get_locale
from flask_babel import gettext as _

# Catalogues live in the repository's i18n/ folder, shared with the citizen API.
TRANSLATIONS_DIR = Path(__file__).resolve().parents[1] / "i18n"
LOCALE_COOKIE = "console_lang"
# Endonyms: a language is offered in its own name so that anyone can find theirs.
LANGUAGES: dict[str, str] = {"en": "English", "de": "Deutsch", "ar": "العربية"}
RTL_LANGUAGES = frozenset({"ar", "he", "fa", "ur"})
DEFAULT_LOCALE = "en"


def select_locale() -> str:
    """Return the locale for this request (cookie first: Dash's XHRs carry no ?lang=)."""
    if not has_request_context():
        return DEFAULT_LOCALE
    chosen = request.cookies.get(LOCALE_COOKIE, "")
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(list(LANGUAGES)) or DEFAULT_LOCALE


def current_language() -> str:
    """Return the active language code (e.g. "ar")."""
    return str(get_locale() or DEFAULT_LOCALE).split("_")[0]


def text_direction() -> str:
    """Return "rtl" for right-to-left languages, else "ltr"."""
    return "rtl" if current_language() in RTL_LANGUAGES else "ltr"


def page_title(name: Callable[[], str]) -> Callable[..., str]:
    """Return a Dash page title function: "<page> · City control room" in the request's language.

    Dash calls it when it serves the page and on every in-app navigation (WCAG 2.4.2: the tab
    says where you are, in the page's own language). ``name`` returns the translated page name.
    """

    def title(**_path: Any) -> str:
        return _("%(page)s · City control room", page=name())

    return title
