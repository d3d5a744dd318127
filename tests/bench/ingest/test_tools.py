"""The ingest bench's measuring tools still run end to end, on a few messages and batches.

The figures themselves are the benches' business (ground rule 4: never timed in tests); these
check that the tools work against the code as it is now, so that a change to `shared` cannot
quietly break the way it is measured. Each tool starts its own broker or stack under
`.stack-bench/`, as it does from the README.
"""

from __future__ import annotations

import re
import subprocess
import sys

from bench.common import REPO


def _run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done.stdout


def test_bridge_cpu_measures_single_messages_and_packs() -> None:
    out = _run("bench.ingest.bridge_cpu", "--messages", "2000", "--rate", "4000", "--repeat", "1")
    (run,) = re.findall(r"run 0: (\d+) messages, cpu ([\d.]+) s", out)
    assert int(run[0]) == 2000 and float(run[1]) > 0
    out = _run("bench.ingest.bridge_cpu", "--pack", "10", "--messages", "200", "--rate", "400",
               "--repeat", "1")  # fmt: skip
    assert re.search(r"run 0: 200 messages, .* [\d.]+ us/reading", out), out
    assert re.search(r"median: [\d.]+ us CPU per reading", out), out


def test_profile_task_times_the_task_body_and_the_celery_round_trip() -> None:
    # --celery sends real batches through the bridge's sink (stored in Redis, the task carries
    # the key) to a real worker and waits for each confirmation: a broken hand-over hangs or
    # fails here rather than in the next bench run.
    out = _run("bench.ingest.profile_task", "--sizes", "10,50", "--batches", "5", "--celery")
    body, _, celery = out.partition("sink round trip")
    assert re.search(r"^\s+10\s+[\d.]+\s+[\d.]+\s+[\d.]+$", body, re.M), out
    assert re.search(r"^\s+50\s+[\d.]+\s+[\d.]+\s+[\d.]+$", body, re.M), out
    rows = re.findall(r"^\s+(10|50)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$", celery, re.M)
    assert [r[0] for r in rows] == ["10", "50"], out
    assert all(float(r[4]) > 0 for r in rows), out  # the worker did the work
