"""What the benches share: progress lines, nearest-rank percentiles, the closing report."""

from __future__ import annotations

import json
import shutil
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from shared.sensing.schemas import DatastreamKey
    from shared.stack import StackState

REPO = Path(__file__).resolve().parents[1]


def say(msg: str, *, stream: TextIO | None = None) -> None:
    """Print a progress line with the wall-clock time (stdout unless `stream` is given)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=stream or sys.stdout, flush=True)


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile: no interpolation, so p99 is a time that really happened."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, -(-int(q * len(s)) // 100) - 1))]


def report(res: dict[str, Any], table: Callable[[dict[str, Any]], str]) -> None:
    """Print a bench's table, then its medians as JSON (for notes and scripts)."""
    print()
    print(table(res))
    print()
    print(json.dumps(res["medians"], indent=1))


@contextmanager
def private_stack(*, fsync: bool = False) -> Iterator[StackState]:
    """A stack of the bench's own under `.stack-bench/<id>/`, purged and removed.

    fsync off by default (a throwaway cluster); on where a bench measures the write path as
    production runs it.
    """
    from shared.stack import LocalStack

    root = REPO / ".stack-bench" / uuid.uuid4().hex[:12]
    stack = LocalStack(root / "stack", fsync=fsync)
    # `kill` (SIGTERM) unwinds like Ctrl-C, so that the finally below stops the stack: by
    # default the process would die at once and leave its servers running.
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    say(f"stack under {root}")
    try:
        yield stack.up(progress=lambda m: say(f"  {m}"))
    finally:
        say("stack down (purge)")
        stack.down(purge=True)
        shutil.rmtree(root, ignore_errors=True)  # the stack purges its own folder, not ours
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    sys.exit(128 + signum)


def seed_city(state: StackState) -> tuple[Engine, list[DatastreamKey]]:
    """Point this process at the stack, migrate, seed the demo city and partitions around now;
    return an engine and the non-weather datastreams (the ingest bench's background ones)."""
    import os

    from shared.config import get_settings

    os.environ.update(state.env())
    get_settings.cache_clear()
    from shared.db import engine_for, session_scope
    from shared.migrations.runner import upgrade
    from shared.seed.demo import seed_demo
    from shared.sensing.service import ensure_partitions_around_now, load_datastream_keys

    upgrade(database_url=state.database_url)
    engine = engine_for(state.database_url)
    with session_scope(engine) as session:
        ensure_partitions_around_now(session=session, ahead_days=2, back_days=1)
        seed_demo(session=session)
        keys = [k for k in load_datastream_keys(session=session)
                if k.sensor_type.value != "weather"]  # fmt: skip
    # Connections made so far ran only the connect hooks imported by then (the worker's staging
    # table comes with shared.sensing.flows): later ones start afresh and run them all.
    engine.dispose()
    return engine, keys
