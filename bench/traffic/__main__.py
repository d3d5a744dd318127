"""`python -m bench.traffic [--quick] [--json] [--only {forecast,aid}]`: print the traffic tables.

Forecasts: our model against seasonal-naive on the held-out real Oregon counts (MASE per horizon,
median over detectors), plus the median cost of one served forecast. Incident detection: ours
(California #7 + upstream speed drop) against #7 as published, on SUMO runs with scripted
incidents and incident-free runs (detection rate, false alarm rate, time to detect).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from shared.traffic.evaluation import (
    EVALUATION_SEEDS,
    aid_table,
    evaluate_aid,
    evaluate_forecasts,
    forecast_table,
    load_sample_counts,
)
from shared.traffic.forecast import (
    DEFAULT_HORIZONS,
    forecast_flow_series,
    prepare_counts,
    seasonal_naive_paths,
)


def serving_cost(reps: int) -> dict[str, float]:
    """Median seconds for one forecast from four weeks of counts: ours (fit + forecast) vs
    seasonal-naive, over `reps` runs per detector of the first five detectors."""
    wide = load_sample_counts()
    ours: list[float] = []
    naive: list[float] = []
    for det in list(wide.columns)[:5]:
        y = prepare_counts(wide[det])
        for _ in range(reps):
            t0 = time.perf_counter()
            forecast_flow_series(y, horizons=DEFAULT_HORIZONS)
            ours.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            seasonal_naive_paths(prepare_counts(wide[det]), [len(y) - 1], [1, 2, 4])
            naive.append(time.perf_counter() - t0)
    return {"ours_s": statistics.median(ours), "seasonal_naive_s": statistics.median(naive),
            "runs": len(ours)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.traffic", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="8 incident + 4 free SUMO runs (~1 min)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    ap.add_argument("--only", choices=("forecast", "aid"), help="run one evaluation only")
    args = ap.parse_args()
    out: dict[str, object] = {}
    if args.only in (None, "forecast"):
        fev = evaluate_forecasts()
        cost = serving_cost(reps=3 if args.quick else 7)
        out["forecast"] = {**fev.as_dict(), "serving_cost": cost}
        if not args.json:
            print(forecast_table(fev))
            print(f"serving cost, median of {cost['runs']} runs: ours {cost['ours_s'] * 1e3:.1f} ms"
                  f" (fit + forecast), seasonal-naive {cost['seasonal_naive_s'] * 1e3:.2f} ms,"
                  f" ratio {cost['ours_s'] / cost['seasonal_naive_s']:.0f}x\n")  # fmt: skip
    if args.only in (None, "aid"):
        seeds = EVALUATION_SEEDS[:8] if args.quick else EVALUATION_SEEDS
        aev = evaluate_aid(seeds=seeds)
        out["aid"] = aev.as_dict()
        if not args.json:
            print(aid_table(aev))
    if args.json:
        print(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
