"""`python -m bench.api [--quick]`: run the citizen API bench and print the table."""

from __future__ import annotations

import argparse
import json
import signal
import sys

from bench.api.runner import Config, run, say, table


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
    args = ap.parse_args()
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
