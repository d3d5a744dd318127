"""`python -m bench.eta`: fit the ETA model's junction, turn and start-up delays
(`shared.traffic.eta`) to lone emergency vehicles in SUMO, and report the ETA error before
(link-time sum, what route_unit returned) and after, on networks the fit did not see.

For each network: random origin/destination edges, SUMO's fastest route between them
(``simulation.findRoute`` for the emergency type), one vClass-emergency vehicle at a time
(the twin's own type, `shared.twin.emergency.add_emergency_type`) on an otherwise empty
network, departing at 0 m/s from the start of its first edge and stopping at the end of its
last (``arrivalSpeed=0``), as a unit leaves its station and stops at the incident. Every
signal is held all-green, as a pre-empted run finds them. Recorded: the travel time and the
moment the vehicle crossed the end of each edge (the stop line of the junction that follows).

The model's features for the same route come from the network read with sumolib exactly as
the seed imports it into the road graph (`shared.seed.demo`): segment = edge, its length,
speed and shape; junction = SUMO junction with its type. Non-negative least squares fits the
arrival and every stop-line time of every route at once, for each stop-line share on a grid.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import common

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results"
FIT_ON = ("helsinki", "grid", "spider", "random")
HELD_OUT = ("adlershof", "braunschweig")
_VEH = "eta_probe"
KINDS_ = ("signal", "priority", "yield", "through")  # shared.traffic.eta.KINDS


def say(msg: str) -> None:
    common.say(msg, stream=sys.stderr)  # stdout carries the JSON


def network(name: str) -> Path:
    """Return the .net.xml of a named network (built into the twin's cache when needed)."""
    from shared.seed.demo import adlershof_net_path
    from shared.twin.demand import BUILTIN, build
    from shared.twin.engine import sumo_binary
    from shared.twin.scenario import cache_root

    if name == "adlershof":
        return adlershof_net_path()
    if name in BUILTIN:
        return build(BUILTIN[name]).parent / "net.net.xml"
    folder = cache_root() / "bench-eta"
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{name}.net.xml"
    if out.is_file():
        return out
    # Generated networks: a right-before-left grid, a spider and a random network with the
    # signals netconvert guesses, mixed speeds so the turn terms see more than one speed.
    common = ["--no-warnings", "--seed", "7", "-o", str(out)]
    args = {
        "grid": ["--grid", "--grid.number", "7", "--grid.length", "150",
                 "--default-junction-type", "right_before_left", "--default.speed", "11.11"],
        "spider": ["--spider", "--spider.arm-number", "7", "--spider.circle-number", "6",
                   "--spider.space-radius", "120", "--default.lanenumber", "2",
                   "--tls.guess", "--default.speed", "13.89"],
        "random": ["--rand", "--rand.iterations", "250", "--rand.max-distance", "300",
                   "--rand.min-distance", "80", "--tls.guess", "--default.speed", "16.67",
                   "--rand.random-lanenumber"],
    }[name]  # fmt: skip
    subprocess.run([sumo_binary("netgenerate"), *args, *common], check=True, capture_output=True)
    return out


def _neighbours(node: Any) -> int:
    """How many junctions the node's road edges lead to or come from (as the road graph has it)."""
    from shared.seed.demo import ROAD_VCLASSES

    def road(e: Any) -> bool:
        return any(e.allows(vc) for vc in ROAD_VCLASSES)

    ends = {e.getFromNode().getID() for e in node.getIncoming() if road(e)}
    ends |= {e.getToNode().getID() for e in node.getOutgoing() if road(e)}
    return len(ends)


def _hops(net: Any, edges: list[str]) -> list[Any]:
    """The ETA model's view of a SUMO route, as the road graph would hold it."""
    from shared.traffic.eta import Hop, bearing_deg, junction_kind

    out = []
    for eid in edges:
        e = net.getEdge(eid)
        shape = [p[:2] for p in e.getShape()]
        node = e.getToNode()
        out.append(
            Hop(
                link_s=e.getLength() / e.getSpeed(),
                speed_ms=e.getSpeed(),
                heading_in_deg=bearing_deg(*shape[0], *shape[1]),
                heading_out_deg=bearing_deg(*shape[-2], *shape[-1]),
                kind=junction_kind(
                    signalised=False, node_type=node.getType(), neighbours=_neighbours(node)
                ),
            )
        )
    return out


def drive(path: Path, *, routes: int, seed: int) -> list[dict[str, Any]]:
    """Drive ``routes`` lone emergency vehicles one after another; return their records."""
    import sumolib

    from shared.seed.demo import ROAD_VCLASSES
    from shared.twin.emergency import add_emergency_type
    from shared.twin.engine import running

    net = sumolib.net.readNet(str(path), withInternal=False)
    road = [
        e.getID()
        for e in net.getEdges()
        if any(e.allows(vc) for vc in ROAD_VCLASSES) and e.allows("emergency")
    ]
    args = ["-n", str(path), "--begin", "0", "--seed", str(seed), "--no-step-log", "true",
            "--no-warnings", "true", "--time-to-teleport", "120", "--xml-validation", "never",
            "--duration-log.disable", "true"]  # fmt: skip
    rng = random.Random(seed)
    records: list[dict[str, Any]] = []
    with running(args) as sim:
        add_emergency_type(sim)
        vtype = "twin_emergency_type"
        for tls in sim.trafficlight.getIDList():
            n = len(sim.trafficlight.getRedYellowGreenState(tls))
            sim.trafficlight.setRedYellowGreenState(tls, "G" * n)
        tries = 0
        while len(records) < routes and tries < routes * 20:
            tries += 1
            a, b = rng.choice(road), rng.choice(road)
            if a == b:
                continue
            try:
                found = sim.simulation.findRoute(a, b, vType=vtype)
            except sim.TraCIException:
                continue
            edges = list(found.edges)
            if len(edges) < 3 or found.length < 300:
                continue
            hops = _hops(net, edges)
            link = sum(h.link_s for h in hops)
            rid = f"r{tries}"
            sim.route.add(rid, edges)
            sim.vehicle.add(_VEH, rid, typeID=vtype, depart="now", departLane="best",
                            departPos="base", departSpeed="0", arrivalSpeed="0")  # fmt: skip
            start = sim.simulation.getTime()
            departed = None
            idx, prev = 0, (start, 0.0, 0.0, 1.0)
            crossed: list[float] = []
            teleported = False
            while sim.simulation.getTime() < start + 5 * link + 300:
                sim.simulationStep()
                now = sim.simulation.getTime()
                if sim.simulation.getStartingTeleportIDList():
                    teleported = True
                if _VEH in sim.simulation.getArrivedIDList():
                    break
                if _VEH not in sim.vehicle.getIDList():
                    continue
                if departed is None:
                    departed = sim.vehicle.getDeparture(_VEH)
                on = sim.vehicle.getRoadID(_VEH)
                # Edges whose end the vehicle has crossed since the last step: all before the
                # one it is on now, or up to the last one seen while it is inside a junction.
                done = edges.index(on, idx) if on in edges[idx:] else idx + 1
                while len(crossed) < min(done, len(edges) - 1):
                    t0, pos, speed, length = prev
                    if len(crossed) == idx:  # the edge last seen: interpolate within the step
                        crossed.append(min(now, t0 + max(0.0, length - pos) / max(speed, 0.1)))
                    else:  # an edge shorter than one step's travel
                        crossed.append(now)
                if on in edges[idx:]:
                    idx = done
                    lane = sim.vehicle.getLaneID(_VEH)
                    prev = (now, sim.vehicle.getLanePosition(_VEH), sim.vehicle.getSpeed(_VEH),
                            sim.lane.getLength(lane))  # fmt: skip
            else:
                sim.vehicle.remove(_VEH)
                sim.simulationStep()
                continue
            if teleported or departed is None or len(crossed) != len(edges) - 1:
                continue
            travel = sim.simulation.getTime() - departed
            records.append({
                "edges": edges,
                "hops": [dataclasses.asdict(h) for h in hops],
                "link_s": link,
                "travel_s": travel,
                "stop_line_s": [c - departed for c in crossed],
            })  # fmt: skip
    return records


COLUMNS = ("link", "start", "stop", *(f"base_{k}" for k in KINDS_), "turn_right_per_ms",
           "turn_left_per_ms", "turn_right", "turn_left")  # fmt: skip


def _junctions(hops: list[Any]) -> list[list[float]]:
    """Each junction's features in the order of COLUMNS (its delay is linear in them)."""
    from shared.traffic.eta import junction_features

    out = []
    for a, b in itertools.pairwise(hops):
        f = junction_features(a, b)
        row = dict.fromkeys(COLUMNS, 0.0)
        row[f"base_{f.kind}"] = 1.0
        row["turn_right_per_ms"], row["turn_left_per_ms"] = f.right, f.left
        row["turn_right"], row["turn_left"] = float(f.right_turn), float(f.left_turn)
        out.append([row[c] for c in COLUMNS])
    return out


def _rows(record: dict[str, Any], share: float) -> tuple[list[list[float]], list[float]]:
    """The record's observations as linear rows (features, seconds beyond the link times): its
    arrival, and each stop line (the junctions before it, ``share`` of its own)."""
    from shared.traffic.eta import Hop

    hops = [Hop(**h) for h in record["hops"]]
    junctions = _junctions(hops)
    width = len(COLUMNS)
    sums = [0.0] * width
    xs, ys = [], []
    link = 0.0
    for j, seen in enumerate(record["stop_line_s"]):
        link += hops[j].link_s
        row = [s + share * o for s, o in zip(sums, junctions[j], strict=True)]
        row[0], row[1], row[2] = link, hops[0].speed_ms, 0.0
        xs.append(row)
        ys.append(seen - link)
        sums = [s + o for s, o in zip(sums, junctions[j], strict=True)]
    total = list(sums)
    total[0], total[1], total[2] = record["link_s"], hops[0].speed_ms, hops[-1].speed_ms
    xs.append(total)
    ys.append(record["travel_s"] - record["link_s"])
    return xs, ys


def fit(records: list[dict[str, Any]]) -> Any:
    """Fit every parameter to the arrivals and the stop-line times at once: NNLS for each
    stop-line share on a 0.05 grid, keeping the share with the least squared error."""
    import numpy as np
    from scipy.optimize import nnls

    from shared.traffic.eta import EtaParameters

    best: tuple[float, float, Any] = (math.inf, 0.0, None)
    for share in np.linspace(0.0, 1.0, 21):
        xs: list[list[float]] = []
        ys: list[float] = []
        for r in records:
            x, y = _rows(r, float(share))
            xs += x
            ys += y
        coef, residual = nnls(np.array(xs), np.array(ys), maxiter=10_000)
        if residual < best[0]:
            best = (float(residual), float(share), coef)
    _res, share, values = best
    coef = dict(zip(COLUMNS, (float(c) for c in values), strict=True))
    return EtaParameters(
        link_factor=coef["link"],
        start_s_per_ms=coef["start"],
        stop_s_per_ms=coef["stop"],
        base_s={k: coef[f"base_{k}"] for k in KINDS_},
        turn_right_s_per_ms=coef["turn_right_per_ms"],
        turn_left_s_per_ms=coef["turn_left_per_ms"],
        turn_right_s=coef["turn_right"],
        turn_left_s=coef["turn_left"],
        stop_line_share=share,
    )


def errors(records: list[dict[str, Any]], params: Any) -> dict[str, Any]:
    """Absolute ETA errors before (link-time sum) and after (the model), totals and stop lines."""
    from shared.traffic.eta import Hop, route_eta

    before, after, sb, sa, rb, ra = [], [], [], [], [], []
    for r in records:
        hops = [Hop(**h) for h in r["hops"]]
        est = route_eta(hops, params)
        before.append(abs(r["travel_s"] - r["link_s"]))
        after.append(abs(r["travel_s"] - est.eta_s))
        rb.append(r["travel_s"] / r["link_s"])
        ra.append(r["travel_s"] / est.eta_s)
        link = 0.0
        for j, seen in enumerate(r["stop_line_s"]):
            link += hops[j].link_s
            if hops[j].kind == "signal":
                sb.append(abs(seen - link))
                sa.append(abs(seen - est.stop_line_s[j]))

    def summary(v: list[float]) -> dict[str, float]:
        if not v:
            return {"n": 0}
        return {
            "n": len(v),
            "median": round(statistics.median(v), 1),
            "p90": round(common.pct(v, 90), 1),
        }

    return {
        "routes": len(records),
        "actual_over_link_median": round(statistics.median(rb), 2),
        "actual_over_model_median": round(statistics.median(ra), 2),
        "total_before_s": summary(before),
        "total_after_s": summary(after),
        "signal_stop_line_before_s": summary(sb),
        "signal_stop_line_after_s": summary(sa),
    }


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.eta", description=__doc__)
    ap.add_argument("--routes", type=int, default=150, help="lone runs per network and seed")
    ap.add_argument("--seeds", default="11,12", help="route samples (and SUMO seeds), pooled")
    ap.add_argument("--fit-on", default=",".join(FIT_ON))
    ap.add_argument("--held-out", default=",".join(HELD_OUT))
    args = ap.parse_args()
    started = time.perf_counter()
    fit_on, held_out = args.fit_on.split(","), args.held_out.split(",")
    data: dict[str, list[dict[str, Any]]] = {}
    for name in [*fit_on, *held_out]:
        path = network(name)
        say(f"{name}: {args.routes} lone emergency runs on {path}")
        seeds = [int(x) for x in args.seeds.split(",")]
        data[name] = [r for seed in seeds for r in drive(path, routes=args.routes, seed=seed)]
    params = fit([r for n in fit_on for r in data[n]])
    from shared.traffic.eta import ETA_PARAMETERS

    report = {
        "fitted_on": fit_on,
        "held_out": held_out,
        "parameters": {
            k: round(v, 4) if isinstance(v, float) else {a: round(b, 3) for a, b in v.items()}
            for k, v in params.__dict__.items()
        },
        "errors_fitted": {n: errors(data[n], params) for n in fit_on},
        "errors_held_out": {n: errors(data[n], params) for n in held_out},
        "errors_held_out_with_shipped_parameters": {
            n: errors(data[n], ETA_PARAMETERS) for n in held_out
        },
        "wall_s": round(time.perf_counter() - started, 1),
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"eta-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    print()
    print(
        "| network | set | routes | actual/link | actual/model | |err| before p50/p90 s "
        "| |err| after p50/p90 s | signal stop lines before p50/p90 | after p50/p90 |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for group, key in (("fit", "errors_fitted"), ("held out", "errors_held_out")):
        for n, e in report[key].items():
            b, a = e["total_before_s"], e["total_after_s"]
            sb, sa = e["signal_stop_line_before_s"], e["signal_stop_line_after_s"]
            cells = [
                n, group, str(e["routes"]), f"{e['actual_over_link_median']:.2f}",
                f"{e['actual_over_model_median']:.2f}",
                f"{b['median']}/{b['p90']}", f"{a['median']}/{a['p90']}",
                f"{sb.get('median', '-')}/{sb.get('p90', '-')} (n={sb['n']})",
                f"{sa.get('median', '-')}/{sa.get('p90', '-')}",
            ]  # fmt: skip
            print("| " + " | ".join(cells) + " |")
    print(f"\nwritten to {out.relative_to(REPO)}", file=sys.stderr)


if __name__ == "__main__":
    main()
