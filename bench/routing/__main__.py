"""`python -m bench.routing`: p50/p99 of route_unit (live costs, a closure, alternatives) against
the existing free-flow `shortest_path` (one plain pgr_dijkstra) on the same pairs, in one run."""

from __future__ import annotations

import argparse

from bench.common import report
from bench.routing.runner import run, table


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.routing", description=__doc__)
    ap.add_argument("--pairs", type=int, default=300, help="random unit/incident pairs per rep")
    ap.add_argument("--reps", type=int, default=3, help="repetitions (medians are reported)")
    ap.add_argument("--seed", type=int, default=6, help="random seed for the pairs")
    args = ap.parse_args()
    if args.pairs < 10 or args.reps < 1:
        ap.error("--pairs must be >= 10 and --reps >= 1")
    res = run(pairs=args.pairs, reps=args.reps, seed=args.seed)
    report(res, table)


if __name__ == "__main__":
    main()
