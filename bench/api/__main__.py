"""`python -m bench.api [--quick]`: run the citizen API bench and print the table."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable

from bench.api.runner import ENDPOINTS, MODES, Config, run, say, table


def _choices(allowed: tuple[str, ...]) -> Callable[[str], tuple[str, ...]]:
    def parse(value: str) -> tuple[str, ...]:
        got = tuple(v.strip() for v in value.split(",") if v.strip())
        if not got or set(got) - set(allowed):
            raise argparse.ArgumentTypeError(f"choose from {','.join(allowed)}")
        return got

    return parse


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="one repetition of 5 s runs (~4 min)")
    ap.add_argument("--reps", type=int, help="repetitions of each run (default 3)")
    ap.add_argument("--duration", dest="duration_s", type=int, help="seconds per run (10)")
    ap.add_argument("--connections", type=int, help="concurrent wrk connections (500)")
    ap.add_argument("--paced-rate", type=float, help="open-loop requests/s of all clients (50)")
    ap.add_argument("--seeded", dest="seeded_requests", type=int, help="requests seeded (20000)")
    ap.add_argument("--workers", dest="gunicorn_workers", type=int, help="gunicorn workers (2)")
    ap.add_argument("--threads", dest="gunicorn_threads", type=int, help="threads/worker (8)")
    ap.add_argument("--ingest-rate", help="simulator MQTT messages/s (200/s: 20k readings/s)")
    ap.add_argument("--no-ingest", dest="phases", action="store_const", const=("alone",),
                    help="skip the phase with the ingestion simulator running")  # fmt: skip
    ap.add_argument(
        "--ingest-nice",
        type=int,
        nargs="+",
        metavar="N",
        help="smartcity worker/bridge --nice in the ingest phase (0); several values "
        "run it once per value in order, e.g. 0 10 0 10 (an A/B in one sitting)",
    )
    ap.add_argument(
        "--calls",
        dest="endpoints",
        type=_choices(ENDPOINTS),
        help="comma-separated calls to run (get,post)",
    )
    ap.add_argument(
        "--modes", type=_choices(MODES), help="comma-separated load shapes to run (saturate,paced)"
    )
    args = ap.parse_args()
    if args.ingest_nice:
        args.ingest_nice = tuple(args.ingest_nice)
    # `kill` (SIGTERM) unwinds like Ctrl-C: the stack and the servers are stopped and purged.
    signal.signal(signal.SIGTERM, lambda *_a: sys.exit(143))
    over = {k: v for k, v in vars(args).items() if k != "quick"}
    res = run(Config.make(quick=args.quick, **over))
    print()
    print(table(res))
    print()
    print(json.dumps(res["medians"], indent=1))
    say(f"results: {res['results_file']} ({res['wall_s']:.0f}s)")


if __name__ == "__main__":
    main()
