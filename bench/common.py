"""What the benches share: timestamped progress lines and nearest-rank percentiles."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def say(msg: str, *, stream: TextIO | None = None) -> None:
    """Print a progress line with the wall-clock time (stdout unless `stream` is given)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=stream or sys.stdout, flush=True)


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile: no interpolation, so p99 is a time that really happened."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, -(-int(q * len(s)) // 100) - 1))]
