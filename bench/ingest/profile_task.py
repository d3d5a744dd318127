"""Where a worker's per-batch time goes: the ingest task body and the Celery round trip.

    .venv/bin/python -m bench.ingest.profile_task [--sizes 10,170,1000] [--batches 200] [--celery]

Starts a private stack (fsync on, as the bench), migrates and seeds the demo city, then times
`process_batch` on the bench's background datastreams for each batch size (wall and CPU per
batch, medians) and prints a cProfile of the middle size. With --celery it also starts one
`smartcity worker` (solo pool, as the bench's bulk lane) and times the bridge's sink (send_task +
wait for the stored confirmation), with the CPU each side spends per batch: what Celery, kombu
and Redis add to the task body. Stops and purges the stack at the end.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from bench.common import REPO, private_stack, seed_city

if TYPE_CHECKING:
    import psutil
    from sqlalchemy import Engine

    from shared.sensing.schemas import DatastreamKey
    from shared.stack import StackState


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10,170,1000")
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--celery", action="store_true")
    ap.add_argument(
        "--pool",
        choices=("solo", "prefork"),
        default="solo",
        help="the --celery worker's pool (default solo, as the bench's bulk lane)",
    )
    ap.add_argument("--profile-size", type=int, default=0, help="default: the middle size")
    ap.add_argument("--sort", default="cumulative", help="cProfile order (tottime, ...)")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    with private_stack(fsync=True) as state:
        engine, keys = seed_city(state)
        _measure(args, sizes, state, engine, keys)


def _measure(args: argparse.Namespace, sizes: list[int], state: StackState, engine: Engine,
             keys: list[DatastreamKey]) -> None:  # fmt: skip
    from shared.config import get_settings
    from shared.ingest.schemas import Batch, Reading
    from shared.pipeline import process_batch

    worker: subprocess.Popen[bytes] | None = None
    try:
        clock = [time.time() - 60.0]

        def batch(n: int) -> Batch:
            readings = []
            for i in range(n):
                k = keys[i % len(keys)]
                clock[0] += 1e-5  # unique phenomenon times, as the bench's scheduled stamps
                lo = k.valid_min if k.valid_min is not None else 0.0
                readings.append(Reading(k.thing_code, k.metric, clock[0], lo + 1.0))
            return Batch(batch_id=uuid.uuid4().hex, received_at=time.time(), readings=readings)

        for _ in range(20):  # warm caches, connections, partitions
            process_batch(batch=batch(100), engine=engine)
        print(f"{'size':>6} {'wall ms p50':>12} {'cpu ms p50':>11} {'wall ms p90':>12}")
        for n in sizes:
            walls, cpus = [], []
            for _ in range(args.batches):
                b = batch(n)
                w0, c0 = time.perf_counter(), time.process_time()
                process_batch(batch=b, engine=engine)
                walls.append((time.perf_counter() - w0) * 1e3)
                cpus.append((time.process_time() - c0) * 1e3)
            walls.sort()
            print(f"{n:>6} {statistics.median(walls):>12.2f} {statistics.median(cpus):>11.2f} "
                  f"{walls[int(len(walls) * 0.9)]:>12.2f}")  # fmt: skip
        mid = args.profile_size or sizes[len(sizes) // 2]
        prof = cProfile.Profile()
        for _ in range(args.batches):
            b = batch(mid)
            prof.enable()
            process_batch(batch=b, engine=engine)
            prof.disable()
        print(f"\ncProfile of {args.batches} batches of {mid} ({args.sort}):")
        pstats.Stats(prof).sort_stats(args.sort).print_stats(30)

        if args.celery:
            from shared.tasks.celery_app import ingest_sink, make_celery

            exe = str(Path(sys.executable).with_name("smartcity"))
            log = (Path(state.root) / "worker.log").open("wb")
            worker = subprocess.Popen(
                [exe, "worker", "--pool", args.pool, "-c", "1" if args.pool == "solo" else "2",
                 "--queues", "ingest,alerts", "--loglevel", "warning"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                # PYTHONPATH: the worker runs this tree's `shared`, as the bench's children do (A/B
                # runs from a copy), not the one the editable install points at
                env={**os.environ, "SMARTCITY_ENV": "development", "PYTHONPATH": str(REPO)},
            )  # fmt: skip
            sink = ingest_sink(make_celery(get_settings()), redis_url=state.redis_url)
            for _ in range(3):
                deadline = time.monotonic() + 60
                while True:  # first tasks wait for the worker to boot
                    try:
                        sink(batch(10))
                        break
                    except Exception:
                        if time.monotonic() > deadline:
                            raise
            print(f"\nsink round trip (send_task + confirm), {args.batches} batches each; CPU")
            print("per batch: the sending side (this process) and the worker (all its processes)")
            print(f"{'size':>6} {'wall ms p50':>12} {'wall ms p90':>12} {'sender cpu ms':>14} "
                  f"{'worker cpu ms':>14}")  # fmt: skip
            tree = _process_tree(worker.pid)  # once: a scan of /proc per batch would cost more
            for n in sizes:
                walls = []
                cpu_sender = cpu_worker = 0.0
                for _ in range(args.batches):
                    b = batch(n)
                    w0, s0, k0 = time.perf_counter(), time.process_time(), _tree_cpu(tree)
                    sink(b)
                    walls.append((time.perf_counter() - w0) * 1e3)
                    cpu_sender += time.process_time() - s0
                    cpu_worker += _tree_cpu(tree) - k0
                walls.sort()
                print(f"{n:>6} {statistics.median(walls):>12.2f} "
                      f"{walls[int(len(walls) * 0.9)]:>12.2f} "
                      f"{cpu_sender * 1e3 / args.batches:>14.2f} "
                      f"{cpu_worker * 1e3 / args.batches:>14.2f}")  # fmt: skip
            getattr(sink, "close", lambda: None)()  # its confirmer thread, before Redis stops
    finally:
        if worker is not None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(30)


def _process_tree(pid: int) -> list[psutil.Process]:
    """Return a process and its children (a prefork pool's are fixed once it has started)."""
    import psutil

    proc = psutil.Process(pid)
    return [proc, *proc.children(recursive=True)]


def _tree_cpu(procs: list[psutil.Process]) -> float:
    """Return the CPU seconds (user + system) of these processes so far."""
    total = 0.0
    for proc in procs:
        t = proc.cpu_times()
        total += t.user + t.system
    return total


if __name__ == "__main__":
    main()
