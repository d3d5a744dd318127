"""What the benches share: progress lines, nearest-rank percentiles, the closing report."""

from __future__ import annotations

import json
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
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
def private_stack() -> Iterator[StackState]:
    """A stack of the bench's own under `.stack-bench/<id>/` (fsync off), purged and removed."""
    from shared.stack import LocalStack

    root = REPO / ".stack-bench" / uuid.uuid4().hex[:12]
    stack = LocalStack(root / "stack", fsync=False)
    say(f"stack under {root}")
    try:
        yield stack.up(progress=lambda m: say(f"  {m}"))
    finally:
        say("stack down (purge)")
        stack.down(purge=True)
        shutil.rmtree(root, ignore_errors=True)  # the stack purges its own folder, not ours
