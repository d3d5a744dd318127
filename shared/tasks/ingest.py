"""Ingest task: one call per bridge batch; a thin wrapper over shared.pipeline."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import redis
from sqlalchemy.exc import DBAPIError

from shared.alerts.schemas import AlertChange
from shared.config import get_settings
from shared.ingest.schemas import batch_decoder
from shared.pipeline import process_batch
from shared.realtime import Fanout
from shared.tasks.celery_app import celery_app, stored_key


@lru_cache(maxsize=1)
def _redis() -> redis.Redis:
    return redis.Redis.from_url(get_settings().redis_url or "")


def confirm_stored(batch_id: str) -> None:
    """Tell a waiting bridge that the batch is committed (the key expires if nobody waits)."""
    key = stored_key(batch_id)
    _redis().pipeline().lpush(key, 1).expire(key, 300).execute()


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


@celery_app.task(
    name="ingest.store_batch",
    autoretry_for=(DBAPIError, ConnectionError),
    retry_backoff=True,
    retry_backoff_max=60,
    retry_kwargs={"max_retries": 20},
)
def store_batch(payload: str) -> dict[str, Any]:
    """Store one batch (msgspec-encoded JSON) and fan out the alerts it changed."""
    batch = batch_decoder.decode(payload)
    result, _changes = process_batch(
        batch=batch, emit=emit_and_queue_push, retention_days=get_settings().raw_retention_days
    )
    confirm_stored(batch.batch_id)
    return result.model_dump()
