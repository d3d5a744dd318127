"""The notifier interface and its firebase-admin (FCM HTTP v1) implementation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Push:
    """One message to one device token."""

    token: str
    title: str
    body: str
    data: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    """What happened to one push: sent, or failed (and whether the token is dead)."""

    token: str
    ok: bool
    unregistered: bool = False
    error: str = ""


class Notifier(Protocol):
    """Sends pushes; one result per push, in order."""

    def send(self, pushes: list[Push]) -> list[SendResult]:
        """Send the pushes."""


class FirebaseNotifier:
    """Sends through firebase-admin's messaging.send_each (one HTTP call per message)."""

    def __init__(self, app: object) -> None:
        self.app = app

    def send(self, pushes: list[Push]) -> list[SendResult]:
        """Send the pushes through FCM."""
        from firebase_admin import exceptions, messaging

        if not pushes:
            return []
        msgs = [
            messaging.Message(
                token=p.token,
                data=p.data or None,
                notification=messaging.Notification(title=p.title, body=p.body),
            )
            for p in pushes
        ]
        out: list[SendResult] = []
        for start in range(0, len(msgs), 500):  # FCM's batch limit
            batch = messaging.send_each(msgs[start : start + 500], app=self.app)
            for p, r in zip(pushes[start : start + 500], batch.responses, strict=True):
                if r.success:
                    out.append(SendResult(p.token, True))
                    continue
                exc = r.exception
                dead = isinstance(
                    exc, messaging.UnregisteredError | messaging.SenderIdMismatchError
                )
                if isinstance(exc, exceptions.InvalidArgumentError) and "token" in str(exc).lower():
                    dead = True
                out.append(SendResult(p.token, False, dead, str(exc)))
        return out


def firebase_app(
    *, project_id: str, credential: object | None = None, name: str = "smartcity"
) -> object:
    """Return (creating once) the firebase-admin app used for pushes."""
    import firebase_admin

    try:
        return firebase_admin.get_app(name)
    except ValueError:
        return firebase_admin.initialize_app(credential, {"projectId": project_id}, name=name)
