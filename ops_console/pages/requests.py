"""Citizen requests: the queue of open Open311/app reports, live, with staff status changes."""

from __future__ import annotations

import hashlib
from typing import Any

import dash
from dash import ALL, Input, Output, Patch, State, callback, ctx, dcc, html
from flask_babel import gettext as _

from ops_console.actions import REQUIRED_ROLE, ActionRefused, act_on_request
from ops_console.auth import current_username, may_act
from ops_console.components.labels import request_status_label, when
from ops_console.i18n import page_title
from shared.db import session_scope
from shared.service_requests.flows import NEXT_STATUSES
from shared.service_requests.models import RequestStatus
from shared.service_requests.schemas import RequestQueueItem
from shared.service_requests.service import list_request_queue

dash.register_page(
    __name__, path="/requests", title=page_title(lambda: _("Citizen requests")), order=3
)

QUEUE_LIMIT = 100


def can_act() -> bool:
    """Return True if the logged-in user may change requests (the server re-checks anyway)."""
    return may_act(REQUIRED_ROLE)


def layout(**_query: Any) -> html.Div:
    """Return the page: the queue of requests not yet closed, newest first."""
    items = read_queue()
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
            # What the queue shows: [[id, stamp], ...] in order, so that a change patches only
            # the cards that changed.
            dcc.Store(id="requests-shown", data=shown_state(items)),
            html.Div(
                render_queue(items, can_act=can_act()),
                id="requests-queue",
                # keep-focus (assets/keep_focus.js): a card inserted above remounts the others.
                className="feed requests-queue keep-focus",
                **{"aria-live": "polite", "aria-relevant": "additions text"},
            ),
        ],
    )


def read_queue() -> list[RequestQueueItem]:
    """Return the queue from the database: requests not yet closed, newest first."""
    with session_scope() as session:
        return list_request_queue(session=session, limit=QUEUE_LIMIT)


def render_queue(items: list[RequestQueueItem], *, can_act: bool) -> list[Any]:
    """Render one card per request (or the empty-queue line)."""
    if not items:
        return [html.P(_("No open requests."), className="feed-empty")]
    return [request_card(item, can_act=can_act) for item in items]


def _stamp(item: RequestQueueItem) -> str:
    # Everything a card shows comes from the item, so equal stamps mean equal cards.
    return hashlib.blake2b(item.model_dump_json().encode(), digest_size=8).hexdigest()


def shown_state(items: list[RequestQueueItem]) -> list[list[Any]]:
    """Return what `requests-shown` holds for these items: [[id, stamp], ...] in order."""
    return [[item.id, _stamp(item)] for item in items]


def patch_queue(
    shown: list[list[Any]], items: list[RequestQueueItem], *, can_act: bool
) -> tuple[Any, list[list[Any]]]:
    """Return what turns the cards `shown` into `items`, and the new `requests-shown`.

    A Patch that deletes, inserts and replaces only the cards that changed: the others keep
    their state in the browser (a note an operator is typing). The whole list only where
    there are no cards to keep (an empty queue on either side) or the order changed.
    """
    state = shown_state(items)
    old_ids = [int(rid) for rid, _stamp in shown]
    new_pos = {item.id: k for k, item in enumerate(items)}
    kept = [rid for rid in old_ids if rid in new_pos]
    if not old_ids or not items or [new_pos[r] for r in kept] != sorted(new_pos[r] for r in kept):
        return render_queue(items, can_act=can_act), state
    if state == shown:
        return dash.no_update, dash.no_update
    patch = Patch()
    # Deletions from the end, so that earlier indexes stay valid; then the kept cards are in
    # the new order and inserting or replacing at ascending new indexes yields the new list.
    for idx in range(len(old_ids) - 1, -1, -1):
        if old_ids[idx] not in new_pos:
            del patch[idx]
    old_stamp = {int(rid): stamp for rid, stamp in shown}
    for k, (item, (_rid, stamp)) in enumerate(zip(items, state, strict=True)):
        if item.id not in old_stamp:
            patch.insert(k, request_card(item, can_act=can_act))
        elif old_stamp[item.id] != stamp:
            patch[k] = request_card(item, can_act=can_act)
    return patch, state


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
    Output("requests-shown", "data"),
    Input("app-socket", "data-service_request.created"),
    Input("app-socket", "data-service_request.updated"),
    Input("requests-version", "data"),
    State("requests-shown", "data"),
    prevent_initial_call=True,
)
def refresh_queue(
    _created: Any, _updated: Any, _version: Any, shown: list[list[Any]] | None
) -> tuple[Any, Any]:
    """Re-read the queue when a request arrives or changes (the event is a trigger, the
    database the truth: two events in one tick would otherwise lose one), and patch only the
    cards that changed, so that a note typed in another card is kept."""
    return patch_queue(shown or [], read_queue(), can_act=can_act())


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
