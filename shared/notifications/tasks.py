"""Celery tasks on queue "push": status changes to followers, alerts to area subscribers."""

from __future__ import annotations

import os
from typing import Any

from shared.alerts.schemas import AlertChange
from shared.db import session_scope
from shared.notifications.flows import push_area_alert, push_status_change
from shared.notifications.notifier import FirebaseNotifier, Notifier, firebase_app
from shared.tasks.celery_app import celery_app

_notifier: Notifier | None = None


def get_notifier() -> Notifier:
    """Return the process's notifier (firebase-admin with application-default credentials)."""
    global _notifier
    if _notifier is None:
        project = os.environ.get("FCM_PROJECT_ID", "smartcity")
        _notifier = FirebaseNotifier(firebase_app(project_id=project))
    return _notifier


def set_notifier(notifier: Notifier | None) -> None:
    """Use another notifier (tests, or a deployment without FCM)."""
    global _notifier
    _notifier = notifier


@celery_app.task(
    name="notify.request_status",
    bind=True,
    max_retries=5,
    autoretry_for=(OSError,),
    retry_backoff=True,
)
def notify_request_status(self: Any, change_id: int) -> int:
    """Push a service request's status change to its followers; return how many were sent."""
    with session_scope() as session:
        results = push_status_change(session=session, notifier=get_notifier(), change_id=change_id)
    return sum(r.ok for r in results)


@celery_app.task(
    name="notify.area_alert", bind=True, max_retries=5, autoretry_for=(OSError,), retry_backoff=True
)
def notify_area_alert(self: Any, change_json: str | dict[str, Any]) -> int:
    """Push an alert change (AlertChange as JSON text or a dict) to its area's subscribers."""
    if isinstance(change_json, str):
        change = AlertChange.model_validate_json(change_json)
    else:
        change = AlertChange.model_validate(change_json)
    with session_scope() as session:
        results = push_area_alert(session=session, notifier=get_notifier(), change=change)
    return sum(r.ok for r in results)
