"""`python -m bench.window_sums`: what the per-minute sums buy and cost, in one run.

Evaluation: a window-mean rule's 24-h means for the demo's PM2.5 datastreams, from the raw rows
(the fallback, and every evaluation before the sums) against `window_means` (the sums).
Write cost: storing a batch (`ingest_batch`, committed) with no datastream marked against every
datastream of the city marked (the worst case: a window rule on every metric).
"""

from __future__ import annotations

import argparse

from bench.common import report
from bench.window_sums.runner import run, table


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.window_sums", description=__doc__)
    ap.add_argument(
        "--every", type=float, default=2.0,
        help="seconds between history readings per datastream (default 2)",
    )  # fmt: skip
    ap.add_argument("--batch", type=int, default=1000, help="readings per stored batch")
    ap.add_argument("--reps", type=int, default=3, help="repetitions (medians are reported)")
    ap.add_argument("--n", type=int, default=50, help="timed calls per variant per repetition")
    args = ap.parse_args()
    if args.every <= 0 or args.batch < 1 or args.reps < 1 or args.n < 3:
        ap.error("--every must be > 0, --batch >= 1, --reps >= 1 and --n >= 3")
    res = run(every_s=args.every, batch=args.batch, reps=args.reps, n=args.n)
    report(res, table)


if __name__ == "__main__":
    main()
