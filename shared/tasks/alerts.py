"""Alert tasks run by beat: stale-sensor checks and the window-mean rules' per-minute sums."""

from __future__ import annotations

from shared.pipeline import run_stale_check, sync_window_sums
from shared.tasks.celery_app import celery_app
from shared.tasks.ingest import emit_and_queue_push


@celery_app.task(name="alerts.check_stale")
def check_stale() -> int:
    """Open and resolve stale-sensor alerts; return how many changed."""
    return len(run_stale_check(emit=emit_and_queue_push))


@celery_app.task(name="alerts.sync_window_sums")
def sync_sums() -> dict[str, int]:
    """Mark, arm and rebuild the per-minute sums that window-mean rules read; return counts."""
    return sync_window_sums()
