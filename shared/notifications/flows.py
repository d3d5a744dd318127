"""Push flows: a status change to a report's followers, an alert to its area's subscribers."""

from __future__ import annotations

from sqlalchemy.orm import Session

from shared.alerts.schemas import AlertChange
from shared.notifications.models import DeviceToken
from shared.notifications.notifier import Notifier, Push, SendResult
from shared.notifications.service import devices_of, prune_tokens, subscribers_at
from shared.notifications.texts import text
from shared.service_requests.models import StatusChange
from shared.service_requests.service import follower_ids


def _deliver(*, session: Session, notifier: Notifier, pushes: list[Push]) -> list[SendResult]:
    results = notifier.send(pushes)
    prune_tokens(session=session, tokens=[r.token for r in results if r.unregistered])
    return results


def push_status_change(*, session: Session, notifier: Notifier, change_id: int) -> list[SendResult]:
    """Tell every follower's devices about a status change, in each device's locale."""
    change = session.get(StatusChange, change_id)
    if change is None:
        return []
    req = change.request
    devices = devices_of(
        session=session, citizen_ids=follower_ids(session=session, request_id=req.id)
    )

    def one(d: DeviceToken) -> Push:
        body = text(d.locale, f"status.{change.status}")
        if change.note:
            body = f"{body} {change.note}"
        return Push(
            d.token,
            text(d.locale, "status.title", service=req.service.name),
            body,
            {
                "kind": "service_request.status",
                "service_request_id": str(req.id),
                "status": change.status,
            },
        )

    return _deliver(session=session, notifier=notifier, pushes=[one(d) for d in devices])


def push_area_alert(
    *, session: Session, notifier: Notifier, change: AlertChange
) -> list[SendResult]:
    """Tell subscribers of the alert's area (district or covering circle) about it."""
    a = change.alert
    if change.action not in ("opened", "escalated", "resolved"):
        return []
    citizens = subscribers_at(session=session, lon=a.lon, lat=a.lat, district_id=a.district_id)
    metric, district = a.metric or a.sensor_type.value, a.district_code

    def one(d: DeviceToken) -> Push:
        if change.action == "resolved":
            title = text(d.locale, "alert.resolved", metric=metric, district=district)
        else:
            title = text(
                d.locale, f"alert.title.{a.severity.value}", metric=metric, district=district
            )
        value = "" if a.value is None else f"{a.value:g}"
        body = text(d.locale, "alert.body", metric=metric, value=value, place=a.thing_code)
        return Push(
            d.token,
            title,
            body,
            {
                "kind": "alert",
                "alert_id": str(a.id),
                "action": change.action,
                "severity": a.severity.value,
            },
        )

    devices = devices_of(session=session, citizen_ids=citizens)
    return _deliver(session=session, notifier=notifier, pushes=[one(d) for d in devices])
