"""PostgreSQL CPU per reading of the worker's two ways to store a batch.

    .venv/bin/python -m bench.ingest.statement_cost [--batch 5000] [--batches 60] [--rounds 3]

Starts a private stack (fsync on, as the bench), migrates and seeds the demo city, marks the
window-sum datastreams, then stores batches of new readings over the bench's background
datastreams both ways: the usual one (`_insert_direct`: binary COPY straight into
`observation`, then the latest states and per-minute sums from arrays) and the fallback
(binary COPY into the staging table, then `_INSERT_SAFE`, ON CONFLICT DO NOTHING, which every
batch took before 2026-12-07). Rounds alternate the two so that the growing table costs both
alike. It reports the CPU of every PostgreSQL process (backend, WAL writer, checkpointer) per
reading and the wall time per batch, medians over rounds, and their ratio. Stops and purges the
stack at the end.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import TYPE_CHECKING, Any

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

    def batch(n: int) -> tuple[bytes, bytes, dict[int, tuple[None, list[tuple[int, float]]]]]:
        """One batch both ways: staging rows (with seq), direct rows, and rows per datastream."""
        staged, direct = bytearray(flows._COPY_HEADER), bytearray(flows._COPY_HEADER)
        by_ds: dict[int, tuple[None, list[tuple[int, float]]]] = {}
        for i in range(n):
            clock[0] += 1e-5  # unique phenomenon times, as the bench's scheduled stamps
            us = flows.epoch_to_us(clock[0])
            ds, value = ids[i % len(ids)], 1.0 + i % 7
            staged += flows._COPY_ROW.pack(4, 4, i, 4, ds, 8, us - flows._PG_EPOCH_US, 8, value)
            direct += flows._COPY_ROW_DIRECT.pack(3, 4, ds, 8, us - flows._PG_EPOCH_US, 8, value)
            by_ds.setdefault(ds, (None, []))[1].append((us, value))
        return bytes(staged + flows._COPY_TRAILER), bytes(direct + flows._COPY_TRAILER), by_ds

    def store_direct(b: tuple[bytes, bytes, dict[int, Any]]) -> None:
        flows._insert_direct(conn, b[1], b[2])

    def store_safe(b: tuple[bytes, bytes, dict[int, Any]]) -> None:
        with conn.cursor() as cur:
            with cur.copy(
                "COPY obs_staging (seq, datastream_id, phenomenon_time, result) "
                "FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.write(b[0])
            cur.execute(flows._INSERT_SAFE)
            cur.fetchall()

    ways = {"direct COPY (now)": store_direct, "staging + ON CONFLICT": store_safe}
    cpu: dict[str, list[float]] = {k: [] for k in ways}
    wall: dict[str, list[float]] = {k: [] for k in ways}
    for r in range(args.rounds):
        for name, store in ways.items():
            payloads = [batch(args.batch) for _ in range(args.batches)]
            c0, w0 = pg_cpu(), time.perf_counter()
            for b in payloads:
                store(b)
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
    ours, base = (statistics.median(cpu[k]) for k in ways)
    ours_w, base_w = (statistics.median(wall[k]) for k in ways)
    print(f"\nmedians over {args.rounds} rounds of {args.batches} batches of {args.batch}:")
    print(
        f"  PostgreSQL CPU per reading: {ours:.2f} us direct, {base:.2f} us staging + ON CONFLICT "
        f"({ours / base:.2f}x)"
    )
    ratio = ours_w / base_w
    print(f"  wall per batch: {ours_w:.1f} ms direct, {base_w:.1f} ms staging ({ratio:.2f}x)")


if __name__ == "__main__":
    main()
