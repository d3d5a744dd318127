"""The per-batch pipeline the ingest worker runs: store -> evaluate rules -> commit -> fan out.

It lives here, not in a domain package, because it joins two domains (sensing and alerts) that
must not import each other's flows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from shared.alerts.schemas import AlertChange
from shared.alerts.service import (
    RuleSpec,
    apply_observations,
    check_stale,
    load_rules,
    observe_batch,
    window_sum_targets,
)
from shared.db import session_scope
from shared.ingest.schemas import Batch
from shared.sensing.flows import (
    DEFAULT_INDEX,
    BatchConflict,
    BatchOutcome,
    DatastreamIndex,
    from_us,
    ingest_batch,
    to_us,
)
from shared.sensing.schemas import DatastreamKey, IngestResult
from shared.sensing.service import (
    arm_window_sum_streams,
    load_datastream_keys,
    rebuild_window_sums,
    set_window_sum_streams,
)


class RuleCache:
    """Enabled rules, reloaded at most every `max_age_s` so that admins' edits apply quickly."""

    def __init__(self, *, max_age_s: float = 15.0) -> None:
        self._rules: list[RuleSpec] = []
        self._at = 0.0
        self._max_age_s = max_age_s
        self._lock = threading.Lock()
        # When each (rule, datastream) window mean was last computed: see SUSTAINED_EVERY_S.
        self.sustained_seen: dict[tuple[int, int], float] = {}

    def get(self, *, session: Session) -> list[RuleSpec]:
        """Return the cached rules, reloading them if they are old."""
        with self._lock:
            if time.monotonic() - self._at > self._max_age_s:
                self._rules = load_rules(session=session)
                self._at = time.monotonic()
            return self._rules

    def clear(self) -> None:
        """Force a reload on the next call."""
        with self._lock:
            self._at = 0.0


DEFAULT_RULES = RuleCache()


class ConflictMemory:
    """Whether this process's batches insert plainly (see BatchConflict), per recent history.

    After a batch that held a reading stored before, the next `safe_batches` batches take the
    ON CONFLICT form at once: a sensor that keeps resending would otherwise cost two attempts
    per batch.
    """

    def __init__(self, *, safe_batches: int = 100) -> None:
        self.safe_batches = safe_batches
        self.safe_left = 0
        self.conflicts = 0

    def assume_new(self) -> bool:
        """Return True if the next batch should try the plain INSERT."""
        if self.safe_left > 0:
            self.safe_left -= 1
            return False
        return True

    def saw_conflict(self) -> None:
        """Note a batch that failed the plain INSERT."""
        self.conflicts += 1
        self.safe_left = self.safe_batches


DEFAULT_CONFLICTS = ConflictMemory()


def process_batch(
    *,
    batch: Batch,
    engine: Engine | None = None,
    emit: Callable[[list[AlertChange]], None] = lambda _c: None,
    retention_days: int = 90,
    index: DatastreamIndex = DEFAULT_INDEX,
    rules: RuleCache = DEFAULT_RULES,
    conflicts: ConflictMemory = DEFAULT_CONFLICTS,
) -> tuple[IngestResult, list[AlertChange]]:
    """Store a batch and evaluate its alerts in one transaction, then emit the alert changes."""
    now = datetime.now(UTC)
    store = partial(_store_and_judge, batch=batch, engine=engine, retention_days=retention_days,
                    index=index, rules=rules, now=now)  # fmt: skip
    try:
        outcome, changes = store(assume_new=conflicts.assume_new())
    except BatchConflict:  # rolled back: nothing of the first attempt remains
        conflicts.saw_conflict()
        outcome, changes = store(assume_new=False)
    # Emitted only after commit: the console must never show an alert the database lacks.
    emit(changes)
    return outcome.result, changes


def _store_and_judge(
    *,
    batch: Batch,
    engine: Engine | None,
    retention_days: int,
    index: DatastreamIndex,
    rules: RuleCache,
    now: datetime,
    assume_new: bool,
) -> tuple[BatchOutcome, list[AlertChange]]:
    with session_scope(engine) as session:
        outcome = ingest_batch(
            session=session, batch=batch, index=index, retention_days=retention_days,
            now=now.timestamp(), assume_new=assume_new,
        )  # fmt: skip
        # Each datastream's newest reading, and its readings newer than its latest state before
        # this batch, in time order, so that threshold rules judge every one in turn (older
        # ones came late: not judged). Only datastreams whose latest state this batch moved
        # forward: for the others a newer batch was judged already, and this one must not undo
        # its verdict.
        newest: dict[int, tuple[DatastreamKey, datetime, float]] = {}
        series: dict[int, list[float]] = {}
        by_ds = outcome.by_datastream
        for ds in outcome.advanced:
            group = by_ds.get(ds)
            if group is None:
                continue
            key, rows = group
            rows.sort()  # by time: a datastream's times are unique within a batch
            us, value = rows[-1]
            newest[ds] = (key, from_us(us), value)
            before = outcome.previous.get(ds)
            if before is not None:
                before_us = to_us(before[0])
                if rows[0][0] <= before_us:
                    rows = [row for row in rows if row[0] > before_us]
            if rows:
                series[ds] = [v for _us, v in rows]
        specs = rules.get(session=session)
        observed = observe_batch(
            session=session, rules=specs, newest=newest, previous=outcome.previous, now=now,
            sustained_seen=rules.sustained_seen, series=series,
        )  # fmt: skip
        changes = apply_observations(session=session, observed=observed, now=now)
    return outcome, changes


def warm_up_pipeline(
    *,
    engine: Engine | None = None,
    index: DatastreamIndex = DEFAULT_INDEX,
    rules: RuleCache = DEFAULT_RULES,
) -> None:
    """Open a pooled connection and load the sensor index and the rules (a worker's start)."""
    with session_scope(engine) as session:
        index.refresh_if_needed(session=session)
        rules.get(session=session)


def run_stale_check(
    *,
    engine: Engine | None = None,
    emit: Callable[[list[AlertChange]], None] = lambda _c: None,
    index: DatastreamIndex = DEFAULT_INDEX,
    rules: RuleCache = DEFAULT_RULES,
) -> list[AlertChange]:
    """Open and resolve stale-sensor alerts, then emit the changes."""
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        index.refresh_if_needed(session=session)
        things = index.things(session=session)
        changes = check_stale(session=session, rules=rules.get(session=session), things=things,
                              now=now)  # fmt: skip
    emit(changes)
    return changes


# Datastreams rebuilt per transaction: the rebuild holds their latest-state rows, so their
# batches wait for it (0.2 s for 12 datastream-days of 43,200 readings, bench/window_sums).
REBUILD_CHUNK = 50


def sync_window_sums(*, engine: Engine | None = None) -> dict[str, int]:
    """Keep per-minute sums for exactly the datastreams window-mean rules watch; return counts.

    Three transactions, because a marker must be committed before it is armed, and armed before
    the sums are rebuilt (see WindowSumStream). A marker still `pending` is rebuilt by a later
    call (beat runs this every minute); until then its rule averages the raw rows.
    """
    with session_scope(engine) as session:
        targets = window_sum_targets(
            rules=load_rules(session=session), keys=load_datastream_keys(session=session)
        )
        counts = set_window_sum_streams(session=session, windows=targets)
    with session_scope(engine) as session:
        counts["armed"] = arm_window_sum_streams(session=session)
    counts["rebuilt"] = 0
    while True:  # in chunks, each its own transaction: a chunk's batches wait while it runs
        with session_scope(engine) as session:
            step = rebuild_window_sums(session=session, limit=REBUILD_CHUNK)
        counts["rebuilt"] += step["rebuilt"]
        counts["pending"] = step["pending"]
        if not step["rebuilt"] or not step["pending"]:
            break
    counts["streams"] = len(targets)
    return counts
