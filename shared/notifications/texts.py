"""Push texts per locale: a small catalogue, negotiated with Babel (falls back to English)."""

from __future__ import annotations

from babel import Locale, UnknownLocaleError

CATALOGUE: dict[str, dict[str, str]] = {
    "en": {
        "status.title": "Your report: {service}",
        "status.acknowledged": "We have seen your report and will look into it.",
        "status.in_progress": "Work on your report has started.",
        "status.closed": "Your report has been closed.",
        "status.open": "Your report is open again.",
        "alert.title.warning": "Warning: {metric} in {district}",
        "alert.title.critical": "Critical: {metric} in {district}",
        "alert.resolved": "Resolved: {metric} in {district} is back to normal",
        "alert.body": "{metric} is {value} near {place}.",
    },
    "de": {
        "status.title": "Ihre Meldung: {service}",
        "status.acknowledged": "Wir haben Ihre Meldung gesehen und kümmern uns darum.",
        "status.in_progress": "Die Arbeiten zu Ihrer Meldung haben begonnen.",
        "status.closed": "Ihre Meldung wurde abgeschlossen.",
        "status.open": "Ihre Meldung ist wieder offen.",
        "alert.title.warning": "Warnung: {metric} in {district}",
        "alert.title.critical": "Kritisch: {metric} in {district}",
        "alert.resolved": "Entwarnung: {metric} in {district} ist wieder normal",
        "alert.body": "{metric} beträgt {value} in der Nähe von {place}.",
    },
}


def language_for(tag: str) -> str:
    """Return the catalogue language for a BCP 47 tag (de-AT -> de; unknown -> en)."""
    try:
        lang = Locale.parse(tag.replace("-", "_")).language
    except (ValueError, UnknownLocaleError):
        return "en"
    return lang if lang in CATALOGUE else "en"


def text(tag: str, key: str, **values: object) -> str:
    """Return the text for `key` in the device's locale, formatted."""
    return CATALOGUE[language_for(tag)][key].format(**values)
