"""Where a worker's per-batch time goes: the ingest task body and the Celery round trip.

    .venv/bin/python -m bench.ingest.profile_task [--sizes 10,170,1000] [--batches 200] [--celery]

Starts a private stack (fsync on, as the bench), migrates and seeds the demo city, then times
`process_batch` on the bench's background datastreams for each batch size (wall and CPU per
batch, medians) and prints a cProfile of the middle size. With --celery it also starts one
`smartcity worker` and times the bridge's sink (send_task + wait for the stored confirmation),
which adds Celery's and Redis's fixed cost. Stops and purges the stack at the end.
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

from bench.common import private_stack, seed_city

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from shared.sensing.schemas import DatastreamKey
    from shared.stack import StackState


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10,170,1000")
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--celery", action="store_true")
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
                [exe, "worker", "-c", "2", "--queues", "ingest,alerts", "--loglevel", "warning"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, "SMARTCITY_ENV": "development"},
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
            print(f"\nsink round trip (send_task + confirm), {args.batches} batches each")
            print(f"{'size':>6} {'wall ms p50':>12} {'wall ms p90':>12}")
            for n in sizes:
                walls = []
                for _ in range(args.batches):
                    b = batch(n)
                    w0 = time.perf_counter()
                    sink(b)
                    walls.append((time.perf_counter() - w0) * 1e3)
                walls.sort()
                print(f"{n:>6} {statistics.median(walls):>12.2f} "
                      f"{walls[int(len(walls) * 0.9)]:>12.2f}")  # fmt: skip
            getattr(sink, "close", lambda: None)()  # its confirmer thread, before Redis stops
    finally:
        if worker is not None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(30)


if __name__ == "__main__":
    main()
