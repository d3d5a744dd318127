"""The Celery application: Redis broker, late acks, one queue per concern, beat schedule."""

from __future__ import annotations

from collections.abc import Callable

from celery import Celery

from shared.config import Settings, get_settings
from shared.ingest.schemas import Batch, batch_encoder

QUEUES = ("ingest", "alerts", "maintenance", "push")


def make_celery(settings: Settings | None = None) -> Celery:
    """Return a Celery app configured from settings."""
    settings = settings or get_settings()
    app = Celery("smartcity", broker=settings.redis_url or "memory://")
    app.conf.update(
        # At-least-once: a task is acknowledged only after it finished, and a worker killed
        # mid-task gives the message back. The batch work is idempotent, so redelivery is safe.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        worker_prefetch_multiplier=4,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        # kombu sweeps for abandoned (unacknowledged) messages only every interval x throttle
        # seconds, 100 s by default; sweep at least every half visibility timeout instead.
        broker_transport_options={
            "visibility_timeout": settings.ingest_visibility_timeout_s,
            "unacked_restore_interval": max(1, min(10, settings.ingest_visibility_timeout_s // 2)),
            "unacked_restore_throttle": 1,
        },
        task_routes={
            "ingest.*": {"queue": "ingest"},
            "alerts.*": {"queue": "alerts"},
            "maintenance.*": {"queue": "maintenance"},
            "notify.*": {"queue": "push"},
        },
        task_default_queue="maintenance",
        beat_schedule={
            "stale-sensors": {"task": "alerts.check_stale", "schedule": 30.0},
            "partitions-ahead": {"task": "maintenance.ensure_partitions", "schedule": 3600.0},
            "roll-ups": {"task": "maintenance.roll_up", "schedule": 300.0},
            "retention": {"task": "maintenance.apply_retention", "schedule": 86_400.0},
        },
        include=[
            "shared.tasks.ingest",
            "shared.tasks.alerts",
            "shared.tasks.maintenance",
            "shared.notifications.tasks",
        ],
    )
    return app


celery_app = make_celery()


def stored_key(batch_id: str) -> str:
    """Return the Redis list the worker pushes to once a batch is committed."""
    return f"smartcity:ingest:stored:{batch_id}"


class BatchNotConfirmed(RuntimeError):
    """The worker did not confirm a batch in time; the bridge lets MQTT redeliver it."""


def ingest_sink(
    app: Celery, *, redis_url: str | None = None, confirm_timeout_s: float | None = None
) -> Callable[[Batch], None]:
    """Return the bridge's sink: one `ingest.store_batch` task per batch (msgspec JSON text).

    With `redis_url`, the sink also waits until the worker confirms the batch is committed, so
    the bridge acknowledges MQTT messages only once their readings are in the database. Celery
    on Redis alone is not enough: a worker killed between taking a task off the queue and
    recording it as unacknowledged loses that task (kombu's BRPOP window). Waiting costs one
    batch in flight per bridge; batches simply grow while the worker is busy.
    """
    import redis

    client = redis.Redis.from_url(redis_url) if redis_url else None
    settings = get_settings()
    timeout = confirm_timeout_s or float(settings.ingest_visibility_timeout_s + 30)

    def enqueue(batch: Batch) -> None:
        app.send_task("ingest.store_batch", args=[batch_encoder.encode(batch).decode()])
        if (
            client is not None
            and client.blpop([stored_key(batch.batch_id)], timeout=timeout) is None
        ):
            raise BatchNotConfirmed(f"batch {batch.batch_id} not stored within {timeout:.0f} s")

    return enqueue
