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
    a: dict[str, Any],
    events: list[AuditEvent],
    *,
    can_act: bool,
    compact: bool = False,
    staff: list[tuple[str, str]] | None = None,
    assigned_to: str | None = None,
) -> html.Article:
    """Return one alert card; `can_act` adds assign/acknowledge/resolve controls.

    `staff` is (username, display name) of the active staff offered in "Assign to";
    `assigned_to` overrides the alert's own field (the feed reads it from the database).
    """
    aid = a["id"]
    assigned_to = assigned_to or a.get("assigned_to")
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
    if assigned_to:
        children.append(
            html.P(_("Assigned to %(name)s", name=assigned_to), className="alert-assignee")
        )
    if events and not compact:
        children.append(
            html.Ol(
                [
                    html.Li(
                        [
                            html.Time(when(e.at), dateTime=e.at.isoformat()),
                            f" · {e.actor} · {_event_text(e)}",
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
        children.append(_actions(aid, a["thing_code"], status, staff or [], assigned_to))
    return html.Article(
        children, className=f"alert-card sev-{sev} st-{status}", id=f"home-alert-{aid}"
    )


def _event_text(e: AuditEvent) -> str:
    """One audit line's action and note; an assignment's stored note ("to x") is translated."""
    if e.action == "assigned" and e.note.startswith("to "):
        return _("assigned to %(name)s", name=e.note[3:])
    return action_label(e.action) + (f" · {e.note}" if e.note else "")


def _assign(aid: int, code: str, staff: list[tuple[str, str]], assigned_to: str | None) -> Any:
    """A labelled "Assign to" group: a staff dropdown and its button (keyboard: Tab, arrows,
    Enter, Tab, Enter). The dropdown names itself by its value, so the group carries the label."""
    label_id = f"home-assign-label-{aid}"
    return html.Div(
        [
            html.Span(_("Assign to"), id=label_id, className="assign-label"),
            dcc.Dropdown(
                id={"type": "home-assignee", "alert": aid},
                options=[
                    {"label": f"{name} ({user})", "value": user}
                    for user, name in staff
                    if user != assigned_to
                ],
                placeholder=_("Choose a person"),
                clearable=False,
                searchable=False,
                className="assign-select",
            ),
            html.Button(
                _("Assign"),
                id={"type": "home-assign", "alert": aid},
                className="btn btn-assign",
                n_clicks=0,
                **{"aria-label": _("Assign %(code)s to the chosen person", code=code)},
            ),
        ],
        className="assign",
        role="group",
        **{"aria-labelledby": label_id},
    )


def _actions(
    aid: int, code: str, status: str, staff: list[tuple[str, str]], assigned_to: str | None
) -> html.Div:
    buttons: list[Any] = []
    if staff:
        buttons.append(_assign(aid, code, staff, assigned_to))
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
