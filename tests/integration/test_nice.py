"""`smartcity worker --nice N` and `smartcity bridge --nice N` run at a lower CPU priority, and
the worker's prefork pool children inherit it (the API keeps the cores first under load); the
bridge also freezes its start-up heap (no full-collection pause on readings)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from shared.stack import StackState

SMARTCITY = str(Path(sys.executable).with_name("smartcity"))


def _start(args: list[str], env: dict[str, str], log: Path, ready: bytes) -> subprocess.Popen:
    out = log.open("ab")
    proc = subprocess.Popen(
        [SMARTCITY, *args], env=env, stdout=out, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while ready not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError(f"{args[0]} did not start: {log.read_text()[-2000:]}")
        time.sleep(0.1)
    return proc


def _autogroup_nice(pid: int) -> int | None:
    """The nice value of the process's autogroup (`/autogroup-N nice K`), None without them."""
    path = Path(f"/proc/{pid}/autogroup")
    if not path.exists() or Path("/proc/sys/kernel/sched_autogroup_enabled").read_text() != "1\n":
        return None
    return int(path.read_text().split()[-1])


def _stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def test_worker_and_bridge_lower_their_priority(
    stack: StackState, worker_env: dict[str, str], tmp_path: Path
) -> None:
    base = os.nice(0)  # the test runner's own nice value: --nice adds to it, as `nice -n` does
    want = min(19, base + 3)
    # A queue and a subscription group no other test uses: this worker takes no one's tasks.
    worker = _start(
        ["worker", "-c", "2", "--queues", "nice-test", "--loglevel", "info", "--nice", "3"],
        worker_env, tmp_path / "worker.log", b"ready.",
    )  # fmt: skip
    try:
        main = psutil.Process(worker.pid)
        children = main.children(recursive=True)
        assert len(children) >= 2  # the prefork pool (-c 2), forked after the nice call
        assert [p.nice() for p in [main, *children]] == [want] * (1 + len(children))
        # Each service runs in a session of its own (start_new_session, as `smartcity demo`
        # starts them): with autogroups its session's group must be lowered too, or the
        # scheduler shares the CPU equally between this session and the API's.
        assert _autogroup_nice(worker.pid) in (None, want)
    finally:
        _stop(worker)
    bridge = _start(
        ["bridge", "--group", "nice-test", "--nice", "3"],
        worker_env, tmp_path / "bridge.log", b"bridge:",
    )  # fmt: skip
    try:
        assert psutil.Process(bridge.pid).nice() == want
        assert _autogroup_nice(bridge.pid) in (None, want)
        # It also froze its start-up heap, so that a full collection does not stall readings.
        frozen = re.search(
            rb"([\d,]+) start-up objects frozen", (tmp_path / "bridge.log").read_bytes()
        )
        assert frozen is not None and int(frozen[1].replace(b",", b"")) > 10_000
    finally:
        _stop(bridge)
    assert stack.redis_url  # the stack the processes above ran against
