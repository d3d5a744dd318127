"""App-level live wiring: socket events -> the alert store -> the wall-mode takeover."""

from __future__ import annotations

from typing import Any

import dash
from dash import ClientsideFunction, Input, Output, State, html
from flask_babel import gettext as _

from ops_console import queries
from ops_console.components.labels import SEVERITY_ICON, severity_label, when
from shared.db import session_scope


def register(app: dash.Dash) -> None:
    """Register the callbacks that every page shares."""
    # A socket event is a trigger, the database is the truth: Dash coalesces prop changes that
    # arrive in the same tick (two alerts from one batch), so merging payloads alone could drop
    # one. Reading the feed back costs one small query and loses nothing.
    app.callback(
        Output("app-alerts", "data"),
        Input("app-socket", "data-alert.raised"),
        Input("app-socket", "data-alert.updated"),
        prevent_initial_call=True,
    )(sync_alerts)
    app.clientside_callback(
        ClientsideFunction(namespace="opsConsole", function_name="stampEvent"),
        Output("app-event-at", "data"),
        Input("app-socket", "data-alert.raised"),
        Input("app-socket", "data-alert.updated"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction(namespace="opsConsole", function_name="liveStatus"),
        Output("app-live", "children"),
        Output("app-live", "data-connected"),
        Input("app-socket", "connected"),
        State("app-live", "data-labels"),
    )
    app.callback(
        Output("app-takeover", "children"),
        Output("app-takeover", "hidden"),
        Input("app-alerts", "data"),
    )(takeover)


def sync_alerts(raised: dict[str, Any] | None, updated: dict[str, Any] | None) -> dict[str, Any]:
    """Return the feed's alerts from the database, plus the event's own alert if newer."""
    with session_scope() as session:
        alerts = {str(a.id): a.model_dump(mode="json")
                  for a in queries.list_feed_alerts(session=session)}  # fmt: skip
    for change in (raised, updated):
        a = (change or {}).get("alert")
        if a and a["updated_at"] > alerts.get(str(a["id"]), {}).get("updated_at", ""):
            alerts[str(a["id"])] = a
    return alerts


def takeover(alerts: dict[str, Any] | None) -> tuple[Any, bool]:
    """Return the takeover banner for the newest open critical alert (shown in wall mode)."""
    open_critical = [
        a for a in (alerts or {}).values() if a["severity"] == "critical" and a["status"] == "open"
    ]
    if not open_critical:
        return [], True
    a = max(open_critical, key=lambda x: (x["opened_at"], x["id"]))
    more = len(open_critical) - 1
    return [
        html.P(
            f"{SEVERITY_ICON['critical']} {severity_label('critical')}",
            className="takeover-severity",
        ),
        html.P(f"{a['thing_code']} · {a['district_code'].upper()}", className="takeover-where"),
        html.P(a["message"], className="takeover-message"),
        html.P(when(a["opened_at"]), className="takeover-time"),
        html.P(_("%(n)d more critical alerts open", n=more), className="takeover-more")
        if more > 0
        else None,
    ], False
