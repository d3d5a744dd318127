"""District overview: AQI now and over 24 h, congestion, open alerts and requests per district."""

from __future__ import annotations

from typing import Any

import dash
from dash import dcc, html
from flask_babel import gettext as _

from ops_console import queries
from ops_console.components.charts import bars
from ops_console.components.kpi import tile
from ops_console.components.labels import congestion_label
from ops_console.i18n import page_title, text_direction
from shared.db import session_scope

dash.register_page(__name__, path="/districts", title=page_title(lambda: _("Districts")), order=1)

AQI_COLOURS = [
    (50, "#00a650"),
    (100, "#c9a800"),
    (150, "#ff9933"),
    (200, "#cc0033"),
    (300, "#660099"),
]


def _aqi_colour(v: int | None) -> str:
    if v is None:
        return "#c9ced3"
    return next((c for upper, c in AQI_COLOURS if v <= upper), "#7e0023")


def _fmt(v: int | float | None) -> str:
    return "—" if v is None else f"{v:.0f}"


def layout(display: str | None = None, **_q: Any) -> html.Div:
    """Return one tile group per district and two comparison charts."""
    with session_scope() as session:
        kpis = queries.list_district_kpis(session=session)
    rtl = text_direction() == "rtl"
    wall = display == "wall"
    cards = [
        html.Section(
            [
                html.H2(f"{k.code.upper()} · {k.name}"),
                html.Div(
                    [
                        tile(_("AQI now"), _fmt(k.aqi_now), "aqi"),
                        tile(_("AQI 24 h"), _fmt(k.aqi_24h), "aqi"),
                        tile(
                            _("Congestion"),
                            congestion_label(k.congestion),
                            note=_("mean %(v)s km/h", v=_fmt(k.mean_speed_kmh))
                            if k.mean_speed_kmh is not None
                            else "",
                            text=True,
                        ),
                        tile(
                            _("Open alerts"),
                            str(k.open_alerts),
                            "status-critical" if k.open_critical else "",
                            note=_("%(n)d critical", n=k.open_critical),
                        ),
                        tile(
                            _("Citizen requests"),
                            "—" if k.open_requests is None else str(k.open_requests),
                            "tile-unavailable" if k.open_requests is None else "",
                            note=_("not connected yet")
                            if k.open_requests is None
                            else _("not yet closed"),
                        ),
                    ],
                    className="tiles",
                ),
            ],
            className="district-card",
            **{"aria-label": k.name},
        )
        for k in kpis
    ]
    names = [k.code.upper() for k in kpis]
    cfg = {"displayModeBar": False, "responsive": True}
    aqi_fig = bars(
        title=_("AQI now by district"),
        x=names,
        y=[k.aqi_now if k.aqi_now is not None else 0 for k in kpis],
        colours=[_aqi_colour(k.aqi_now) for k in kpis],
        rtl=rtl,
        y_title=_("AQI"),
        wall=wall,
    )
    alert_fig = bars(
        title=_("Open alerts by district"),
        x=names,
        y=[k.open_alerts for k in kpis],
        colours=["#c21f1f" if k.open_critical else "#b35900" for k in kpis],
        rtl=rtl,
        y_title=_("Alerts"),
        wall=wall,
    )
    request_fig = bars(
        title=_("Open citizen requests by district"),
        x=names,
        y=[k.open_requests or 0 for k in kpis],
        colours=["#1f6feb" for _k in kpis],
        rtl=rtl,
        y_title=_("Requests"),
        wall=wall,
    )
    return html.Div(
        className="page districts",
        children=[
            html.H1(_("Districts"), className="page-title"),
            html.Div(cards, className="district-grid"),
            html.Div(
                [
                    dcc.Graph(figure=aqi_fig, config=cfg, className="chart", id="districts-aqi"),
                    dcc.Graph(
                        figure=alert_fig, config=cfg, className="chart", id="districts-alerts"
                    ),
                    dcc.Graph(
                        figure=request_fig, config=cfg, className="chart", id="districts-requests"
                    ),
                ],
                className="chart-grid",
            ),
        ],
    )
