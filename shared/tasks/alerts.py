"""Alert tasks run by beat: stale-sensor checks."""

from __future__ import annotations

from shared.pipeline import run_stale_check
from shared.tasks.celery_app import celery_app
from shared.tasks.ingest import emit_and_queue_push


@celery_app.task(name="alerts.check_stale")
def check_stale() -> int:
    """Open and resolve stale-sensor alerts; return how many changed."""
    return len(run_stale_check(emit=emit_and_queue_push))
