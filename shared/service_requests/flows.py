"""Multi-step work with side effects: status changes that notify, photos stored with requests."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

from shared.service_requests.models import RequestMedia, RequestStatus, ServiceRequest, StatusChange
from shared.service_requests.photos import clean_photo
from shared.service_requests.service import set_request_status
from shared.service_requests.storage import MediaStorage

STATUS_TASK = "notify.request_status"


def after_commit(session: Session, fn: Callable[[], None]) -> None:
    """Run `fn` once the session's transaction commits (never if it rolls back)."""
    event.listen(session, "after_commit", lambda _s: fn(), once=True)


def _enqueue_status_push(change_id: int) -> None:
    from shared.tasks.celery_app import celery_app

    celery_app.send_task(STATUS_TASK, args=[change_id])


def change_request_status(
    *,
    session: Session,
    request_id: int,
    status: RequestStatus,
    note: str,
    actor: str,
    notify: Callable[[int], None] | None = _enqueue_status_push,
) -> StatusChange:
    """Change a request's status with a public note; its followers get a push after commit."""
    change = set_request_status(
        session=session, request_id=request_id, status=status, note=note, actor=actor
    )
    if notify is not None:
        change_id = change.id
        after_commit(session, lambda: notify(change_id))
    return change


def attach_photos(
    *,
    session: Session,
    request: ServiceRequest,
    photos: list[bytes],
    storage: MediaStorage,
    max_bytes: int,
) -> list[RequestMedia]:
    """Clean each photo (EXIF stripped, thumbnail made), store both and record them."""
    cleaned = [clean_photo(data=p, max_bytes=max_bytes) for p in photos]  # all checked first
    saved: list[RequestMedia] = []
    for photo in cleaned:
        name = secrets.token_hex(8)
        key = f"requests/{request.id}/{name}.{photo.extension}"
        thumb_key = f"requests/{request.id}/{name}.thumb.jpg"
        storage.save(key, photo.data)
        storage.save(thumb_key, photo.thumbnail)
        media = RequestMedia(
            request_id=request.id,
            key=key,
            thumb_key=thumb_key,
            content_type=photo.content_type,
            size_bytes=len(photo.data),
            width=photo.width,
            height=photo.height,
        )
        session.add(media)
        saved.append(media)
    session.flush()
    return saved
