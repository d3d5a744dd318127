"""`smartcity api` serves citizen_api.wsgi:app (test_rate_limits.py runs it under gunicorn):
the app, with what was loaded frozen out of the garbage collector's full collections. Imported
in a child: freezing this test process would change every later test's collections."""

from __future__ import annotations

import os
import subprocess
import sys

from shared.stack import StackState
from tests.conftest import REPO

PROBE = """
import gc, time
import citizen_api.wsgi as w
t = time.perf_counter(); gc.collect(); ms = (time.perf_counter() - t) * 1000
print(type(w.app).__name__, gc.get_freeze_count(), len(gc.get_objects()), round(ms, 1))
"""


def test_wsgi_app_is_built_and_frozen(stack: StackState) -> None:
    env = {**os.environ, **stack.env(), "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, cwd=REPO, capture_output=True, text=True,
        timeout=120, check=True,
    )  # fmt: skip
    name, frozen, tracked, _ms = out.stdout.split()
    assert name == "Flask"
    # Most of what the collector would walk is frozen: a full collection walks the rest only.
    assert int(frozen) > 50_000 and int(frozen) > 2 * int(tracked), out.stdout
