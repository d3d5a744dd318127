"""The map popup of a sensor, rendered on the server as escaped HTML.

Built for 10,000 sensors per request: the translated words are looked up once per request
(`PopupText`), not once per sensor, and times are formatted with strftime, not Babel.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from flask_babel import gettext as _

from ops_console.components.labels import STATUS_ICON, metric_name, status_label, type_label
from ops_console.queries import SENSOR_STATUSES, SensorPoint
from shared.sensing.catalogue import METRICS_BY_TYPE
from shared.sensing.models import SensorType


@dataclass(frozen=True)
class PopupText:
    """The translated words a popup needs, looked up once per request."""

    no_data: str
    trend: str
    seen: str
    details: str
    statuses: dict[str, str]
    types: dict[str, str]

    @classmethod
    def current(cls) -> PopupText:
        """Return the words in the request's locale."""
        return cls(
            no_data=escape(_("No data yet")),
            trend=escape(_("Trend of the last 24 hours")),
            seen=escape(_("Last seen")),
            details=escape(_("Open sensor details")),
            statuses={s: escape(status_label(s)) for s in SENSOR_STATUSES},
            types={t: escape(type_label(t)) for t in
                   ("traffic", "air_quality", "noise", "weather", "energy", "infrastructure")},
        )  # fmt: skip


def sensor_popup(p: SensorPoint, words: PopupText) -> str:
    """Return the popup HTML: code, type, status, latest values and a detail link."""
    order = METRICS_BY_TYPE.get(SensorType(p.sensor_type), ())
    latest = sorted(p.latest, key=lambda x: order.index(x[0]) if x[0] in order else len(order))
    rows = "".join(
        f"<tr><th scope='row'>{escape(metric_name(m))}</th><td>{v:.4g} {escape(unit)}</td></tr>"
        for m, v, unit in latest
    )
    values = f"<table class='popup-values'>{rows}</table>" if rows else f"<p>{words.no_data}</p>"
    seen = p.last_seen.strftime("%Y-%m-%d %H:%M:%S UTC") if p.last_seen else "—"
    code = escape(p.code)
    return (
        f"<div class='popup' dir='auto'><strong>{code}</strong> "
        f"<span class='badge status-{p.status}'>{STATUS_ICON[p.status]} "
        f"{words.statuses[p.status]}</span>"
        f"<p>{words.types.get(p.sensor_type, escape(p.sensor_type))} · "
        f"{escape(p.district_code.upper())}</p>{values}"
        # Loaded only when the popup opens (Leaflet builds popup DOM on open).
        f"<img class='popup-spark' src='/api/map/sparkline/{code}.svg' width='160' height='40' "
        f"alt='{words.trend}'>"
        f"<p class='popup-seen'>{words.seen}: <bdi>{seen}</bdi></p>"
        f"<a href='/sensor/{code}'>{words.details}</a></div>"
    )
