"""`python -m bench.ingest [--quick]`: run the ingestion bench and print the table."""

from __future__ import annotations

import argparse
import json
import signal
import sys

from bench.ingest.runner import Config, run, say, table


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="one repetition, short steps (~4 min)")
    ap.add_argument("--reps", type=int, help="repetitions of each measurement (default 3)")
    ap.add_argument("--bridges", type=int, help="bridge processes (default 2)")
    ap.add_argument(
        "--workers", type=int, help="Celery worker processes for the bulk lane (default 2)"
    )
    ap.add_argument("--concurrency", type=int, help="pool size per prefork worker (default 2)")
    ap.add_argument(
        "--pool", choices=["prefork", "solo"],
        help="worker pool (default solo: --workers processes, one task at a time each)",
    )  # fmt: skip
    ap.add_argument("--batch", type=int, help="bridge batch size (default 5000)")
    ap.add_argument("--wait-ms", type=int, help="bridge batch wait in ms (default 100)")
    ap.add_argument("--pack", type=int, help="readings per SenML pack (default 100)")
    ap.add_argument("--in-flight", type=int, help="batches in flight per bridge (default 1)")
    ap.add_argument(
        "--fixed-wait", dest="adaptive", action="store_false", default=None,
        help="bridges always wait --wait-ms (default: adaptive flush)",
    )  # fmt: skip
    ap.add_argument("--min-wait-ms", type=float, help="bridge --min-wait-ms (default 0)")
    ap.add_argument("--publishers", type=int, help="publisher processes (default 1)")
    ap.add_argument("--nice", type=int, help="worker and bridge --nice (default 0)")
    ap.add_argument(
        "--bulk-nice", type=int,
        help="add this to the bulk-lane workers' --nice only: the urgent lane's worker, the "
        "bridges and Socket.IO keep theirs (default 10, as `make demo` runs them; 0: off)",
    )  # fmt: skip
    ap.add_argument(
        "--latency-only", action="store_true", default=None,
        help="skip the throughput ramps and the baselines: latency at --latency-load only",
    )  # fmt: skip
    ap.add_argument(
        "--packs-only", action="store_true", default=None,
        help="the SenML pack ramp alone (no single messages, latency or baselines): for A/B runs",
    )  # fmt: skip
    ap.add_argument(
        "--latency-load", type=float,
        help="background readings/s of the latency run (default 16,667 = 1M/min)",
    )  # fmt: skip
    ap.add_argument(
        "--no-urgent", dest="urgent", action="store_false", default=None,
        help="bridges without the urgent lane, and no urgent-lane worker",
    )  # fmt: skip
    ap.add_argument(
        "--no-sustained", dest="sustained", action="store_false", default=None,
        help="disable the window-mean (sustained) alert rules, to measure what they cost",
    )  # fmt: skip
    ap.add_argument(
        "--no-window-sums", dest="window_sums", action="store_false", default=None,
        help="no per-minute sums: window-mean rules average the raw rows (the old way)",
    )  # fmt: skip
    ap.add_argument("--no-node-red", dest="node_red", action="store_false", default=None)
    ap.add_argument("--no-seed-design", dest="seed_design", action="store_false", default=None)
    args = ap.parse_args()
    # `kill` (SIGTERM) unwinds like Ctrl-C: the stack and the pipeline's processes are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    over = {k: v for k, v in vars(args).items() if k != "quick"}
    if args.latency_only or args.packs_only:
        over.update(node_red=False, seed_design=False)
    cfg = Config.make(quick=args.quick, **over)
    res = run(cfg)
    print()
    print(table(res))
    print()
    print(json.dumps(res["medians"], indent=1))
    say(f"results: {res['results_file']} ({res['wall_s']:.0f}s)")


if __name__ == "__main__":
    main()
