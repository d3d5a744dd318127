"""PostgreSQL CPU per reading of the worker's batch statement: plain INSERT against ON CONFLICT.

    .venv/bin/python -m bench.ingest.statement_cost [--batch 5000] [--batches 60] [--rounds 3]

Starts a private stack (fsync on, as the bench), migrates and seeds the demo city, marks the
window-sum datastreams, then stores batches of new readings over the bench's background
datastreams through the worker's two statements (`_INSERT_NEW`, the usual path, and
`_INSERT_SAFE`, the ON CONFLICT DO NOTHING fallback, which every batch used before), after the
same binary COPY into staging. Rounds alternate the two so that the growing table costs both
alike. It reports the CPU of every PostgreSQL process (backend, WAL writer, checkpointer) per
reading and the wall time per batch, medians over rounds, and their ratio. Stops and purges the
stack at the end.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import TYPE_CHECKING

from bench.common import private_stack, seed_city

if TYPE_CHECKING:
    from shared.stack import StackState


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=5000, help="readings per batch (default 5000)")
    ap.add_argument("--batches", type=int, default=60, help="batches per round (default 60)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of each statement (default 3)")
    args = ap.parse_args()

    with private_stack(fsync=True) as state:
        engine, keys = seed_city(state)
        from shared.pipeline import sync_window_sums

        sync_window_sums(engine=engine)
        engine.dispose()
        _measure(args, state, [k.datastream_id for k in keys])


def _measure(args: argparse.Namespace, state: StackState, ids: list[int]) -> None:
    import psutil
    import psycopg

    from shared.db import normalise_url
    from shared.sensing import flows

    url = normalise_url(state.database_url).replace("postgresql+psycopg", "postgresql")
    conn = psycopg.connect(url)
    conn.execute(flows._STAGING_DDL)
    conn.commit()
    postmaster = psutil.Process(state.components["postgres"].pid)

    def pg_cpu() -> float:
        total = 0.0
        for p in [postmaster, *postmaster.children()]:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass  # a backend that ended meanwhile
        return total

    clock = [time.time() - 3600.0]

    def copy_rows(n: int) -> bytes:
        rows = bytearray(flows._COPY_HEADER)
        for i in range(n):
            clock[0] += 1e-5  # unique phenomenon times, as the bench's scheduled stamps
            us = flows.epoch_to_us(clock[0])
            rows += flows._COPY_ROW.pack(4, 4, i, 4, ids[i % len(ids)], 8,
                                         us - flows._PG_EPOCH_US, 8, 1.0 + i % 7)  # fmt: skip
        return bytes(rows + flows._COPY_TRAILER)

    statements = {"plain INSERT (now)": flows._INSERT_NEW,
                  "ON CONFLICT (before)": flows._INSERT_SAFE}  # fmt: skip
    cpu: dict[str, list[float]] = {k: [] for k in statements}
    wall: dict[str, list[float]] = {k: [] for k in statements}
    for r in range(args.rounds):
        for name, sql in statements.items():
            payloads = [copy_rows(args.batch) for _ in range(args.batches)]
            c0, w0 = pg_cpu(), time.perf_counter()
            for rows in payloads:
                with conn.cursor() as cur:
                    with cur.copy(
                        "COPY obs_staging (seq, datastream_id, phenomenon_time, result) "
                        "FROM STDIN (FORMAT BINARY)"
                    ) as copy:
                        copy.write(rows)
                    cur.execute(sql)
                    cur.fetchall()
                conn.commit()
            w1 = time.perf_counter()
            time.sleep(0.5)  # let the WAL writer finish this round's share
            c1 = pg_cpu()
            n = args.batch * args.batches
            cpu[name].append((c1 - c0) / n * 1e6)
            wall[name].append((w1 - w0) / args.batches * 1e3)
            print(f"round {r + 1} {name:22} PostgreSQL CPU {cpu[name][-1]:5.2f} us/reading, "
                  f"{wall[name][-1]:6.1f} ms/batch", flush=True)  # fmt: skip
    conn.close()
    ours, base = (statistics.median(cpu[k]) for k in statements)
    ours_w, base_w = (statistics.median(wall[k]) for k in statements)
    print(f"\nmedians over {args.rounds} rounds of {args.batches} batches of {args.batch}:")
    print(
        f"  PostgreSQL CPU per reading: {ours:.2f} us now, {base:.2f} us before "
        f"({ours / base:.2f}x)"
    )
    print(f"  wall per batch: {ours_w:.1f} ms now, {base_w:.1f} ms before ({ours_w / base_w:.2f}x)")


if __name__ == "__main__":
    main()
