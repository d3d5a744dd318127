"""A bench's private stack goes down when the bench is killed with SIGTERM, as with Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from bench.common import REPO

CHILD = """
import json, sys, time
from bench.common import private_stack
with private_stack() as state:
    print(json.dumps({n: c.pid for n, c in state.components.items()}), flush=True)
    time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sigterm_stops_the_private_stack() -> None:
    child = subprocess.Popen([sys.executable, "-c", CHILD], cwd=REPO, stdout=subprocess.PIPE,
                             text=True, env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    try:
        assert child.stdout is not None
        line = ""
        while not line.startswith("{"):  # progress lines first, then the servers' pids
            line = child.stdout.readline()
            assert line, "the bench's stack did not come up"
        pids = json.loads(line)
        assert {"postgres", "redis", "mosquitto"} <= set(pids)
        assert all(_alive(pid) for pid in pids.values())
        child.send_signal(signal.SIGTERM)
        assert child.wait(60) == 128 + signal.SIGTERM
        deadline = time.monotonic() + 20
        while any(_alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [name for name, pid in pids.items() if _alive(pid)]
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
