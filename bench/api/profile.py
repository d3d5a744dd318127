"""Where one API request costs CPU: our WSGI app called in process on the bench's seeded data.

Starts the bench's private stack (migrated, demo city, 20,000 requests), builds the app as
`smartcity api` does (limiter on, in Redis; the Socket.IO emit to the console through Redis),
and calls it directly as a WSGI function (no HTTP, no test client): the bench's bbox + date
queries (JSON and XML), the bench's Open311 POST (a graffiti report at a random point, each with
one of the bench's api_keys) and the app's report POST (`/api/v1/reports`, form-encoded, no
photo, each with one of 20 citizens' access tokens). Prints the CPU time per request (median of
rounds) and, with --profile, cProfile's top functions by CPU time.

    .venv/bin/python -m bench.api.profile                 # CPU ms per request, every call
    .venv/bin/python -m bench.api.profile --only post     # the Open311 POST only
    .venv/bin/python -m bench.api.profile --profile 30    # plus the 30 costliest functions
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import statistics
import time
from typing import Any
from urllib.parse import urlencode

from werkzeug.test import EnvironBuilder

from bench.api.runner import ApiBench, Config
from bench.ingest.runner import BenchStack, say

# One request: its WSGI environ and its body (a fresh input stream per call, so that a POST can
# be sent again in every round).
Call = tuple[dict[str, Any], bytes]
CALLS = ("get-json", "get-xml", "post", "report")
EXPECTED = {"get-json": 200, "get-xml": 200, "post": 201, "report": 201}


def _call(app: Any, call: Call) -> int:
    """Call the WSGI app once and drain its body; return the status code."""
    status: list[str] = []
    environ, data = call
    environ = dict(environ)
    environ["wsgi.input"] = io.BytesIO(data)
    body = app(environ, lambda s, h, e=None: status.append(s))
    for _ in body:
        pass
    if hasattr(body, "close"):
        body.close()
    return int(status[0][:3])


def measure(app: Any, calls: list[Call], *, rounds: int, expect: int = 200) -> list[float]:
    """CPU ms per request of each round over all calls (process time: our Python only)."""
    out = []
    for _ in range(rounds):
        t = time.process_time()
        for call in calls:
            code = _call(app, call)
            assert code == expect, code
        out.append((time.process_time() - t) * 1000 / len(calls))
    return out


def _prepared(builder: EnvironBuilder) -> Call:
    environ = builder.get_environ()
    return environ, environ["wsgi.input"].read()


def _form_posts(
    path: str, forms: list[dict[str, str]], headers: list[dict[str, str]]
) -> list[Call]:
    return [
        _prepared(
            EnvironBuilder(
                path=path,
                method="POST",
                data=urlencode(form),
                content_type="application/x-www-form-urlencoded",
                headers=h,
            )
        )
        for form, h in zip(forms, headers, strict=True)
    ]


def _citizen_tokens(app: Any, n: int) -> list[str]:
    """Register n citizens and return an access token for each (valid for the run)."""
    import uuid

    from citizen_api.auth.service import register_citizen
    from citizen_api.tokens import issue_tokens
    from shared.db import session_scope

    tokens = []
    with session_scope() as s, app.app_context():
        for _ in range(n):
            citizen = register_citizen(
                session=s,
                email=f"bench-{uuid.uuid4().hex[:10]}@example.org",
                password="bench password 1",
                display_name=None,
                locale="en",
            )
            assert citizen is not None
            tokens.append(issue_tokens(citizen.id).access_token)
    return tokens


def build_calls(app: Any, bench: ApiBench, name: str) -> list[Call]:
    """The 64 requests of one kind of call, as the bench sends them."""
    keys = bench.api_keys
    if name.startswith("get-"):
        fmt = name[4:]
        return [
            _prepared(EnvironBuilder(path=f"{p}&api_key={keys[i % len(keys)]}"))
            for i, p in enumerate(
                x.replace("requests.json", f"requests.{fmt}") for x in bench.paths
            )
        ]
    rng = random.Random(11)
    x0, y0, x1, y1 = bench.extent
    points = [
        {"lat": f"{rng.uniform(y0, y1):.6f}", "long": f"{rng.uniform(x0, x1):.6f}"}
        for _ in range(64)
    ]
    if name == "post":
        forms = [
            {
                "api_key": keys[i % len(keys)],
                "service_code": "graffiti",
                **pt,
                "description": "Tag on the wall",
            }
            for i, pt in enumerate(points)
        ]
        return _form_posts("/open311/v2/requests.json", forms, [{}] * len(forms))
    tokens = _citizen_tokens(app, 20)
    forms = [
        {
            "service_code": "graffiti",
            **pt,
            "description": "Tag on the wall",
            "attribute[surface]": "wall",
        }
        for pt in points
    ]
    headers = [{"Authorization": f"Bearer {tokens[i % len(tokens)]}"} for i in range(len(forms))]
    return _form_posts("/api/v1/reports", forms, headers)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=7, help="rounds of 64 requests per format")
    ap.add_argument("--profile", type=int, default=0, metavar="N", help="print top N functions")
    ap.add_argument("--only", choices=CALLS, action="append", help="measure only these calls")
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
        for name in args.only or CALLS:
            calls = build_calls(app, bench, name)
            expect = EXPECTED[name]
            measure(app, calls, rounds=2, expect=expect)  # warm: imports, pool, plans, key cache
            cpu = measure(app, calls, rounds=args.rounds, expect=expect)
            say(f"{name}: {statistics.median(cpu):.2f} ms CPU per request "
                f"(median of {args.rounds} rounds of {len(calls)}; "
                f"min {min(cpu):.2f}, max {max(cpu):.2f})")  # fmt: skip
            if args.profile:
                prof = cProfile.Profile(time.process_time)  # CPU, not waits on the servers
                prof.enable()
                measure(app, calls, rounds=3, expect=expect)
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
