"""`python -m bench.twin [--quick]`: `smartcity twin evaluate` for fixed, actuated and platform
control on real networks, plus `twin emergency`; prints medians over SUMO seeds and the ratios.

Every figure comes from the `smartcity twin` commands' JSON, run as subprocesses (one SUMO per
process). The platform controller's constants were tuned on ``helsinki`` only; ``adlershof``
and ``braunschweig`` are held out.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CONTROLLERS = ("fixed", "actuated", "platform")
TUNED_ON = "helsinki"
RESULTS = Path(__file__).resolve().parents[1] / "results"


def say(msg: str) -> None:
    print(f"  {msg}", file=sys.stderr, flush=True)


def twin(*args: str) -> dict[str, Any]:
    """Run one `smartcity twin ... --json` and return its JSON object."""
    cmd = [sys.executable, "-m", "shared.cli", "twin", *args, "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def ratio_pct(ours: float, base: float) -> str:
    return f"{(ours - base) / base * 100:+.0f}%"


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.twin", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="one seed, 1,800 s (about 3 min)")
    ap.add_argument("--scenarios", default="adlershof,helsinki,braunschweig")
    ap.add_argument("--seeds", type=int, default=3, help="SUMO seeds per run (default 3)")
    ap.add_argument("--end", type=float, default=3600.0, help="simulated seconds (default 3600)")
    ap.add_argument("--parts", default="evaluate,emergency", help="evaluate, emergency or both")
    args = ap.parse_args()
    seeds = 1 if args.quick else args.seeds
    end = 1800.0 if args.quick else args.end
    started = time.perf_counter()
    evals: dict[str, dict[str, list[dict[str, Any]]]] = {}
    emergencies: dict[str, list[dict[str, Any]]] = {}
    for scenario in args.scenarios.split(","):
        if "evaluate" in args.parts:
            evals[scenario] = {}
        for controller in CONTROLLERS if "evaluate" in args.parts else ():
            runs = []
            for seed in range(1, seeds + 1):
                say(f"{scenario} {controller} seed {seed}")
                runs.append(twin("evaluate", "--sumocfg", scenario, "--controller", controller,
                                 "--end", f"{end:g}", "--seed", str(seed)))  # fmt: skip
            evals[scenario][controller] = runs
        if "emergency" in args.parts:
            emergencies[scenario] = []
        for seed in range(1, seeds + 1) if "emergency" in args.parts else ():
            say(f"{scenario} emergency seed {seed}")
            emergencies[scenario].append(twin("emergency", "--sumocfg", scenario,
                                              "--seed", str(seed)))  # fmt: skip

    def med(runs: list[dict[str, Any]], key: str) -> float:
        return statistics.median(r[key] for r in runs)

    lines = [
        f"twin evaluate: median over {seeds} SUMO seed(s), {end:g} s simulated; "
        f"mean_time_loss_s (tripinfo timeLoss, unfinished trips included)",
        "",
        "| scenario | signals | fixed | actuated | platform | platform vs fixed "
        "| platform vs actuated | teleports f/a/p |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for scenario, by in evals.items():
        f, a, p = (med(by[c], "mean_time_loss_s") for c in CONTROLLERS)
        tele = "/".join(f"{med(by[c], 'teleports'):g}" for c in CONTROLLERS)
        tag = " (tuned)" if scenario == TUNED_ON else ""
        lines.append(
            f"| {scenario}{tag} | {by['fixed'][0]['signals']} | {f:.1f} | {a:.1f} | {p:.1f} "
            f"| {ratio_pct(p, f)} | {ratio_pct(p, a)} | {tele} |"
        )
    lines += [
        "",
        "twin emergency (fixed-time background): median travel time of the emergency vehicle",
        "",
        "| scenario | signals on route | without | with pre-emption | reduction |",
        "|---|---|---|---|---|",
    ]
    for scenario, runs in emergencies.items():
        wo, wi = med(runs, "travel_time_s_without"), med(runs, "travel_time_s_with")
        lines.append(
            f"| {scenario} | {med(runs, 'signals_on_route'):g} | {wo:.1f} s | {wi:.1f} s "
            f"| {med(runs, 'reduction') * 100:.0f}% |"
        )
    print("\n".join(lines))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"twin-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps({"evaluate": evals, "emergency": emergencies}, indent=1))
    say(f"results: {out} ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
