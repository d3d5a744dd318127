"""Sensor health: stale and faulty sensors, last-seen times and dead letters per sensor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import dash
from dash import dcc, html
from flask_babel import gettext as _

from ops_console import queries
from ops_console.components.kpi import tile
from ops_console.components.labels import STATUS_ICON, status_label, type_label, when
from ops_console.i18n import page_title
from shared.db import session_scope

dash.register_page(__name__, path="/health", title=page_title(lambda: _("Sensor health")), order=2)

# Enough rows to see every problem; healthy sensors beyond this are summarised.
MAX_ROWS = 200


def layout(display: str | None = None, **_q: Any) -> html.Div:
    """Return the health table, worst sensors first, with dead-letter reasons."""
    now = datetime.now(UTC)
    with session_scope() as session:
        rows = queries.list_sensor_health(session=session, now=now)
        reasons = queries.count_dead_letters_by_reason(
            session=session, since=now - timedelta(hours=24)
        )
    counts = {s: sum(1 for r in rows if r.status == s) for s in queries.SENSOR_STATUSES}
    shown = rows if display != "wall" else [r for r in rows if r.status != "ok"][:20]
    return html.Div(
        className="page health",
        children=[
            html.H1(_("Sensor health"), className="page-title"),
            html.Div(
                [
                    tile(status_label(s), str(counts[s]), f"status-{s}", STATUS_ICON[s])
                    for s in queries.SENSOR_STATUSES
                ],
                className="tiles",
            ),
            html.H2(_("Refused readings in the last 24 h")),
            html.Ul(
                [html.Li(f"{reason}: {n}") for reason, n in reasons] or [html.Li(_("None"))],
                className="reasons",
            ),
            html.H2(_("Sensors, worst first")),
            html.Div(
                html.Table(
                    [
                        html.Caption(
                            _("Every sensor with its status, last reading and refused readings")
                        ),
                        html.Thead(
                            html.Tr(
                                [
                                    html.Th(_("Sensor"), scope="col"),
                                    html.Th(_("Type"), scope="col"),
                                    html.Th(_("District"), scope="col"),
                                    html.Th(_("Status"), scope="col"),
                                    html.Th(_("Last seen"), scope="col"),
                                    html.Th(_("Refused (24 h)"), scope="col"),
                                    html.Th(_("Refused (all)"), scope="col"),
                                ]
                            )
                        ),
                        html.Tbody(
                            [_row(r) for r in shown[:MAX_ROWS]]
                            or [html.Tr(html.Td(_("Every sensor reports normally."), colSpan=7))]
                        ),
                    ],
                    className="table",
                ),
                className="table-wrap",
                tabIndex="0",
                role="region",
                **{"aria-label": _("Sensors, worst first")},
            ),
        ],
    )


def _row(r: queries.SensorHealth) -> html.Tr:
    return html.Tr(
        [
            html.Th(dcc.Link(r.code, href=f"/sensor/{r.code}"), scope="row"),
            html.Td(type_label(r.sensor_type)),
            html.Td(r.district_code.upper()),
            html.Td(
                html.Span(
                    f"{STATUS_ICON[r.status]} {status_label(r.status)}",
                    className=f"badge status-{r.status}",
                )
            ),
            html.Td(when(r.last_seen)),
            html.Td(str(r.dead_letters_24h), className="num"),
            html.Td(str(r.dead_letters_total), className="num"),
        ]
    )
