"""Maintenance tasks run by beat: partitions ahead, roll-ups and retention."""

from __future__ import annotations

from shared.config import get_settings
from shared.db import session_scope
from shared.sensing.service import (
    apply_retention,
    ensure_partitions_around_now,
    prune_window_sums,
    roll_up,
)
from shared.tasks.celery_app import celery_app


@celery_app.task(name="maintenance.ensure_partitions")
def ensure_partitions() -> int:
    """Create observation partitions ahead; return how many were new."""
    with session_scope() as session:
        return ensure_partitions_around_now(
            session=session, ahead_days=get_settings().partitions_ahead_days
        )


@celery_app.task(name="maintenance.roll_up")
def roll_up_recent() -> dict[str, int]:
    """Recompute the hourly and daily aggregates of the last few hours; prune window sums."""
    with session_scope() as session:
        counts = roll_up(session=session, lookback_hours=3)
        counts["window_minutes_pruned"] = prune_window_sums(session=session)
        return counts


@celery_app.task(name="maintenance.apply_retention")
def retention() -> dict[str, int]:
    """Drop raw partitions past the retention window and roll-ups older than 10 years."""
    with session_scope() as session:
        return apply_retention(session=session, raw_days=get_settings().raw_retention_days)
