"""Alert actions on behalf of the logged-in user: role check, audited service call, live push.

The Dash callbacks and the JSON endpoints both go through `act_on_alert`, so the role check
cannot be skipped by calling the server directly (CKAN's "one action layer" habit).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _

from ops_console import queries
from ops_console.extensions import socketio
from shared.accounts.models import Role
from shared.accounts.service import role_allows
from shared.alerts.schemas import AlertChange, AlertRead
from shared.alerts.service import acknowledge_alert, assign_alert, resolve_alert
from shared.db import session_scope
from shared.realtime import GLOBAL_ROOM, REQUESTS_ROOM, district_room
from shared.service_requests.flows import change_request_status_checked
from shared.service_requests.models import RequestStatus
from shared.service_requests.schemas import RequestInvalid, RequestQueueItem

ACTIONS = ("acknowledge", "assign", "resolve")
# The audit/event name of each action.
DONE = {"acknowledge": "acknowledged", "assign": "assigned", "resolve": "resolved"}
# Acting on alerts is control-room work: viewers (e.g. visitors, auditors) may only watch.
REQUIRED_ROLE = Role.operator


@dataclass
class ActionRefused(Exception):
    """The server refused an action; `status` is the HTTP status that fits."""

    message: str
    status: int = 403

    def __str__(self) -> str:
        return self.message


def act_on_alert(
    *, username: str | None, action: str, alert_id: int, reason: str = "", assignee: str = ""
) -> AlertRead:
    """Acknowledge, assign or resolve an alert as `username`, after checking their role; emit
    the change."""
    if action not in ACTIONS:
        raise ActionRefused(_("Unknown action."), 400)
    if not username:
        raise ActionRefused(_("Please sign in."), 401)
    with session_scope() as session:
        # The role is read from the database, not the cookie: a demoted user loses rights now.
        user = queries.get_staff_user(session=session, username=username)
        if user is None or not user.is_active:
            raise ActionRefused(_("Please sign in."), 401)
        if not role_allows(role=user.role, required=REQUIRED_ROLE):
            raise ActionRefused(
                _("Refused: your role (%(role)s) may not change alerts.", role=user.role.value)
            )
        try:
            if action == "acknowledge":
                acknowledge_alert(session=session, alert_id=alert_id, actor=user.username)
            elif action == "assign":
                target = queries.get_staff_user(session=session, username=assignee.strip())
                if target is None or not target.is_active:
                    raise ActionRefused(_("Choose an active staff member to assign."), 400)
                assign_alert(session=session, alert_id=alert_id, actor=user.username,
                             assignee=target.username)  # fmt: skip
            else:
                if not reason.strip():
                    raise ActionRefused(_("Give a reason to resolve the alert."), 400)
                resolve_alert(
                    session=session, alert_id=alert_id, actor=user.username, reason=reason.strip()
                )
        except LookupError as exc:
            raise ActionRefused(_("No such alert."), 404) from exc
        except ValueError as exc:
            raise ActionRefused(_("Not possible: the alert changed meanwhile."), 409) from exc
        read = queries.get_alert_read(session=session, alert_id=alert_id)
    assert read is not None
    change = AlertChange(event="alert.updated", action=DONE[action], alert=read)
    _emit(change)
    return read


def _emit(change: AlertChange) -> None:
    # Through the Redis queue like the worker's events, so every console process sees it.
    payload = change.model_dump(mode="json")
    socketio.emit(change.event, payload, to=district_room(change.alert.district_id))
    socketio.emit(change.event, payload, to=GLOBAL_ROOM)


def act_on_request(
    *, username: str | None, request_id: int, status: str, note: str = ""
) -> RequestQueueItem:
    """Move a citizen request to `status` with a public note as `username`, after checking
    their role; the history row is the audit trail, followers get a push, consoles an event."""
    try:
        target = RequestStatus(status)
    except ValueError as exc:
        raise ActionRefused(_("Unknown status."), 400) from exc
    if not username:
        raise ActionRefused(_("Please sign in."), 401)
    items: list[RequestQueueItem] = []
    with session_scope() as session:
        user = queries.get_staff_user(session=session, username=username)
        if user is None or not user.is_active:
            raise ActionRefused(_("Please sign in."), 401)
        if not role_allows(role=user.role, required=REQUIRED_ROLE):
            raise ActionRefused(
                _("Refused: your role (%(role)s) may not change requests.", role=user.role.value)
            )
        try:
            change_request_status_checked(
                session=session,
                request_id=request_id,
                status=target,
                note=note,
                actor=user.username,
                emit=lambda _event, item: items.append(item),
            )
        except LookupError as exc:
            raise ActionRefused(_("No such request."), 404) from exc
        except RequestInvalid as exc:
            if target is RequestStatus.closed and not note.strip():
                raise ActionRefused(_("Give a public note to close the request."), 400) from exc
            raise ActionRefused(_("Not possible: the request changed meanwhile."), 409) from exc
    # The emit callback ran after commit: the change is stored before anyone hears of it.
    item = items[0]
    socketio.emit("service_request.updated", item.model_dump(mode="json"), to=REQUESTS_ROOM)
    return item
