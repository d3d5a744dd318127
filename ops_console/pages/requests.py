"""Citizen requests: the queue of open Open311/app reports, live, with staff status changes."""

from __future__ import annotations

from typing import Any

import dash
from dash import ALL, Input, Output, State, callback, ctx, dcc, html
from flask_babel import gettext as _

from ops_console.actions import REQUIRED_ROLE, ActionRefused, act_on_request
from ops_console.auth import current_username, may_act
from ops_console.components.labels import request_status_label, when
from shared.db import session_scope
from shared.service_requests.flows import NEXT_STATUSES
from shared.service_requests.models import RequestStatus
from shared.service_requests.schemas import RequestQueueItem
from shared.service_requests.service import list_request_queue

dash.register_page(
    __name__, path="/requests", title="Citizen requests · City control room", order=3
)

QUEUE_LIMIT = 100


def can_act() -> bool:
    """Return True if the logged-in user may change requests (the server re-checks anyway)."""
    return may_act(REQUIRED_ROLE)


def layout(**_query: Any) -> html.Div:
    """Return the page: the queue of requests not yet closed, newest first."""
    return html.Div(
        className="page requests",
        children=[
            html.H1(_("Citizen requests"), className="page-title"),
            html.P(
                _(
                    "Reports from the citizen app and Open311 clients that are not closed yet, "
                    "newest first. New reports appear here as they arrive."
                ),
                className="page-intro",
            ),
            # Announces what a status change did (or why the server refused it).
            html.P(id="requests-action-status", className="action-status", role="status"),
            dcc.Store(id="requests-version", data=0),
            html.Div(
                render_queue(),
                id="requests-queue",
                className="feed requests-queue",
                **{"aria-live": "polite", "aria-relevant": "additions text"},
            ),
        ],
    )


def render_queue() -> list[Any]:
    """Read the queue from the database and render one card per request."""
    with session_scope() as session:
        items = list_request_queue(session=session, limit=QUEUE_LIMIT)
    if not items:
        return [html.P(_("No open requests."), className="feed-empty")]
    act = can_act()
    return [request_card(item, can_act=act) for item in items]


def request_card(item: RequestQueueItem, *, can_act: bool) -> html.Article:
    """Return one request: what, where, when, its audited history and the status controls."""
    rid, status = item.id, item.status.value
    where = item.address or "—"
    if item.lat is not None and item.long is not None:
        where = f"{item.lat:.5f}, {item.long:.5f}"
    children: list[Any] = [
        html.Div(
            [
                html.Span(request_status_label(status), className=f"badge st-{status}"),
                html.Time(
                    when(item.requested_at),
                    dateTime=item.requested_at.isoformat(),
                    className="alert-time",
                ),
            ],
            className="alert-head",
        ),
        html.H2(
            f"#{rid} · {item.service_name} · {(item.district_code or '—').upper()}",
            className="alert-title",
            id=f"requests-title-{rid}",
        ),
        html.P(item.description or _("(no description)"), className="alert-message"),
        html.P(
            [_("Where: %(place)s", place=where)]
            + ([" · ", _("Photos: %(n)d", n=item.photos)] if item.photos else []),
            className="request-where",
        ),
        html.Ol(
            [
                html.Li(
                    [
                        html.Time(when(h.changed_at), dateTime=h.changed_at.isoformat()),
                        f" · {h.actor} · {request_status_label(h.status.value)}"
                        + (f" · {h.note}" if h.note else ""),
                    ],
                    className=f"audit-{h.status.value}",
                )
                for h in item.history
            ],
            className="alert-audit",
            **{"aria-label": _("History")},
        ),
    ]
    if can_act and NEXT_STATUSES[item.status]:
        children.append(_controls(item))
    return html.Article(
        children,
        className=f"alert-card request-card st-{status}",
        id=f"requests-item-{rid}",
        **{"aria-labelledby": f"requests-title-{rid}"},
    )


def _controls(item: RequestQueueItem) -> html.Div:
    """A public note and one button per allowed next status (keyboard: Tab to the note, type,
    Tab to the status, Enter)."""
    rid = item.id
    label_id = f"requests-next-label-{rid}"
    buttons = [
        html.Button(
            request_status_label(s.value),
            id={"type": "requests-to", "request": rid, "status": s.value},
            className=f"btn btn-status btn-to-{s.value}",
            n_clicks=0,
            **{
                "aria-label": _(
                    "Set request %(id)s to %(status)s", id=rid, status=request_status_label(s.value)
                )
            },
        )
        for s in NEXT_STATUSES[item.status]
    ]
    return html.Div(
        [
            html.Label(
                [
                    html.Span(_("Public note"), className="reason-label"),
                    dcc.Input(
                        id={"type": "requests-note", "request": rid},
                        type="text",
                        value="",
                        className="reason-input",
                        debounce=False,
                    ),
                ],
                className="reason",
            ),
            html.Div(
                [html.Span(_("New status"), id=label_id, className="assign-label"), *buttons],
                role="group",
                className="request-next",
                **{"aria-labelledby": label_id},
            ),
        ],
        className="alert-actions",
    )


@callback(
    Output("requests-queue", "children"),
    Input("app-socket", "data-service_request.created"),
    Input("app-socket", "data-service_request.updated"),
    Input("requests-version", "data"),
    prevent_initial_call=True,
)
def refresh_queue(_created: Any, _updated: Any, _version: Any) -> list[Any]:
    """Re-read the queue when a request arrives or changes (the event is a trigger, the
    database the truth: two events in one tick would otherwise lose one)."""
    return render_queue()


@callback(
    Output("requests-version", "data"),
    Output("requests-action-status", "children"),
    Input({"type": "requests-to", "request": ALL, "status": ALL}, "n_clicks"),
    State({"type": "requests-note", "request": ALL}, "value"),
    State({"type": "requests-note", "request": ALL}, "id"),
    State("requests-version", "data"),
    prevent_initial_call=True,
)
def change_status(
    _clicks: list[int | None],
    notes: list[str | None],
    note_ids: list[dict[str, Any]],
    version: int | None,
) -> tuple[Any, str]:
    """Apply the status of the button pressed, with its request's note (the server checks)."""
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not ctx.triggered or not ctx.triggered[0]["value"]:
        return dash.no_update, dash.no_update  # the queue was re-rendered, nobody clicked
    rid = int(trigger["request"])
    note = next((n or "" for n, i in zip(notes, note_ids, strict=False) if i["request"] == rid), "")
    try:
        item = act_on_request(
            username=current_username(), request_id=rid, status=str(trigger["status"]), note=note
        )
    except ActionRefused as exc:
        return dash.no_update, exc.message
    if item.status is RequestStatus.closed:
        return (version or 0) + 1, _("Request %(id)s closed; the reporter is notified.", id=rid)
    label = request_status_label(item.status.value)
    return (version or 0) + 1, _("Request %(id)s is now %(status)s.", id=rid, status=label)
