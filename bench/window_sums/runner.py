"""The window-sums bench: private stack, a day of PM2.5 history, timed evaluations and batches.

Setup (not timed, but reported): a private stack under `.stack-bench/<id>/` (purged at the
end), migrated and seeded with the demo city; a day of history for every datastream (one reading
each `every_s` seconds, in time order across datastreams as ingestion writes them, with one
INSERT ... SELECT); the PM2.5 datastreams (what the seeded 24-h rule watches) marked,
armed and rebuilt (`sync_window_sums`, timed: the one-off cost of a new window rule).

Timed, interleaved call by call so that both variants see the same machine load:
- evaluation: `raw` is the query a rule ran before the sums (and still runs for a datastream not
  rebuilt yet), `sums` is `window_means`, both for every PM2.5 datastream over 24 h;
- write: one committed `ingest_batch` of `batch` readings spread over every datastream of the
  city, with no marker (`unmarked`) and with every datastream marked (`all_marked`).
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from bench.common import pct, private_stack, say

DAY = 86_400


def _history(engine: Any, ids: list[int], every_s: float) -> int:
    from sqlalchemy import text

    with engine.begin() as conn:
        # In time order across datastreams, as ingestion writes them: one datastream's day is
        # spread over the whole partition, which is what makes the raw scan slow. A smooth daily
        # cycle plus the datastream id, so means differ per datastream.
        return conn.execute(
            text(
                "INSERT INTO observation (datastream_id, phenomenon_time, result) "
                "SELECT d, now() - make_interval(secs => i * :every), "
                "20 + 10 * sin(i * :every / 13751.0) + d % 7 "
                "FROM generate_series(:n, 1, -1) AS i, unnest(CAST(:ids AS int[])) AS d "
                "ON CONFLICT DO NOTHING"
            ),
            {"ids": ids, "every": every_s, "n": int(DAY / every_s)},
        ).rowcount


def _time_eval(engine: Any, ids: list[int], n: int) -> dict[str, list[float]]:

    from shared.db import session_scope
    from shared.sensing.service import raw_window_means, window_means

    out: dict[str, list[float]] = {"raw": [], "sums": []}
    for _ in range(n):
        for name in ("raw", "sums"):
            with session_scope(engine) as s:
                now = datetime.now(UTC)
                t = time.perf_counter()
                if name == "raw":
                    got = raw_window_means(session=s, ids=ids, window_s=DAY, now=now)
                else:
                    got = window_means(session=s, ids=ids, window_s=DAY, now=now)
                out[name].append((time.perf_counter() - t) * 1000)
                assert len(got) == len(ids), (name, len(got))
    return out


def _readings(keys: list[Any], batch: int, ts: float) -> list[Any]:
    from shared.ingest.schemas import Reading

    out = []
    for i in range(batch):
        k = keys[i % len(keys)]
        lo = k.valid_min if k.valid_min is not None else 0.0
        hi = k.valid_max if k.valid_max is not None else lo + 100.0
        # Distinct times per datastream within and across batches (1 ms apart).
        out.append(Reading(k.thing_code, k.metric, ts + i / len(keys) * 1e-3, (lo + hi) / 2))
    return out


def _time_write(engine: Any, keys: list[Any], batch: int, n: int) -> dict[str, list[float]]:
    from sqlalchemy import text

    from shared.db import session_scope
    from shared.ingest.schemas import Batch
    from shared.sensing.flows import DatastreamIndex, ingest_batch

    index = DatastreamIndex()
    out: dict[str, list[float]] = {"unmarked": [], "all_marked": []}
    ids = [k.datastream_id for k in keys]
    base = time.time() - 1.5 * DAY  # before the history: no clash with its rows
    step = 0
    for _ in range(n):
        for name in ("unmarked", "all_marked"):
            with session_scope(engine) as s:
                s.execute(text("DELETE FROM window_sum_stream"))
                if name == "all_marked":
                    s.execute(
                        text(
                            "INSERT INTO window_sum_stream (datastream_id, window_s, ready) "
                            "SELECT unnest(CAST(:ids AS int[])), 86400, true"
                        ),
                        {"ids": ids},
                    )
            step += 1
            b = Batch(batch_id=uuid.uuid4().hex, received_at=time.time(),
                      readings=_readings(keys, batch, base + step * 0.1))  # fmt: skip
            t = time.perf_counter()
            with session_scope(engine) as s:
                res = ingest_batch(session=s, batch=b, index=index)
            out[name].append((time.perf_counter() - t) * 1000)
            assert res.result.stored == batch and res.result.dead_lettered == 0, res.result
    return out


def run(*, every_s: float, batch: int, reps: int, n: int) -> dict[str, Any]:
    """Run the bench and return per-rep medians and their medians (ms)."""
    with private_stack() as state:
        from sqlalchemy import text

        from shared.db import engine_for, session_scope
        from shared.migrations.runner import upgrade
        from shared.pipeline import sync_window_sums
        from shared.seed.demo import seed_demo
        from shared.sensing.service import ensure_partitions_around_now, load_datastream_keys

        upgrade(database_url=state.database_url)
        engine = engine_for(state.database_url)
        with session_scope(engine) as s:
            ensure_partitions_around_now(session=s, ahead_days=1, back_days=2)
            seed_demo(session=s)
        with session_scope(engine) as s:
            keys = load_datastream_keys(session=s)
        pm25 = sorted(k.datastream_id for k in keys if k.metric == "pm25")
        t = time.monotonic()
        rows = _history(engine, [k.datastream_id for k in keys], every_s)
        setup = {"history_rows": rows, "history_s": time.monotonic() - t}
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE) observation"))
        t = time.monotonic()
        sync = sync_window_sums(engine=engine)
        setup["sync_s"] = time.monotonic() - t
        say(
            f"history: {rows:,} rows over {len(keys)} datastreams ({len(pm25)} PM2.5) in "
            f"{setup['history_s']:.1f} s; sync_window_sums {setup['sync_s']:.2f} s ({sync})"
        )
        per_rep: list[dict[str, float]] = []
        for rep in range(reps):
            times = _time_eval(engine, pm25, n)
            times.update(_time_write(engine, keys, batch, n))
            # The write variants leave markers on every datastream or none: restore the real ones.
            sync_window_sums(engine=engine)
            summary = {name: statistics.median(v) for name, v in times.items()}
            summary.update({f"{name}_p99": pct(v, 99) for name, v in times.items()})
            per_rep.append(summary)
            say(f"rep {rep + 1}/{reps} (load {os.getloadavg()[0]:.1f}): "
                + ", ".join(f"{k} {v:.2f} ms" for k, v in summary.items()))  # fmt: skip
        engine.dispose()
        engine_for.cache_clear()
    medians = {k: statistics.median(r[k] for r in per_rep) for k in per_rep[0]}
    return {
        "config": {"every_s": every_s, "batch": batch, "reps": reps, "n": n,
                   "pm25_datastreams": len(pm25), "datastreams": len(keys)},
        "setup": setup,
        "per_rep": per_rep,
        "medians": medians,
    }  # fmt: skip


def table(res: dict[str, Any]) -> str:
    """The figures with ratios (medians over repetitions of per-repetition medians)."""
    m, c = res["medians"], res["config"]
    means = f"24-h means of {c['pm25_datastreams']} PM2.5 datastreams: sums vs raw"
    store = f"store a batch of {c['batch']}: all datastreams summed vs none"
    return "\n".join(
        [
            f"{'figure (ms, p50)':<60} {'ours':>9} {'baseline':>9} {'ratio':>7}",
            f"{means:<60} {m['sums']:>9.2f} {m['raw']:>9.2f} {m['raw'] / m['sums']:>6.1f}x faster",
            f"{store:<60}"
            f" {m['all_marked']:>9.2f} {m['unmarked']:>9.2f}"
            f" {m['all_marked'] / m['unmarked']:>6.2f}x the time",
            f"history {res['setup']['history_rows']:,} rows; one-off sync (mark, arm, rebuild) "
            f"{res['setup']['sync_s']:.2f} s",
        ]
    )
