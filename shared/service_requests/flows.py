"""Multi-step work with side effects: status changes that notify, photos stored with requests."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from shared.service_requests.models import RequestMedia, RequestStatus, ServiceRequest, StatusChange
from shared.service_requests.photos import clean_photo
from shared.service_requests.schemas import RequestInvalid, RequestQueueItem
from shared.service_requests.service import get_request, queue_item, set_request_status
from shared.service_requests.storage import MediaStorage

STATUS_TASK = "notify.request_status"
# Socket.IO events the console's request queue listens to.
CREATED = "service_request.created"
UPDATED = "service_request.updated"
# The staff workflow: forward only; a closed request is not reopened from the console.
NEXT_STATUSES: dict[RequestStatus, tuple[RequestStatus, ...]] = {
    RequestStatus.open: (
        RequestStatus.acknowledged,
        RequestStatus.in_progress,
        RequestStatus.closed,
    ),
    RequestStatus.acknowledged: (RequestStatus.in_progress, RequestStatus.closed),
    RequestStatus.in_progress: (RequestStatus.closed,),
    RequestStatus.closed: (),
}

log = logging.getLogger(__name__)
Emit = Callable[[str, RequestQueueItem], None]


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


def announce_request(*, session: Session, request_id: int, event: str, emit: Emit) -> None:
    """Emit the request's queue item to the console once the transaction commits."""
    req = get_request(session=session, request_id=request_id)
    if req is None:
        raise LookupError(f"no service request {request_id}")
    session.flush()  # server-side timestamps are read back on access
    item = queue_item(session=session, request=req)

    def send() -> None:
        # The request is stored either way; a console that missed the event reads the queue
        # from the database on its next load, so a Redis hiccup must not fail the citizen.
        try:
            emit(event, item)
        except Exception:
            log.exception("could not emit %s for request %s", event, request_id)

    after_commit(session, send)


def change_request_status_checked(
    *,
    session: Session,
    request_id: int,
    status: RequestStatus,
    note: str,
    actor: str,
    emit: Emit | None = None,
    notify: Callable[[int], None] | None = _enqueue_status_push,
) -> StatusChange:
    """Move a request forward in the staff workflow (closing needs a public note); followers
    are pushed and the console is told after commit."""
    # Locked before the check: two staff moving the same request cannot both pass it.
    lock = (
        select(ServiceRequest)
        .where(ServiceRequest.id == request_id)
        .with_for_update(of=ServiceRequest)
        .execution_options(populate_existing=True)
    )
    req = session.scalar(lock)
    if req is None:
        raise LookupError(f"no service request {request_id}")
    current = RequestStatus(req.status)
    if status not in NEXT_STATUSES[current]:
        raise RequestInvalid(
            f"request {request_id} is {current.value}; it cannot become {status.value}"
        )
    if status is RequestStatus.closed and not note.strip():
        raise RequestInvalid("closing a request needs a public note for the reporter")
    change = change_request_status(
        session=session,
        request_id=request_id,
        status=status,
        note=note,
        actor=actor,
        notify=notify,
    )
    if emit is not None:
        announce_request(session=session, request_id=request_id, event=UPDATED, emit=emit)
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
            key=key,
            thumb_key=thumb_key,
            content_type=photo.content_type,
            size_bytes=len(photo.data),
            width=photo.width,
            height=photo.height,
        )
        request.media.append(media)  # the loaded collection stays current: no refresh needed
        saved.append(media)
    session.flush()
    return saved
