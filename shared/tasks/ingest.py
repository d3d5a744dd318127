"""Ingest task: one call per bridge batch; a thin wrapper over shared.pipeline."""

from __future__ import annotations

import logging
import threading
import time
from functools import lru_cache
from typing import Any

import redis
from sqlalchemy.exc import DBAPIError

from shared.alerts.schemas import AlertChange
from shared.alerts.service import list_urgent_levels
from shared.config import get_settings
from shared.db import session_scope
from shared.ingest.schemas import batch_decoder, batch_unpacker
from shared.ingest.urgent import URGENT_LEVELS_KEY, URGENT_LEVELS_TTL_S, levels_encoder
from shared.pipeline import DEFAULT_RULES, process_batch, warm_up_pipeline
from shared.realtime import Fanout
from shared.tasks.celery_app import (
    CONFIRM_KEY_TTL_S,
    CONFIRM_PREFIX,
    PROCESS_WARM_UPS,
    URGENT_QUEUE,
    celery_app,
    serves_queue,
    stored_key,
)

log = logging.getLogger(__name__)

URGENT_PUBLISH_S = 2.0  # a third of URGENT_LEVELS_TTL_S; the rules themselves reload every 15 s


@lru_cache(maxsize=1)
def _redis() -> redis.Redis:
    return redis.Redis.from_url(get_settings().redis_url or "")


def confirm_stored(
    batch_id: str, confirm_to: str | None = None, payload_key: str | None = None
) -> None:
    """Tell the waiting bridge that the batch is committed (the key expires if nobody waits),
    and delete the stored batch, if it came through Redis, in the same transaction."""
    if confirm_to is not None and confirm_to.startswith(CONFIRM_PREFIX):
        key, value = confirm_to, batch_id.encode()  # the sink's own list: ids of its batches
    else:
        key, value = stored_key(batch_id), b"1"  # tasks sent by a bridge of before confirm_to
    pipe = _redis().pipeline().lpush(key, value).expire(key, CONFIRM_KEY_TTL_S)
    if payload_key is not None:
        pipe.delete(payload_key)
    pipe.execute()


@lru_cache(maxsize=1)
def fanout() -> Fanout:
    """Return this process's fan-out (connected on first use)."""
    s = get_settings()
    return Fanout(redis_url=s.redis_url or "", mqtt_url=s.mqtt_url)


def emit_and_queue_push(changes: list[AlertChange]) -> None:
    """Emit alert changes live, then queue area push notifications for new and escalated ones."""
    fanout().emit(changes)
    for change in changes:
        if change.action in ("opened", "escalated"):
            # Consumed by the push worker (citizen API issue); expires so a backlog cannot grow.
            celery_app.send_task(
                "notify.area_alert", args=[change.model_dump(mode="json")], expires=3600
            )


def publish_urgent_levels() -> int:
    """Write the threshold rules' levels to Redis for the bridges' urgent lane; return how many."""
    with session_scope() as session:
        specs = DEFAULT_RULES.get(session=session)
    levels = list_urgent_levels(rules=specs)
    _redis().set(URGENT_LEVELS_KEY, levels_encoder.encode(levels), ex=URGENT_LEVELS_TTL_S)
    return len(levels)


def _publish_urgent_levels_forever() -> None:
    # Only a worker that serves the urgent queue publishes, so that bridges send urgent batches
    # only while one exists (the key expires URGENT_LEVELS_TTL_S after the last one stopped).
    while True:
        try:
            publish_urgent_levels()
        except Exception:  # database or Redis away: the key expires, the lane closes meanwhile
            log.warning("could not publish urgent levels", exc_info=True)
        time.sleep(URGENT_PUBLISH_S)


def warm_up() -> None:
    """Connect (database, Redis, fan-out, broker) and fill caches before the first batch."""
    warm_up_pipeline()
    _redis().ping()
    fanout().connect()
    with celery_app.producer_or_acquire() as producer:
        producer.connection.ensure_connection(max_retries=1)
    celery_app.backend  # noqa: B018  (resolved on first send_task: entry points, ~20 ms)
    if serves_queue(URGENT_QUEUE):
        threading.Thread(
            target=_publish_urgent_levels_forever, name="urgent-levels", daemon=True
        ).start()


PROCESS_WARM_UPS.append(warm_up)


@celery_app.task(
    name="ingest.store_batch",
    autoretry_for=(DBAPIError, ConnectionError),
    retry_backoff=True,
    retry_backoff_max=60,
    retry_kwargs={"max_retries": 20},
)
def store_batch(
    payload: str = "", confirm_to: str | None = None, payload_key: str | None = None
) -> dict[str, Any]:
    """Store one batch (inline msgspec JSON, or MessagePack under `payload_key` in Redis),
    confirm to the bridge, fan out its alert changes."""
    if payload_key is None:
        batch = batch_decoder.decode(payload)
    else:
        packed = _redis().get(payload_key)
        if packed is None:
            # Deleted when its batch was confirmed (this is a redelivery of a task that
            # committed), or expired after its bridge stopped waiting (MQTT redelivers the
            # messages, under a new batch): either way there is nothing left to do.
            log.warning("batch %s is no longer in Redis: stored already, or given up", payload_key)
            return {"payload_key": payload_key, "missing": True}
        batch = batch_unpacker.decode(packed)

    def after_commit(changes: list[AlertChange]) -> None:
        # Confirm first: the bridge's next batch waits for the confirmation, the alerts do not
        # (a few ms per change: Socket.IO, MQTT, one push task each). Emitting is best effort
        # after commit either way; if it raises, the retry stores nothing new and confirms again.
        confirm_stored(batch.batch_id, confirm_to, payload_key)
        emit_and_queue_push(changes)

    result, _changes = process_batch(
        batch=batch, emit=after_commit, retention_days=get_settings().raw_retention_days
    )
    return result.model_dump()
