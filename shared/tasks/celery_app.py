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
        include=["shared.tasks.ingest", "shared.tasks.alerts", "shared.tasks.maintenance"],
    )
    return app


celery_app = make_celery()


def ingest_sink(app: Celery) -> Callable[[Batch], None]:
    """Return the bridge's sink: one `ingest.store_batch` task per batch (msgspec JSON text)."""

    def enqueue(batch: Batch) -> None:
        app.send_task("ingest.store_batch", args=[batch_encoder.encode(batch).decode()])

    return enqueue
