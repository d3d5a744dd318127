"""Translated names for codes (statuses, types, severities): one place, literal msgids."""

from __future__ import annotations

from datetime import datetime

from flask_babel import format_datetime
from flask_babel import gettext as _

# Icons carry severity/status alongside colour and text (WCAG 1.4.1: not colour alone).
STATUS_ICON = {"ok": "✓", "warning": "▲", "critical": "⬣", "stale": "◌"}
SEVERITY_ICON = {"warning": "▲", "critical": "⬣"}
TYPE_LETTER = {
    "traffic": "T",
    "air_quality": "A",
    "noise": "N",
    "weather": "W",
    "energy": "E",
    "infrastructure": "I",
}
METRIC_NAMES = {
    "pm25": "PM2.5",
    "pm10": "PM10",
    "no2": "NO₂",
    "o3": "O₃",
    "co": "CO",
    "laeq": "LAeq",
    "vehicle_count": "veh",
    "speed": "v",
    "occupancy": "occ",
    "temperature": "T",
    "humidity": "RH",
    "wind_speed": "wind",
    "precipitation": "rain",
}


def status_label(status: str) -> str:
    """Return the translated name of a sensor status."""
    return {
        "ok": _("OK"),
        "warning": _("Warning"),
        "critical": _("Critical"),
        "stale": _("Stale"),
    }.get(status, status)


def severity_label(severity: str) -> str:
    """Return the translated name of an alert severity."""
    return {"warning": _("Warning"), "critical": _("Critical")}.get(severity, severity)


def alert_status_label(status: str) -> str:
    """Return the translated name of an alert status."""
    return {
        "open": _("Open"),
        "acknowledged": _("Acknowledged"),
        "resolved": _("Resolved"),
    }.get(status, status)


def request_status_label(status: str) -> str:
    """Return the translated name of a citizen request's status."""
    return {
        "open": _("Open"),
        "acknowledged": _("Acknowledged"),
        "in_progress": _("In progress"),
        "closed": _("Closed"),
    }.get(status, status)


def action_label(action: str) -> str:
    """Return the translated name of an audit action."""
    return {
        "opened": _("opened"),
        "escalated": _("escalated"),
        "acknowledged": _("acknowledged"),
        "assigned": _("assigned"),
        "resolved": _("resolved"),
    }.get(action, action)


def type_label(sensor_type: str) -> str:
    """Return the translated name of a sensor type."""
    return {
        "traffic": _("Traffic"),
        "air_quality": _("Air quality"),
        "noise": _("Noise"),
        "weather": _("Weather"),
        "energy": _("Energy"),
        "infrastructure": _("Infrastructure"),
    }.get(sensor_type, sensor_type)


def congestion_label(level: str | None) -> str:
    """Return the translated name of a congestion level."""
    return {
        "FREE_FLOW": _("Free flow"),
        "LIGHT": _("Light"),
        "MODERATE": _("Moderate"),
        "HEAVY": _("Heavy"),
        "SEVERE": _("Severe"),
    }.get(level or "", _("No data"))


def metric_name(metric: str) -> str:
    """Return a short display name of a metric code."""
    return METRIC_NAMES.get(metric, metric)


def when(ts: datetime | str | None) -> str:
    """Return a localised medium date-time, or a dash when there is none."""
    if ts is None:
        return "—"
    if isinstance(ts, str):
        ts = datetime.fromisoformat(ts)
    # Isolated left-to-right (U+2066 ... U+2069): inside Arabic text the bidi algorithm would
    # otherwise swap the date and the time.
    return "\u2066" + format_datetime(ts, "yyyy-MM-dd HH:mm:ss") + "\u2069"
