"""Where one Open311 GET costs CPU: our WSGI app called in process on the bench's seeded data.

Starts the bench's private stack (migrated, demo city, 20,000 requests), builds the app as
`smartcity api` does (limiter on, in Redis), and calls it directly as a WSGI function (no HTTP,
no test client) for the bench's bbox + date queries, JSON and XML. Prints the CPU time per
request (median of rounds) and, with --profile, cProfile's top functions by CPU time.

    .venv/bin/python -m bench.api.profile                 # CPU ms per request, JSON and XML
    .venv/bin/python -m bench.api.profile --profile 30    # plus the 30 costliest functions
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import time
from typing import Any

from werkzeug.test import EnvironBuilder

from bench.api.runner import ApiBench, Config
from bench.ingest.runner import BenchStack, say


def _call(app: Any, environ: dict[str, Any]) -> int:
    """Call the WSGI app once and drain its body; return the status code."""
    status: list[str] = []
    body = app(dict(environ), lambda s, h, e=None: status.append(s))
    for _ in body:
        pass
    if hasattr(body, "close"):
        body.close()
    return int(status[0][:3])


def measure(app: Any, environs: list[dict[str, Any]], *, rounds: int) -> list[float]:
    """CPU ms per request of each round over all environs (process time: our Python only)."""
    out = []
    for _ in range(rounds):
        t = time.process_time()
        for env in environs:
            code = _call(app, env)
            assert code == 200, code
        out.append((time.process_time() - t) * 1000 / len(environs))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=7, help="rounds of 64 requests per format")
    ap.add_argument("--profile", type=int, default=0, metavar="N", help="print top N functions")
    args = ap.parse_args(argv)

    cfg = Config.make(quick=True, connections=20)
    bench = ApiBench(cfg)
    BenchStack.__enter__(bench)  # the stack only: no wrk needed here
    try:
        bench.prepare_db()
        bench.write_scripts()
        os.environ.update(bench.extra_env())
        from shared.config import get_settings

        get_settings.cache_clear()
        from citizen_api import create_app

        app = create_app()
        keys = bench.api_keys
        for fmt in ("json", "xml"):
            environs = []
            for i, path in enumerate(bench.paths):
                path = path.replace("requests.json", f"requests.{fmt}")
                eb = EnvironBuilder(path=f"{path}&api_key={keys[i % len(keys)]}")
                environs.append(eb.get_environ())
            measure(app, environs, rounds=2)  # warm: imports, pool, plans, key cache
            cpu = measure(app, environs, rounds=args.rounds)
            say(f"GET requests.{fmt}: {statistics.median(cpu):.2f} ms CPU per request "
                f"(median of {args.rounds} rounds of {len(environs)}; "
                f"min {min(cpu):.2f}, max {max(cpu):.2f})")  # fmt: skip
            if args.profile:
                prof = cProfile.Profile(time.process_time)  # CPU, not waits on the servers
                prof.enable()
                measure(app, environs, rounds=3)
                prof.disable()
                buf = io.StringIO()
                pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(args.profile)
                print(buf.getvalue())
                buf = io.StringIO()
                pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(args.profile)
                print(buf.getvalue())
    finally:
        bench.__exit__(None, None, None)


if __name__ == "__main__":
    main()
