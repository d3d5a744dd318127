"""What the benches share: progress lines, nearest-rank percentiles, the closing report."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO


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
