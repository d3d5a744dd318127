"""Sensor detail: raw and hourly time series with the alert rule's bands, and its alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import dash
from dash import Input, Output, State, callback, dcc, html
from flask_babel import gettext as _

from ops_console import queries
from ops_console.components.alert_feed import alert_card
from ops_console.components.charts import time_series
from ops_console.components.labels import metric_name, type_label
from ops_console.i18n import page_title, text_direction
from shared.db import session_scope
from shared.sensing.catalogue import METRICS_BY_TYPE
from shared.sensing.models import SensorType

dash.register_page(
    __name__, path_template="/sensor/<code>", title=page_title(lambda: _("Sensor")), order=3
)

RAW_WINDOW = timedelta(hours=24)
HOURLY_WINDOW = timedelta(days=7)


def layout(code: str | None = None, display: str | None = None, **_q: Any) -> html.Div:
    """Return the page for one sensor (or a not-found message)."""
    with session_scope() as session:
        sensor = queries.get_sensor_detail(session=session, code=code or "")
        alerts = queries.list_sensor_alerts(session=session, thing_id=sensor.id) if sensor else []
        events = queries.list_alert_events(session=session, alert_ids=[a.id for a in alerts])
    if sensor is None:
        return html.Div(
            [html.H1(_("Sensor not found")), dcc.Link(_("Back to the map"), href="/")],
            className="page",
        )
    by_alert: dict[int, list[queries.AuditEvent]] = {}
    for e in events:
        by_alert.setdefault(e.alert_id, []).append(e)
    # The catalogue's order puts each type's headline metric first (PM2.5, speed, LAeq...).
    order = METRICS_BY_TYPE.get(SensorType(sensor.sensor_type), ())
    metrics = sorted(
        (m for _id, m, _u in sensor.datastreams),
        key=lambda m: order.index(m) if m in order else len(order),
    )
    wall = display == "wall"
    return html.Div(
        className="page sensor",
        children=[
            html.H1(f"{sensor.code} · {sensor.name}", className="page-title"),
            html.P(
                f"{type_label(sensor.sensor_type)} · {sensor.district_code.upper()} · "
                f"{sensor.lat:.5f}, {sensor.lon:.5f}",
                className="page-lead",
            ),
            dcc.Store(id="sensor-code", data=sensor.code),
            dcc.Store(id="sensor-wall", data=wall),
            html.Div(
                [
                    html.Label(_("Metric"), htmlFor="sensor-metric"),
                    dcc.Dropdown(
                        id="sensor-metric",
                        options=[{"label": metric_name(m), "value": m} for m in metrics],
                        value=metrics[0] if metrics else None,
                        clearable=False,
                        searchable=False,
                        className="sensor-metric",
                    ),
                ],
                className="sensor-controls",
            ),
            dcc.Graph(
                id="sensor-chart",
                config={"displayModeBar": False, "responsive": True},
                className="chart",
            ),
            html.H2(_("Alert history")),
            html.Div(
                [
                    alert_card(a.model_dump(mode="json"), by_alert.get(a.id, []), can_act=False)
                    for a in alerts
                ]
                or [html.P(_("No alerts for this sensor."))],
                className="feed",
            ),
        ],
    )


@callback(
    Output("sensor-chart", "figure"),
    Input("sensor-metric", "value"),
    State("sensor-code", "data"),
    State("sensor-wall", "data"),
)
def chart(metric: str | None, code: str, wall: bool | None) -> Any:
    """Draw the chosen metric: last 24 h raw, last 7 days hourly, with warning/critical bands."""
    now = datetime.now(UTC)
    with session_scope() as session:
        sensor = queries.get_sensor_detail(session=session, code=code)
        stream = next((s for s in (sensor.datastreams if sensor else []) if s[1] == metric), None)
        if sensor is None or stream is None:
            return dash.no_update
        raw = queries.list_observations(
            session=session, datastream_id=stream[0], since=now - RAW_WINDOW
        )
        hourly = queries.list_hourly(
            session=session, datastream_id=stream[0], since=now - HOURLY_WINDOW
        )
        rule = queries.find_threshold_rule(
            session=session, sensor_type=sensor.sensor_type, metric=stream[1]
        )
        levels = (
            (rule.warning, rule.critical, rule.direction.value == "below")
            if rule
            else (None, None, False)
        )
    labels = {
        "raw": _("Raw readings (24 h)"),
        "hourly": _("Hourly mean (7 days)"),
        "range": _("Hourly min–max"),
        "warning": _("Warning"),
        "critical": _("Critical"),
    }
    return time_series(
        title=f"{metric_name(stream[1])} ({stream[2]})",
        unit=stream[2],
        raw=raw,
        hourly=hourly,
        warning=levels[0],
        critical=levels[1],
        below=levels[2],
        labels=labels,
        rtl=text_direction() == "rtl",
        wall=bool(wall),
    )
