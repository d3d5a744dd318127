"""Alert cards for the live feed: severity by colour, icon and text; keyboard-operable actions."""

from __future__ import annotations

from typing import Any

from dash import dcc, html
from flask_babel import gettext as _

from ops_console.components.labels import (
    SEVERITY_ICON,
    action_label,
    alert_status_label,
    severity_label,
    type_label,
    when,
)
from ops_console.queries import AuditEvent


def alert_card(
    a: dict[str, Any], events: list[AuditEvent], *, can_act: bool, compact: bool = False
) -> html.Article:
    """Return one alert card; `can_act` adds acknowledge/resolve controls."""
    aid = a["id"]
    sev, status = a["severity"], a["status"]
    head = html.Div(
        [
            html.Span(
                f"{SEVERITY_ICON.get(sev, '')} {severity_label(sev)}", className=f"badge sev-{sev}"
            ),
            html.Span(alert_status_label(status), className=f"badge st-{status}"),
            html.Time(when(a["opened_at"]), dateTime=a["opened_at"], className="alert-time"),
        ],
        className="alert-head",
    )
    title = html.H3(
        [
            dcc.Link(a["thing_code"], href=f"/sensor/{a['thing_code']}"),
            f" · {a['district_code'].upper() or '—'} · {type_label(a['sensor_type'])}",
        ],
        className="alert-title",
    )
    children: list[Any] = [head, title, html.P(a["message"], className="alert-message")]
    if events and not compact:
        children.append(
            html.Ol(
                [
                    html.Li(
                        [
                            html.Time(when(e.at), dateTime=e.at.isoformat()),
                            f" · {e.actor} · {action_label(e.action)}",
                            f" · {e.note}" if e.note else "",
                        ],
                        className=f"audit-{e.action}",
                    )
                    for e in events
                ],
                className="alert-audit",
                **{"aria-label": _("Audit trail")},
            )
        )
    if can_act and status != "resolved":
        children.append(_actions(aid, a["thing_code"], status))
    return html.Article(
        children, className=f"alert-card sev-{sev} st-{status}", id=f"home-alert-{aid}"
    )


def _actions(aid: int, code: str, status: str) -> html.Div:
    buttons: list[Any] = []
    if status == "open":
        buttons.append(
            html.Button(
                _("Acknowledge"),
                id={"type": "home-ack", "alert": aid},
                className="btn btn-ack",
                n_clicks=0,
            )
        )
    buttons.append(
        html.Label(
            [
                html.Span(_("Reason"), className="reason-label"),
                dcc.Input(
                    id={"type": "home-reason", "alert": aid},
                    type="text",
                    value="",
                    className="reason-input",
                    debounce=False,
                ),
            ],
            className="reason",
        )
    )
    buttons.append(
        html.Button(
            _("Resolve"),
            id={"type": "home-resolve", "alert": aid},
            className="btn btn-resolve",
            n_clicks=0,
            **{"aria-label": _("Resolve %(code)s with the reason given", code=code)},
        )
    )
    return html.Div(buttons, className="alert-actions")
