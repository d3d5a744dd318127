"""The routing bench: private stack, seeded city, live speeds, a closure, timed pairs.

Setup (not timed): a private stack under `.stack-bench/<id>/` (purged at the end), migrated and
seeded with the demo city; every traffic detector gets a latest speed replayed by the simulator
for a weekday 08:00 (the morning peak), stamped now; the segment most used by the sample's
free-flow routes is closed in both directions; `pairs` incidents at random intersections and
`pairs` units at random intersections are created.

Timed, interleaved pair by pair so that both see the same machine load:
- ours: `route_unit(alternatives=3)`, the console's call: both ends, cost snapshot (live
  speeds and closures) with snapping, one pgRouting call for the source's and the target's
  shortest-path trees, the best route plus up to three via-node alternatives read off them,
  geometry and signals;
- ours-1: `route_unit(alternatives=0)`, the best route only (the same candidate search, since
  the best route is the lowest-ETA candidate of the same pool);
- baseline: `shortest_path` (one free-flow pgr_dijkstra, no live costs, no closures, no
  geometry) between the same snapped intersections.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import pct, private_stack, say

WARMUP = 20


def _peak_start() -> float:
    """Wall seconds of the most recent Tuesday 08:00 UTC: the simulator's morning peak."""
    now = datetime.now(UTC).replace(hour=8, minute=0, second=0, microsecond=0)
    while now.weekday() != 1:
        now -= timedelta(days=1)
    return now.timestamp()


def _set_live_speeds(session: Any) -> int:
    """Give every traffic detector a latest speed from the simulator's peak-hour model."""
    import orjson
    from sqlalchemy import text

    from shared.sensing.models import SensorType
    from shared.simulate.service import generate_messages, load_fleet

    fleet = [f for f in load_fleet(session=session) if f.sensor_type is SensorType.traffic]
    gen = generate_messages(fleet=fleet, start=_peak_start(), rate_per_s=100.0, seed=1)
    speeds: dict[str, float] = {}
    while len(speeds) < len(fleet):
        topic, payload = next(gen)
        body = orjson.loads(payload)
        if "speed" in body:
            speeds[topic.rsplit("/", 1)[-1]] = float(body["speed"])
    now = datetime.now(UTC)
    for code, speed in speeds.items():
        session.execute(
            text(
                "INSERT INTO datastream_latest (datastream_id, phenomenon_time, result, "
                "updated_at) SELECT d.id, :t, :v, :t FROM datastream d "
                "JOIN thing t ON t.id = d.thing_id JOIN observed_property op "
                "ON op.id = d.observed_property_id WHERE t.code = :c AND op.code = 'speed' "
                "ON CONFLICT (datastream_id) DO UPDATE SET result = EXCLUDED.result, "
                "phenomenon_time = EXCLUDED.phenomenon_time, updated_at = EXCLUDED.updated_at"
            ),
            {"t": now, "v": speed, "c": code},
        )
    return len(speeds)


def _setup(session: Any, *, pairs: int, seed: int) -> dict[str, Any]:
    from sqlalchemy import func, select

    from shared.geo import lonlat
    from shared.incidents.models import UnitKind
    from shared.incidents.schemas import IncidentCreate, UnitCreate
    from shared.incidents.service import create_incident, create_unit
    from shared.roads.models import Intersection
    from shared.roads.service import shortest_path
    from shared.traffic.schemas import RoadClosureCreate
    from shared.traffic.service import close_road, nearest_intersections

    rng = random.Random(seed)
    live = _set_live_speeds(session)
    nodes = session.execute(select(Intersection.id, Intersection.geom)).all()
    points = {n: lonlat(g) for n, g in nodes}
    ids = sorted(points)
    units, incidents = [], []
    kinds = list(UnitKind)
    for i in range(pairs):
        ulon, ulat = points[rng.choice(ids)]
        units.append(
            create_unit(
                session=session,
                data=UnitCreate(code=f"BENCH-{i}", kind=kinds[i % 3], lon=ulon, lat=ulat),
            ).id
        )
        ilon, ilat = points[rng.choice(ids)]
        incidents.append(
            create_incident(
                session=session,
                data=IncidentCreate(type="bench", priority=1 + i % 5, lon=ilon, lat=ilat),
            ).id
        )
    session.flush()
    # Snap once, as route_unit does first; the baseline routes between the same nodes.
    from shared.incidents.models import Incident, Unit

    snapped = []
    for u, inc in zip(units, incidents, strict=True):
        ulon, ulat = lonlat(session.get(Unit, u).position)
        ilon, ilat = lonlat(session.get(Incident, inc).geom)
        s = nearest_intersections(session=session, lon=ulon, lat=ulat, k=1)[0]
        t = nearest_intersections(session=session, lon=ilon, lat=ilat, k=1)[0]
        snapped.append((s, t))
    # Close the segment the free-flow routes use most, so the closure matters.
    use: dict[int, int] = {}
    for s, t in snapped[:100]:
        route = shortest_path(session=session, source_id=s, target_id=t)
        for leg in route.legs if route else []:
            use[leg.segment_id] = use.get(leg.segment_id, 0) + 1
    busiest = max(use, key=lambda k: (use[k], -k))
    closures = close_road(
        session=session,
        data=RoadClosureCreate(segment_id=busiest, reason="bench closure", created_by="bench"),
    )
    session.flush()
    n_nodes = session.scalar(select(func.count()).select_from(Intersection))
    return {
        "units": units,
        "incidents": incidents,
        "snapped": snapped,
        "live_detectors": live,
        "closed_segments": [c.segment_id for c in closures],
        "closure_route_uses": use[busiest],
        "intersections": n_nodes,
    }


def _time_pairs(session: Any, ctx: dict[str, Any]) -> dict[str, list[float]]:
    from sqlalchemy import text

    from shared.incidents.service import route_unit
    from shared.roads.service import shortest_path
    from shared.traffic.schemas import NoRouteError

    found: dict[int, int] = ctx.setdefault("alternatives_found", {})

    def ours(u: int, i: int, alternatives: int) -> None:
        try:
            r = route_unit(session=session, unit_id=u, incident_id=i, alternatives=alternatives)
        except NoRouteError:
            ctx["unreachable"] = ctx.get("unreachable", 0) + 1
            return
        if alternatives:
            found[len(r.alternatives)] = found.get(len(r.alternatives), 0) + 1

    calls = {
        "route_unit (3 alternatives)": lambda u, i, s, t: ours(u, i, 3),
        "route_unit (best only)": lambda u, i, s, t: ours(u, i, 0),
        "baseline shortest_path": lambda u, i, s, t: shortest_path(
            session=session, source_id=s, target_id=t
        ),
    }
    rows = list(zip(ctx["units"], ctx["incidents"], ctx["snapped"], strict=True))
    for u, i, (s, t) in rows[:WARMUP]:
        for call in calls.values():
            call(u, i, s, t)
    times: dict[str, list[float]] = {name: [] for name in calls}
    # CPU per call, which the machine's load does not inflate: this process's CPU time plus
    # the database backend's (/proc, in clock ticks), summed per variant over the rep.
    backend = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    cpu = ctx.setdefault("cpu_s", {name: [0.0, 0] for name in calls})
    for k, (u, i, (s, t)) in enumerate(rows):
        # Rotate the order so that no variant always runs first (cache effects).
        names = list(calls)
        names = names[k % 3 :] + names[: k % 3]
        for name in names:
            b0, c0 = _backend_cpu_s(backend), time.process_time()
            t0 = time.perf_counter()
            calls[name](u, i, s, t)
            times[name].append((time.perf_counter() - t0) * 1000.0)
            cpu[name][0] += time.process_time() - c0 + _backend_cpu_s(backend) - b0
            cpu[name][1] += 1
    return times


def _backend_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a local process (Linux /proc; 0 where unreadable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(*, pairs: int, reps: int, seed: int) -> dict[str, Any]:
    """Run the bench and return per-rep percentiles and their medians (ms)."""
    t_wall = time.monotonic()
    with private_stack() as state:
        from sqlalchemy.orm import Session

        from shared.db import engine_for, session_scope
        from shared.migrations.runner import upgrade
        from shared.seed.demo import seed_demo
        from shared.sensing.service import ensure_partitions_around_now

        upgrade(database_url=state.database_url)
        engine = engine_for(state.database_url)
        with session_scope(engine) as s:
            ensure_partitions_around_now(session=s, ahead_days=1)
            report = seed_demo(session=s)
        say(f"seeded: {report.counts}")
        per_rep: list[dict[str, dict[str, float]]] = []
        with engine.connect() as conn:
            outer = conn.begin()
            session = Session(bind=conn)
            ctx = _setup(session, pairs=pairs, seed=seed)
            say(
                f"{pairs} pairs, {ctx['live_detectors']} detectors with live speeds, "
                f"closed segments {ctx['closed_segments']} "
                f"(on {ctx['closure_route_uses']} of 100 sample routes)"
            )
            loads: list[float] = []
            for rep in range(reps):
                times = _time_pairs(session, ctx)
                # Runnable processes over the last minute: 2 cores, shared with other work.
                loads.append(os.getloadavg()[0])
                summary = {
                    name: {
                        "p50_ms": statistics.median(v),
                        "p99_ms": pct(v, 99),
                        "n": float(len(v)),
                    }
                    for name, v in times.items()
                }
                per_rep.append(summary)
                say(
                    f"rep {rep + 1}/{reps} (load {loads[-1]:.1f}): "
                    + "; ".join(
                        f"{n}: p50 {m['p50_ms']:.2f} ms, p99 {m['p99_ms']:.2f} ms"
                        for n, m in summary.items()
                    )
                )
            session.close()
            outer.rollback()
        engine.dispose()
        engine_for.cache_clear()
    names = list(per_rep[0])
    medians = {
        name: {
            "p50_ms": statistics.median(r[name]["p50_ms"] for r in per_rep),
            "p99_ms": statistics.median(r[name]["p99_ms"] for r in per_rep),
        }
        for name in names
    }
    return {
        "pairs": pairs,
        "reps": reps,
        "per_rep": per_rep,
        "medians": medians,
        "unreachable": ctx.get("unreachable", 0),
        # How many alternatives the 3-alternative calls returned (all reps, warm-up included).
        "alternatives_found": dict(sorted(ctx.get("alternatives_found", {}).items())),
        # Mean CPU ms per call (client process + database backend), over all timed reps.
        "cpu_ms_per_call": {n: 1000.0 * c / max(1, k) for n, (c, k) in ctx["cpu_s"].items()},
        "load_avg_1min": loads,
        "intersections": ctx["intersections"],
        "wall_s": time.monotonic() - t_wall,
    }


def table(res: dict[str, Any]) -> str:
    """Render the medians with the ratio against the baseline."""
    med = res["medians"]
    base = med["baseline shortest_path"]
    lines = [
        f"routing on the seeded city ({res['intersections']} intersections), {res['pairs']} "
        f"random unit/incident pairs x {res['reps']} reps; medians of the per-rep percentiles; "
        f"load average {statistics.median(res['load_avg_1min']):.1f} on {os.cpu_count()} CPUs",
        f"{'variant':<30} {'p50 ms':>8} {'p99 ms':>8} {'p50 x base':>11} {'p99 x base':>11} "
        f"{'CPU ms/call':>12}",
    ]
    for name, m in med.items():
        lines.append(
            f"{name:<30} {m['p50_ms']:>8.2f} {m['p99_ms']:>8.2f} "
            f"{m['p50_ms'] / base['p50_ms']:>11.2f} {m['p99_ms'] / base['p99_ms']:>11.2f} "
            f"{res['cpu_ms_per_call'][name]:>12.2f}"
        )
    ours = med["route_unit (3 alternatives)"]["p99_ms"]
    verdict = "meets" if ours <= 20.0 else "misses"
    lines.append(f"target: route_unit p99 <= 20 ms -> {verdict} ({ours:.2f} ms)")
    found = res["alternatives_found"]
    lines.append(
        "alternatives returned by route_unit (3 alternatives): "
        + ", ".join(f"{k}: {v} calls" for k, v in found.items())
    )
    if res["unreachable"]:
        lines.append(f"{res['unreachable']} calls found no route (counted in the times)")
    return "\n".join(lines)
