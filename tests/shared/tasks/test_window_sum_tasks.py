"""Beat keeps the window-mean rules' per-minute sums: marks, arms and rebuilds them every minute,
and the roll-up task prunes minutes past their window."""

from __future__ import annotations

from sqlalchemy import Engine, text

from shared.tasks.alerts import sync_sums
from shared.tasks.celery_app import celery_app
from shared.tasks.maintenance import roll_up_recent


def test_beat_syncs_the_sums_every_minute() -> None:
    entry = celery_app.conf.beat_schedule["window-sums"]
    assert entry == {"task": "alerts.sync_window_sums", "schedule": 60.0}
    assert "alerts.sync_window_sums" in celery_app.tasks


def test_the_tasks_mark_rebuild_and_prune(engine: Engine) -> None:
    # Committed (a task's own transactions): later tests may find these markers, which only
    # makes their PM2.5 batches keep sums as the running platform does.
    first = sync_sums()
    assert first["streams"] > 0 and first["pending"] == 0
    with engine.connect() as conn:
        ready = conn.scalar(text("SELECT count(*) FROM window_sum_stream WHERE ready"))
    assert ready == first["streams"]
    again = sync_sums()  # nothing changed: nothing to add, arm or rebuild
    assert (again["added"], again["armed"], again["rebuilt"]) == (0, 0, 0)
    assert "window_minutes_pruned" in roll_up_recent()
