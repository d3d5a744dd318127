"""The bench driver: private stack, pipeline processes, open-loop steps, baselines, report.

Everything runs on this machine: the stack under `.stack-bench/<uuid>/` (purged at the end, even on
error), our pipeline (K bridges, W Celery workers, a Socket.IO server) and the baselines as child
processes in their own sessions, stopped by process group when their phase ends.
"""

from __future__ import annotations

import gc
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import psutil

from bench import common
from bench.common import say
from bench.ingest import publisher

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results"
PY = sys.executable
SMARTCITY = str(Path(PY).with_name("smartcity"))
# A step's readings must be stored within this long after its last message was sent (beyond
# the publisher's own lateness): longer means the pipeline did not keep pace through the step.
BACKLOG_LIMIT_S = 1.0
PROBE_CRITICAL = 38.5  # °C, over the default "Heat" rule's critical level (38)
PROBE_CLEAR = 20.0  # below warning (32) minus hysteresis (1): resolves the probe's alert


# ---------------------------------------------------------------------------------------------
# configuration and results


@dataclass
class Config:
    """What to run; --quick shortens steps and does one repetition."""

    quick: bool = False
    reps: int = 3
    bridges: int = 2
    # Two solo workers rather than one prefork worker with two children: no hand-off from the
    # consumer to a child; the same throughput, ordinary readings stored ~20 % sooner (README).
    workers: int = 2
    concurrency: int = 2  # prefork only
    pool: str = "solo"  # worker --pool
    batch: int = 5000
    wait_ms: int = (
        100  # see README: 20 ms makes ~50 tasks/s per bridge, more than 2 cores keep up with
    )
    pack: int = 100
    in_flight: int = 1  # batches per bridge sent and not yet confirmed (bridge --in-flight)
    adaptive: bool = True  # bridge --adaptive (else --fixed-wait)
    min_wait_ms: float = 0.0  # bridge --min-wait-ms
    nice: int = 0  # worker and bridge --nice (a lower CPU priority than the API's)
    bulk_nice: int = 10  # added for the bulk-lane workers only (the urgent lane's path keeps it)
    urgent: bool = True  # bridge --urgent and a solo worker on the urgent queue
    sustained: bool = True  # False: disable the seeded window-mean rules (to measure their cost)
    # False: no per-minute sums (as before 2026-12-07 evening): window rules average raw rows
    window_sums: bool = True
    publishers: int = 1
    step_s: float = 8.0
    drain_s: float = 5.0
    latency_s: float = 15.0
    probe_rate: float = 20.0
    latency_load: float = 1_000_000 / 60  # readings/s: the seed's 1M readings/min
    node_red_latency_rate: float = 20_000.0
    node_red: bool = True
    seed_design: bool = True
    latency_only: bool = False  # skip the throughput ramps: latency at latency_load only
    packs_only: bool = False  # the SenML pack ramp alone: no single messages, latency, baselines
    # Ramps: start rate (readings/s) and factor; later repetitions restart just below the best.
    single_start: float = 8_000.0
    pack_start: float = 40_000.0
    seed_start: float = 600.0
    node_red_start: float = 5_000.0
    factor: float = 1.4
    max_steps: int = 9

    @classmethod
    def make(cls, *, quick: bool, **over: Any) -> Config:
        cfg = cls(quick=quick)
        if quick:
            cfg.reps, cfg.step_s, cfg.drain_s, cfg.latency_s = 1, 4.0, 3.0, 8.0
            cfg.factor, cfg.max_steps = 1.6, 6
            cfg.single_start, cfg.pack_start = 12_000.0, 60_000.0
            cfg.seed_start, cfg.node_red_start = 900.0, 6_000.0
        for k, v in over.items():
            if v is not None:
                setattr(cfg, k, v)
        return cfg


@dataclass
class StepResult:
    """One open-loop step at a fixed offered rate."""

    system: str
    mode: str
    rate: float  # offered readings/s
    offered: int
    stored: int
    stored_share: float
    drained_in_s: float | None  # after the schedule ended; None: not within drain_s
    backlog_first: float
    backlog_last: float
    publisher_max_lag_s: float
    dead_letters: int
    cpu: dict[str, float]  # % of one core per component over the load window
    passed: bool
    why: str = ""


@dataclass
class LatencyResult:
    system: str
    load: float  # background readings/s
    probes: int
    alerts_matched: int
    stored_matched: int
    alert_p50_ms: float | None
    alert_p99_ms: float | None
    stored_p50_ms: float | None  # the alert probes' readings (the urgent lane when it is on)
    stored_p99_ms: float | None
    plain_matched: int = 0
    plain_p50_ms: float | None = None  # ordinary readings (no rule's level near: the bulk lane)
    plain_p99_ms: float | None = None
    cpu: dict[str, float] = field(default_factory=dict)
    vacuuming: list[str] = field(default_factory=list)  # (auto)vacuum seen at start or end


def pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (`bench.common.pct`), None for no values."""
    return common.pct(values, q) if values else None


# ---------------------------------------------------------------------------------------------
# child processes


class Procs:
    """Child processes started by the bench, each in its own session (process group)."""

    def __init__(self, logs: Path, env: dict[str, str]) -> None:
        self.logs = logs
        self.env = env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, cmd: list[str], *, cwd: Path = REPO) -> subprocess.Popen[bytes]:
        out = (self.logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            cmd, env=self.env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.procs[name] = proc
        return proc

    def log_text(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def wait_log(self, name: str, needle: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log_text(name):
                return
            if self.procs[name].poll() is not None:
                raise RuntimeError(f"{name} exited:\n{self.log_text(name)[-2000:]}")
            time.sleep(0.1)
        raise RuntimeError(f"{name} not ready in {timeout:.0f}s:\n{self.log_text(name)[-2000:]}")

    def stop(self, name: str, timeout: float = 20.0) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def stop_all(self) -> None:
        # Newest first: bridges before the workers that confirm their batches (else each bridge
        # waits out its confirmation timeout before it can end).
        for name in reversed(list(self.procs)):
            self.stop(name)

    def pids(self, prefix: str) -> list[int]:
        return [p.pid for n, p in self.procs.items() if n.startswith(prefix) and p.poll() is None]


class CpuMeter:
    """CPU seconds per component, from psutil, over a window (process trees included)."""

    def __init__(self, roots: Callable[[], dict[str, list[int]]]) -> None:
        self.roots = roots

    @staticmethod
    def _tree_times(pids: list[int]) -> dict[int, float]:
        out: dict[int, float] = {}
        for pid in pids:
            try:
                root = psutil.Process(pid)
                for p in [root, *root.children(recursive=True)]:
                    with suppress(psutil.Error):
                        t = p.cpu_times()
                        out[p.pid] = t.user + t.system
            except psutil.Error:
                continue
        return out

    def snapshot(self) -> tuple[float, dict[str, dict[int, float]]]:
        return time.monotonic(), {k: self._tree_times(v) for k, v in self.roots().items()}

    @staticmethod
    def delta(
        a: tuple[float, dict[str, dict[int, float]]], b: tuple[float, dict[str, dict[int, float]]]
    ) -> dict[str, float]:
        """% of one core per component; a process born in the window counts from zero."""
        wall = max(b[0] - a[0], 1e-6)
        out: dict[str, float] = {}
        for comp, now in b[1].items():
            before = a[1].get(comp, {})
            used = sum(max(0.0, t - before.get(pid, 0.0)) for pid, t in now.items())
            out[comp] = round(100.0 * used / wall, 1)
        return out


# ---------------------------------------------------------------------------------------------
# the bench


class BenchStack:
    """A private stack under .stack-bench/<name>/ with its services' processes: a context manager
    that tears everything down (and keeps the logs if the run failed). Benches subclass it."""

    def __init__(self, name: str) -> None:
        self.root = REPO / ".stack-bench" / name
        self.logs = self.root / "logs"
        self.stack: Any = None
        self.state: Any = None
        self.procs: Procs | None = None
        self.stack_pids: dict[str, int] = {}

    def extra_env(self) -> dict[str, str]:
        """Settings this bench gives its child processes on top of the stack's."""
        return {}

    def __enter__(self) -> Self:
        from shared.stack import LocalStack

        self.logs.mkdir(parents=True, exist_ok=True)
        say(f"stack under {self.root}")
        self.stack = LocalStack(self.root / "stack")
        self.state = self.stack.up(progress=lambda m: say(f"  {m}"))
        env = dict(os.environ)
        env.update(self.state.env())
        env["SMARTCITY_STACK_DIR"] = str(self.root / "stack")
        env["PYTHONPATH"] = str(REPO)
        env["PYTHONUNBUFFERED"] = "1"  # readiness lines reach the log files at once
        env.update(self.extra_env())
        os.environ.update({k: env[k] for k in (*self.state.env(), "SMARTCITY_STACK_DIR")})
        from shared.config import get_settings

        get_settings.cache_clear()
        self.procs = Procs(self.logs, env)
        for name, comp in self.state.components.items():
            self.stack_pids[name] = int(comp.pid)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.procs is not None:
            self.procs.stop_all()
        if self.stack is not None:
            say("stack down (purge)")
            with suppress(Exception):
                from shared.db import engine_for

                engine_for.cache_clear()
            self.stack.down(purge=True)
        if exc[0] is None and not os.environ.get("BENCH_KEEP_LOGS"):
            shutil.rmtree(self.root, ignore_errors=True)
        else:
            say(f"logs kept in {self.logs}")


class Bench(BenchStack):
    """One full bench run; use as a context manager so that everything is torn down."""

    def __init__(self, cfg: Config) -> None:
        super().__init__(uuid.uuid4().hex[:12])
        self.cfg = cfg
        self.pool: list[list[Any]] = []
        self.bg_ids: list[int] = []
        self.probe_codes: list[str] = []
        self.probe_topics: dict[str, str] = {}
        self.probe_ds: dict[int, str] = {}
        self.plain_ds: dict[int, str] = {}
        self.steps: list[StepResult] = []
        self.latencies: list[LatencyResult] = []
        self.current_system = ""

    # setup ------------------------------------------------------------------------------------
    def prepare_db(self) -> None:
        """Migrate, create partitions, seed the demo city; choose probe sensors; build the pool."""
        from shared.db import session_scope
        from shared.migrations.runner import upgrade
        from shared.seed.demo import seed_demo
        from shared.sensing.models import SensorType
        from shared.sensing.service import ensure_partitions_around_now
        from shared.simulate.service import generate_messages, load_fleet

        t = time.monotonic()
        upgrade()
        with session_scope() as s:
            ensure_partitions_around_now(session=s, ahead_days=2)
        with session_scope() as s:
            seed_demo(session=s)
        with session_scope() as s:
            fleet = load_fleet(session=s)
            if not self.cfg.sustained:
                from sqlalchemy import text as sql

                s.execute(sql("UPDATE alert_rule SET enabled = false WHERE kind = 'sustained'"))
        say(f"migrated and seeded in {time.monotonic() - t:.1f}s: {len(fleet)} sensors")
        if self.cfg.window_sums:
            # What beat does every minute on a running platform (no beat runs here): mark the
            # datastreams window-mean rules watch, so that batches keep their per-minute sums.
            from shared.pipeline import sync_window_sums

            sums = sync_window_sums()
            say(f"window sums: {sums['streams']} datastreams, {sums['pending']} not ready")
        # Weather stations are the probes: one metric (temperature) with one threshold rule
        # ("Heat"), so each probe opens exactly one alert and its clearing reading resolves it.
        probes = [f for f in fleet if f.sensor_type is SensorType.weather]
        background = [f for f in fleet if f.sensor_type is not SensorType.weather]
        self.probe_codes = [p.code for p in probes]
        self.probe_topics = {p.code: p.topic for p in probes}
        # Payload values are the simulator's replayed/modelled readings (generate_messages), cut
        # into one reading per message; the publisher re-stamps them with scheduled times.
        pool: list[list[Any]] = []
        topics = {f.code: f.topic for f in background}
        gen = generate_messages(fleet=background, start=time.time(), rate_per_s=1000.0, seed=1)
        for _ in range(2 * len(background)):
            topic, payload = next(gen)
            body = json.loads(payload)
            body.pop("ts", None)
            code = topic.rsplit("/", 1)[-1]
            for metric, value in body.items():
                pool.append([topics[code], code, metric, json.dumps(value)])
        self.pool = pool
        with session_scope() as s:
            from sqlalchemy import text

            rows = s.execute(
                text(
                    "SELECT d.id, t.code, p.code FROM datastream d JOIN thing t ON t.id = "
                    "d.thing_id JOIN observed_property p ON p.id = d.observed_property_id"
                )
            ).all()
        codes = {e[1] for e in pool}
        self.bg_ids = [ds for ds, code, _m in rows if code in codes]
        self.probe_ds = {
            ds: code for ds, code, m in rows if code in self.probe_codes and m == "temperature"
        }
        # Publish -> stored of ordinary readings: the probe stations' humidity, which no rule
        # watches, so it never takes the urgent lane (the alert probes' readings always do).
        self.plain_ds = {
            ds: code for ds, code, m in rows if code in self.probe_codes and m == "humidity"
        }
        say(
            f"pool: {len(pool)} single readings over {len(self.bg_ids)} datastreams; "
            f"probes: {', '.join(self.probe_codes)}"
        )

    # database helpers ---------------------------------------------------------------------------
    @contextmanager
    def db(self) -> Iterator[Any]:
        import psycopg

        with psycopg.connect(self.state.database_url, autocommit=True) as conn:
            yield conn

    def count_stored(self, conn: Any, t0: float, t1: float) -> int:
        # Index range scans on (datastream_id, phenomenon_time): cheap even with millions of rows.
        row = conn.execute(
            "SELECT count(*) FROM observation WHERE datastream_id = ANY(%s) "
            "AND phenomenon_time >= %s AND phenomenon_time < %s",
            (self.bg_ids, datetime.fromtimestamp(t0, UTC), datetime.fromtimestamp(t1, UTC)),
        ).fetchone()
        return int(row[0])

    def count_dead(self, conn: Any, since: float) -> int:
        row = conn.execute(
            "SELECT count(*) FROM dead_letter WHERE received_at >= %s",
            (datetime.fromtimestamp(since, UTC),),
        ).fetchone()
        return int(row[0])

    def vacuuming(self, conn: Any) -> list[str]:
        """Tables (auto)vacuum is working on now: it competes with the pipeline for CPU and I/O."""
        rows = conn.execute(
            "SELECT coalesce(c.relname, p.relid::text) FROM pg_stat_progress_vacuum p "
            "LEFT JOIN pg_class c ON c.oid = p.relid UNION ALL "
            "SELECT 'analyze ' || coalesce(c.relname, p.relid::text) "
            "FROM pg_stat_progress_analyze p LEFT JOIN pg_class c ON c.oid = p.relid"
        ).fetchall()
        return sorted(r[0] for r in rows)

    def quiesce(self) -> None:
        """Checkpoint and vacuum what the ramps wrote, so that latency runs measure the pipeline.

        The ramps write tens of millions of rows in minutes, and autovacuum was seen working on
        the day's partition during a latency run afterwards. This pays that debt first (timed);
        any (auto)vacuum still seen during a latency run is printed with it. It did not remove
        the bad repetition of the full runs: that was the window-mean rule (README).
        """
        t = time.monotonic()
        with self.db() as conn:
            conn.execute("CHECKPOINT")
            conn.execute("VACUUM (ANALYZE) observation")
            conn.execute("CHECKPOINT")
        say(f"  quiesced in {time.monotonic() - t:.1f}s (checkpoint, VACUUM ANALYZE observation)")

    def redis(self) -> Any:
        import redis

        return redis.Redis.from_url(self.state.redis_url)

    # CPU ----------------------------------------------------------------------------------------
    def cpu_roots(self) -> dict[str, list[int]]:
        assert self.procs is not None
        roots = {
            "postgres": [self.stack_pids["postgres"]],
            "redis": [self.stack_pids["redis"]],
            "mosquitto": [self.stack_pids["mosquitto"]],
        }
        for prefix in ("bridge", "worker", "sio", "seed_design", "node_red"):
            pids = self.procs.pids(prefix)
            if pids:
                roots[prefix] = pids
        return roots

    # pipeline -----------------------------------------------------------------------------------
    def start_pipeline(self) -> None:
        assert self.procs is not None
        c = self.cfg
        for w in range(c.workers):
            self.procs.start(
                f"worker-{w}",
                [SMARTCITY, "worker", "-c", str(c.concurrency), "--pool", c.pool,
                 "--queues", "ingest,alerts", "--loglevel", "warning",
                 "--nice", str(c.nice + c.bulk_nice)],
            )  # fmt: skip
        if c.urgent:
            self.procs.start(
                "worker-urgent",
                [SMARTCITY, "worker", "--pool", "solo", "--queues", "urgent",
                 "--loglevel", "warning", "--nice", str(c.nice)],
            )  # fmt: skip
        for b in range(c.bridges):
            self.procs.start(
                f"bridge-{b}",
                [SMARTCITY, "bridge", "--client-id", f"bench-bridge-{b}", "--group", "bench",
                 "--members", str(c.bridges), "--batch", str(c.batch), "--wait-ms", str(c.wait_ms),
                 "--in-flight", str(c.in_flight),
                 "--adaptive" if c.adaptive else "--fixed-wait", "--min-wait-ms",
                 str(c.min_wait_ms), "--nice", str(c.nice),
                 "--urgent" if c.urgent else "--no-urgent"],
            )  # fmt: skip
        from shared.stack import free_port, port_open

        self.sio_port = free_port()
        self.procs.start(
            "sio", [PY, "-m", "bench.ingest.sio_server", self.state.redis_url, str(self.sio_port)]
        )
        deadline = time.monotonic() + 30
        while not port_open(self.sio_port):
            if time.monotonic() > deadline:
                raise RuntimeError("Socket.IO server did not start")
            time.sleep(0.1)
        self.wait_workers(c.workers + c.urgent)
        for b in range(c.bridges):
            self.procs.wait_log(f"bridge-{b}", "bridge:", timeout=30)
        say(
            f"pipeline up: {c.bridges} bridge(s) (batch {c.batch}, "
            f"{'adaptive, ' if c.adaptive else ''}{c.wait_ms} ms, "
            f"{c.in_flight} in flight), "
            f"{c.workers} worker(s) x {1 if c.pool == 'solo' else c.concurrency} ({c.pool})"
            f"{' + 1 urgent-lane worker' if c.urgent else ', no urgent lane'}, "
            f"Socket.IO on :{self.sio_port}"
        )

    def wait_workers(self, n: int, timeout: float = 90.0) -> None:
        """Wait until n workers answer a broadcast ping (their banner's "ready" line is an INFO
        log record, which the CLI does not print with worker_hijack_root_logger off)."""
        from shared.tasks.celery_app import make_celery

        app = make_celery()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(app.control.ping(timeout=1.0) or []) >= n:
                return
            assert self.procs is not None
            for name in self.procs.procs:
                if name.startswith("worker") and self.procs.procs[name].poll() is not None:
                    raise RuntimeError(f"{name} exited:\n{self.procs.log_text(name)[-2000:]}")
        raise RuntimeError(f"{n} Celery worker(s) did not answer a ping in {timeout:.0f}s")

    def stop_pipeline(self) -> None:
        assert self.procs is not None
        for name in list(self.procs.procs):
            if name.startswith(("bridge", "worker", "sio")):
                self.procs.stop(name)
        # The bridges' persistent sessions would keep receiving (and queueing) a share of every
        # later message: take each client id over with a clean start and expiry 0 to end it.
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        port = self.state.components["mosquitto"].port
        for b in range(self.cfg.bridges):
            cl = mqtt.Client(
                CallbackAPIVersion.VERSION2, client_id=f"bench-bridge-{b}",
                protocol=MQTTProtocolVersion.MQTTv5,
            )  # fmt: skip
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 0
            cl.connect("127.0.0.1", port, clean_start=True, properties=props)
            cl.loop_start()
            time.sleep(0.2)
            cl.disconnect()
            cl.loop_stop()
        say("pipeline stopped, bridge sessions ended")

    # load ---------------------------------------------------------------------------------------
    def lead(self, *, rate: float, duration: float, pack: int) -> float:
        """Seconds from starting the publishers to t0: each builds its packets before t0."""
        return publisher.lead_s(int(rate * duration / max(pack, 1) / self.cfg.publishers) + 1)

    def publish(self, *, rate: float, duration: float, pack: int, t0: float) -> list[Any]:
        """Start the publisher processes for one step; returns their Popen objects."""
        cfg = {
            "host": "127.0.0.1",
            "port": self.state.components["mosquitto"].port,
            "pool": self.pool,
            "rate": rate,
            "t0": t0,
            "duration": duration,
            "pack": pack,
            "qos": 1,
            "procs": self.cfg.publishers,
            "tag": uuid.uuid4().hex[:6],
        }
        path = self.root / "publisher.json"
        path.write_text(json.dumps(cfg))
        return [
            subprocess.Popen(
                [PY, "-m", "bench.ingest.publisher", str(path), str(i)],
                cwd=REPO,
                stdout=subprocess.PIPE,
                env=self.procs.env if self.procs else None,
            )
            for i in range(self.cfg.publishers)
        ]

    def step(self, *, system: str, mode: str, rate: float) -> StepResult:
        """Offer `rate` readings/s for step_s seconds; check stored share and backlog."""
        c = self.cfg
        pack = c.pack if mode == "pack" else 0
        meter = CpuMeter(self.cpu_roots)
        r = self.redis() if system == "ours" else None
        t0 = time.time() + self.lead(rate=rate, duration=c.step_s, pack=pack)
        pubs = self.publish(rate=rate, duration=c.step_s, pack=pack, t0=t0)
        time.sleep(max(0.0, t0 - time.time()))
        a = meter.snapshot()
        backlog: list[tuple[float, int]] = []
        while any(p.poll() is None for p in pubs) and time.time() < t0 + c.step_s:
            if r is not None:
                backlog.append((time.time() - t0, int(r.llen("ingest"))))
            time.sleep(0.25)
        b = meter.snapshot()
        outs = [json.loads(p.communicate(timeout=60)[0] or b"{}") for p in pubs]
        t1 = t0 + c.step_s
        offered = sum(o.get("readings", 0) for o in outs)
        pub_cpu = sum(o.get("cpu_s", 0.0) for o in outs)
        lag = max((o.get("max_lag_s", 0.0) for o in outs), default=0.0)
        cpu = CpuMeter.delta(a, b)
        cpu["publisher"] = round(100.0 * pub_cpu / max(b[0] - a[0], 1e-6), 1)
        stored = 0
        drained: float | None = None
        with self.db() as conn:
            end_wait = time.time() + c.drain_s
            while True:
                stored = self.count_stored(conn, t0 - 0.001, t1 + 0.001)
                if offered and stored >= 0.99 * offered:
                    drained = max(0.0, time.time() - t1)
                    break
                if time.time() > end_wait:
                    break
                time.sleep(0.3)
            dead = self.count_dead(conn, t0 - 1)
        n = len(backlog)
        first = statistics.mean(v for _, v in backlog[: max(1, n // 4)]) if backlog else 0.0
        last = statistics.mean(v for _, v in backlog[-max(1, n // 4) :]) if backlog else 0.0
        # Growing: the queue at the end of the run holds clearly more than at its start (more
        # than two batches per worker process, so that timer jitter is not counted).
        growing = last > 2 * first + 2 * c.workers * c.concurrency
        why = []
        if drained is None:
            why.append(f"stored {stored / max(offered, 1):.1%} < 99% after {c.drain_s:.0f}s drain")
        if growing:
            why.append(f"ingest queue grew {first:.0f} -> {last:.0f}")
        if lag > 1.0:
            why.append(f"publisher {lag:.1f}s behind schedule")
        # Bridges and Node-RED hold back when their consumer is busy, so a pipeline that falls
        # behind leaves its backlog in the broker, where no queue we watch grows: it shows as
        # the time the step's readings took to be stored after the last one was sent.
        if drained is not None and drained - lag > BACKLOG_LIMIT_S:
            why.append(f"stored {drained - lag:.1f}s after the last message (backlog)")
        res = StepResult(
            system=system, mode=mode, rate=rate, offered=offered, stored=stored,
            stored_share=round(stored / max(offered, 1), 4),
            drained_in_s=None if drained is None else round(drained, 2),
            backlog_first=round(first, 1), backlog_last=round(last, 1),
            publisher_max_lag_s=lag, dead_letters=dead, cpu=cpu, passed=not why,
            why="; ".join(why),
        )  # fmt: skip
        self.steps.append(res)
        verdict = "ok  " if res.passed else "FAIL"
        say(
            f"  {verdict} {system:<11} {mode:<6} {rate:>9,.0f}/s offered {offered:>9,} "
            f"stored {res.stored_share:7.2%} drain {res.drained_in_s}s "
            f"queue {first:.0f}->{last:.0f} lag {lag:.2f}s {res.why}"
        )
        if not res.passed:
            self.settle(system, t0, t1, offered)
        return res

    def settle(self, system: str, t0: float, t1: float, offered: int, limit: float = 120.0) -> None:
        """After an overloaded step, wait until its backlog is stored before the next step.

        Until every offered reading is stored, or nothing more arrived for 10 s with the ingest
        queue empty (at most `limit` s). A count that held for 1.5 s could end the wait while
        readings were still arriving, and a latency run would then measure the backlog.
        """
        r = self.redis() if system == "ours" else None
        start = time.monotonic()
        prev, changed = -1, start
        n = 0
        with self.db() as conn:
            while time.monotonic() - start < limit:
                n = self.count_stored(conn, t0 - 0.001, t1 + 0.001)
                if n >= offered:
                    say(f"  (backlog stored in {time.monotonic() - start:.0f}s)")
                    return
                queued = int(r.llen("ingest")) if r is not None else 0
                if n != prev or queued:
                    prev, changed = n, time.monotonic()
                elif time.monotonic() - changed > 10.0:
                    break
                time.sleep(0.5)
        say(
            f"  (backlog: {n / max(offered, 1):.2%} of the failed step stored after "
            f"{time.monotonic() - start:.0f}s)"
        )

    def ramp(self, *, system: str, mode: str, start: float, factor: float) -> float:
        """Step the offered rate up until a step fails; return the highest passing rate.

        After the first failure above a passed step, one more step at their geometric mean:
        without it the figure could only be a point of the x1.15 / x1.4 grid, up to 15-40 %
        below the rate that would have passed.
        """
        best = 0.0
        rate = start
        for _ in range(self.cfg.max_steps):
            if not self.step(system=system, mode=mode, rate=rate).passed:
                if best == 0.0 and rate > start / 8:
                    rate /= factor * factor  # the first step failed: go down instead
                    continue
                if best and rate / best > 1.1:
                    mid = math.sqrt(best * rate)
                    if self.step(system=system, mode=mode, rate=mid).passed:
                        best = mid
                break
            best = rate
            rate *= factor
        return best

    def sustained(self, *, system: str, mode: str, start: float) -> list[float]:
        """Repeat the ramp; later repetitions start two steps below the last best, finer."""
        out: list[float] = []
        for rep in range(self.cfg.reps):
            if rep == 0:
                best = self.ramp(system=system, mode=mode, start=start, factor=self.cfg.factor)
            else:
                prev = out[-1] or start
                best = self.ramp(system=system, mode=mode, start=prev / 1.15**2, factor=1.15)
            say(f"{system} {mode}: sustained {best:,.0f} readings/s ({best * 60:,.0f}/min)")
            out.append(best)
        return out

    # latency ------------------------------------------------------------------------------------
    def latency(self, *, system: str, load: float, with_alerts: bool) -> LatencyResult:
        """Background load plus probes at probe_rate; alert and stored latency per probe."""
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        c = self.cfg
        received: dict[tuple[str, float], float] = {}
        sio_client = None
        if with_alerts:
            import socketio

            sio_client = socketio.Client(reconnection=False)

            @sio_client.on("alert.raised")
            def _raised(data: dict[str, Any]) -> None:
                now = time.time()
                al = data.get("alert", {})
                if al.get("thing_code") in self.probe_topics and data.get("action") == "opened":
                    received.setdefault((al["thing_code"], round(float(al["value"]), 3)), now)

            sio_client.connect(f"http://127.0.0.1:{self.sio_port}", transports=["websocket"])
            time.sleep(0.5)  # let the server put us in the room
        port = self.state.components["mosquitto"].port
        probe = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-probe-{system}")
        probe.connect("127.0.0.1", port)
        probe.loop_start()
        meter = CpuMeter(self.cpu_roots)
        t0 = time.time() + 0.5 + self.lead(rate=load, duration=c.latency_s, pack=0)
        pubs = self.publish(rate=load, duration=c.latency_s, pack=0, t0=t0)
        sent: dict[tuple[str, float], float] = {}  # (code, value) -> scheduled time
        # (datastream, ts in whole ms) -> scheduled time, for the alert probes' readings and the
        # ordinary ones. Whole milliseconds: the float a probe carries and the timestamptz read
        # back can differ in the last microsecond.
        sent_ts: dict[tuple[int, int], float] = {}
        code_ds = {code: ds for ds, code in self.probe_ds.items()}
        code_plain = {code: ds for ds, code in self.plain_ds.items()}
        stored_at: dict[tuple[int, int], float] = {}
        stop = threading.Event()

        missing: dict[tuple[int, int], float] = {}  # sent and not yet seen stored -> scheduled
        missing_lock = threading.Lock()

        def poll_stored() -> None:
            # Publish -> stored: look for the probes' rows every 5 ms (resolution ~5 ms). From
            # the oldest probe not yet seen: rows commit out of time order (two bridges, two
            # lanes), and a window that followed the newest row seen used to miss the late
            # ones, which are the slow ones, so the p99 left out exactly what it should show.
            import psycopg

            with psycopg.connect(self.state.database_url, autocommit=True) as conn:
                ids = list(self.probe_ds) + list(self.plain_ds)
                while not stop.is_set():
                    with missing_lock:
                        oldest = min(missing.values(), default=None)
                    if oldest is None:
                        time.sleep(0.005)
                        continue
                    rows = conn.execute(
                        "SELECT datastream_id, phenomenon_time FROM observation "
                        "WHERE datastream_id = ANY(%s) AND phenomenon_time >= %s",
                        (ids, datetime.fromtimestamp(oldest - 0.001, UTC)),
                    ).fetchall()
                    now = time.time()
                    for ds, pt in rows:
                        stored_at.setdefault((ds, round(pt.timestamp() * 1e3)), now)
                    with missing_lock:
                        for key in [k for k in missing if k in stored_at]:
                            del missing[key]
                    time.sleep(0.005)

        poller = threading.Thread(target=poll_stored, daemon=True)
        poller.start()
        with self.db() as conn:
            vacuuming = set(self.vacuuming(conn))
        # This process sends the probes and stamps their arrival: a full collection of its heap
        # (up to 290 ms seen here) would show up as pipeline latency. Measured, not ours to add.
        gc.collect()
        gc.freeze()
        gc.disable()
        time.sleep(max(0.0, t0 - time.time()))
        a = meter.snapshot()
        n_probes = int(c.latency_s * c.probe_rate)
        codes = self.probe_codes
        for k in range(n_probes):
            # Probe k: a critical reading on sensor k mod N at its scheduled time, and a clearing
            # one half a rotation later, so every probe opens a new alert; with it, an ordinary
            # reading (humidity) of the same station.
            sched = t0 + k / c.probe_rate
            clear_at = sched + len(codes) / c.probe_rate / 2
            code = codes[k % len(codes)]
            value = round(PROBE_CRITICAL + (k % 997) / 1000, 3)
            delay = sched - time.time()
            if delay > 0:
                time.sleep(delay)
            ts = round(sched, 6)
            sent[(code, value)] = sched
            keys = [(code_ds[code], round(ts * 1e3))]
            if code in code_plain:
                keys.append((code_plain[code], round(ts * 1e3)))
            with missing_lock:
                for key in keys:
                    sent_ts[key] = sched
                    missing[key] = sched
            probe.publish(self.probe_topics[code], json.dumps({"ts": ts, "temperature": value}), 1)
            if code in code_plain:
                humidity = 40 + (k % 500) / 10
                probe.publish(
                    self.probe_topics[code], json.dumps({"ts": ts, "humidity": humidity}), 1
                )
            delay = clear_at - time.time()
            threading.Timer(
                max(0.0, delay), probe.publish,
                args=(self.probe_topics[code],
                      json.dumps({"ts": round(clear_at, 6), "temperature": PROBE_CLEAR}), 1),
            ).start()  # fmt: skip
        for p in pubs:
            p.communicate(timeout=60)
        b = meter.snapshot()
        with self.db() as conn:
            vacuuming.update(self.vacuuming(conn))
        time.sleep(2.0)  # late alerts still count (and show up in p99)
        stop.set()
        poller.join(2)
        gc.enable()
        probe.loop_stop()
        probe.disconnect()
        if sio_client is not None:
            sio_client.disconnect()
        alert_ms = [1000 * (received[k] - s) for k, s in sent.items() if k in received]
        stored_ms = [
            1000 * (stored_at[k] - s) for k, s in sent_ts.items()
            if k in stored_at and k[0] in self.probe_ds
        ]  # fmt: skip
        plain_ms = [
            1000 * (stored_at[k] - s) for k, s in sent_ts.items()
            if k in stored_at and k[0] in self.plain_ds
        ]  # fmt: skip

        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 1)

        res = LatencyResult(
            system=system, load=load, probes=n_probes, alerts_matched=len(alert_ms),
            stored_matched=len(stored_ms), alert_p50_ms=r(pct(alert_ms, 50)),
            alert_p99_ms=r(pct(alert_ms, 99)), stored_p50_ms=r(pct(stored_ms, 50)),
            stored_p99_ms=r(pct(stored_ms, 99)), plain_matched=len(plain_ms),
            plain_p50_ms=r(pct(plain_ms, 50)), plain_p99_ms=r(pct(plain_ms, 99)),
            cpu=CpuMeter.delta(a, b), vacuuming=sorted(vacuuming),
        )  # fmt: skip
        self.latencies.append(res)
        if with_alerts and len(alert_ms) < len(sent):
            self.explain_unmatched(sent=sent, received=received, since=t0)
        say(
            f"  latency {system} at {load:,.0f}/s: alert p50 {res.alert_p50_ms} p99 "
            f"{res.alert_p99_ms} ms ({len(alert_ms)}/{n_probes}); stored p50 "
            f"{res.stored_p50_ms} p99 {res.stored_p99_ms} ms ({len(stored_ms)}/{n_probes}); "
            f"ordinary stored p50 {res.plain_p50_ms} p99 {res.plain_p99_ms} ms "
            f"({len(plain_ms)}/{n_probes})"
            + (f"; vacuum running: {', '.join(res.vacuuming)}" if res.vacuuming else "")
        )
        return res

    def explain_unmatched(
        self,
        *,
        sent: dict[tuple[str, float], float],
        received: dict[tuple[str, float], float],
        since: float,
    ) -> None:
        """Say why probes had no alert event: none was opened (the station's alert was still
        open when the probe was judged) or one was opened and its event did not arrive."""
        with self.db() as conn:
            rows = conn.execute(
                "SELECT t.code, e.value FROM alert_event e JOIN alert a ON a.id = e.alert_id "
                "JOIN thing t ON t.id = a.thing_id WHERE e.action = 'opened' AND e.at >= %s "
                "AND a.datastream_id = ANY(%s)",
                (datetime.fromtimestamp(since - 1, UTC), list(self.probe_ds)),
            ).fetchall()
        opened = {(code, round(float(v), 3)) for code, v in rows}
        unmatched = [k for k in sent if k not in received]
        never = sum(k not in opened for k in unmatched)
        say(f"  {len(unmatched)} probe(s) without an alert event: {never} opened no alert (the "
            f"station's previous one presumably still open), {len(unmatched) - never} opened one "
            "whose event was not received within the 2 s grace")  # fmt: skip

    # baselines ----------------------------------------------------------------------------------
    def start_seed_design(self) -> None:
        assert self.procs is not None
        port = self.state.components["mosquitto"].port
        self.procs.start(
            "seed_design",
            [PY, "-m", "bench.ingest.seed_design", self.state.database_url, "127.0.0.1",
             str(port)],
        )  # fmt: skip
        self.procs.wait_log("seed_design", "ready", timeout=30)
        time.sleep(0.5)

    def start_node_red(self) -> None:
        from bench.ingest import node_red
        from shared.stack import free_port

        assert self.procs is not None
        node_red.ensure_installed(log=self.logs / "npm.log")
        user_dir = self.root / "node-red"
        node_red.write_user_dir(
            user_dir=user_dir, port=free_port(), database_url=self.state.database_url,
            mqtt_port=self.state.components["mosquitto"].port,
        )  # fmt: skip
        self.procs.start("node_red", node_red.command(user_dir=user_dir))
        self.procs.wait_log("node_red", "bench-ready", timeout=90)
        self.procs.wait_log("node_red", "Connected to broker", timeout=30)
        time.sleep(0.5)


# ---------------------------------------------------------------------------------------------
# the whole run


def med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else 0.0


def run(cfg: Config) -> dict[str, Any]:
    """Run every phase; return the results (also written to bench/results/)."""
    started = time.time()
    out: dict[str, Any] = {"config": asdict(cfg), "started": datetime.now(UTC).isoformat()}
    with Bench(cfg) as b:
        b.prepare_db()
        b.start_pipeline()
        # Warm-up: worker imports, caches and connection pools, not counted.
        b.step(system="warmup", mode="single", rate=2000.0)
        single: list[float] = []
        packs: list[float] = []
        load = cfg.latency_load
        if not cfg.latency_only and not cfg.packs_only:
            single = b.sustained(system="ours", mode="single", start=cfg.single_start)
        if not cfg.latency_only:
            packs = b.sustained(system="ours", mode="pack", start=cfg.pack_start)
            if single:
                load = cfg.latency_load if med(single) >= cfg.latency_load else med(single)
            b.quiesce()
        lat = []
        if not cfg.packs_only:
            lat = [b.latency(system="ours", load=load, with_alerts=True) for _ in range(cfg.reps)]
        b.stop_pipeline()
        seed: list[float] = []
        if cfg.seed_design:
            b.start_seed_design()
            seed = b.sustained(system="seed_design", mode="single", start=cfg.seed_start)
            assert b.procs is not None
            b.procs.stop("seed_design")
        nr: list[float] = []
        nr_lat: list[LatencyResult] = []
        if cfg.node_red:
            try:
                b.start_node_red()
                nr = b.sustained(system="node_red", mode="single", start=cfg.node_red_start)
                # The ramp ended on an overloaded step: give Node-RED time to shed it first.
                time.sleep(10)
                b.quiesce()
                nr_lat = [
                    b.latency(system="node_red", load=cfg.node_red_latency_rate, with_alerts=False)
                    for _ in range(cfg.reps)
                ]
            except Exception as exc:  # report the failure, keep our figures
                say(f"Node-RED baseline failed: {exc}")
                out["node_red_error"] = str(exc)
            finally:
                assert b.procs is not None
                b.procs.stop("node_red")
        out.update(
            sustained={"ours_single": single, "ours_pack": packs, "seed_design": seed,
                       "node_red": nr},
            latency_load=load,
            steps=[asdict(s) for s in b.steps],
            latencies=[asdict(x) for x in b.latencies],
            pool={"readings": len(b.pool), "datastreams": len(b.bg_ids),
                  "probes": b.probe_codes},
        )  # fmt: skip
        out["cpu_at_sustained"] = cpu_at(b.steps, single, packs, seed, nr)
        out["latency_cpu"] = {x.system: x.cpu for x in b.latencies}
        out["medians"] = medians(single, packs, seed, nr, lat, nr_lat)
    out["wall_s"] = round(time.time() - started, 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"ingest-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(out, indent=2, default=str))
    out["results_file"] = str(path)
    return out


def cpu_at(
    steps: list[StepResult], single: list[float], packs: list[float], seed: list[float],
    nr: list[float],
) -> dict[str, dict[str, float]]:  # fmt: skip
    """CPU per component at each system's (median) sustained rate: the passing step closest."""
    out: dict[str, dict[str, float]] = {}
    for key, system, mode, xs in (
        ("ours_single", "ours", "single", single), ("ours_pack", "ours", "pack", packs),
        ("seed_design", "seed_design", "single", seed), ("node_red", "node_red", "single", nr),
    ):  # fmt: skip
        target = med(xs)
        cands = [s for s in steps if s.system == system and s.mode == mode and s.passed]
        if target and cands:
            best = min(cands, key=lambda s: abs(s.rate - target))
            out[key] = {"rate": round(best.rate), **best.cpu}
    return out


def medians(
    single: list[float], packs: list[float], seed: list[float], nr: list[float],
    lat: list[LatencyResult], nr_lat: list[LatencyResult],
) -> dict[str, Any]:  # fmt: skip
    def m(xs: list[float | None]) -> float | None:
        vals = [x for x in xs if x is not None]
        return round(statistics.median(vals), 1) if vals else None

    return {
        "ours_single_per_min": round(med(single) * 60),
        "ours_pack_per_min": round(med(packs) * 60),
        "seed_design_per_min": round(med(seed) * 60),
        "node_red_per_min": round(med(nr) * 60),
        "ours_alert_p50_ms": m([x.alert_p50_ms for x in lat]),
        "ours_alert_p99_ms": m([x.alert_p99_ms for x in lat]),
        # Ordinary readings (ours: the bulk lane); the alert probes' own readings separately.
        "ours_stored_p50_ms": m([x.plain_p50_ms for x in lat]),
        "ours_stored_p99_ms": m([x.plain_p99_ms for x in lat]),
        "ours_probe_stored_p50_ms": m([x.stored_p50_ms for x in lat]),
        "ours_probe_stored_p99_ms": m([x.stored_p99_ms for x in lat]),
        "node_red_stored_p50_ms": m([x.plain_p50_ms for x in nr_lat]),
        "node_red_stored_p99_ms": m([x.plain_p99_ms for x in nr_lat]),
    }


def table(res: dict[str, Any]) -> str:
    """The figures, our value, the baseline's and the ratio, as a plain-text table."""
    md = res.get("medians", {})
    load = res.get("latency_load", 0.0)

    def ratio(a: float | None, b: float | None) -> str:
        return f"{a / b:.1f}x" if a and b else "n/a"

    def fmt(x: float | None, unit: str = "") -> str:
        return "n/a" if not x else f"{x:,.0f}{unit}" if x >= 100 else f"{x:,.1f}{unit}"

    rows = [
        ("sustained readings/min, single msgs vs seed design (a)",
         md.get("ours_single_per_min"), md.get("seed_design_per_min")),
        ("sustained readings/min, single msgs vs Node-RED (b)",
         md.get("ours_single_per_min"), md.get("node_red_per_min")),
        (f"sustained readings/min, SenML packs of {res['config']['pack']} vs Node-RED (b)",
         md.get("ours_pack_per_min"), md.get("node_red_per_min")),
        (f"p50 publish->stored ms, ordinary readings (ours at {load:,.0f}/s, Node-RED 20k/s)",
         md.get("ours_stored_p50_ms"), md.get("node_red_stored_p50_ms")),
        (f"p99 publish->stored ms, ordinary readings (ours at {load:,.0f}/s, Node-RED 20k/s)",
         md.get("ours_stored_p99_ms"), md.get("node_red_stored_p99_ms")),
        (f"p99 publish->stored ms, alert-level readings (ours at {load:,.0f}/s)",
         md.get("ours_probe_stored_p99_ms"), None),
        (f"p99 publish->ALERT ms (ours at {load:,.0f}/s) vs Node-RED p99 stored at 20k/s",
         md.get("ours_alert_p99_ms"), md.get("node_red_stored_p99_ms")),
        (f"p50 publish->ALERT ms (ours at {load:,.0f}/s)", md.get("ours_alert_p50_ms"), None),
    ]  # fmt: skip
    w = max(len(r[0]) for r in rows)
    lines = [f"{'figure':<{w}}  {'ours':>12}  {'baseline':>12}  {'ratio':>8}", "-" * (w + 40)]
    for name, ours, base in rows:
        lines.append(f"{name:<{w}}  {fmt(ours):>12}  {fmt(base):>12}  {ratio(ours, base):>8}")
    lines.append("")
    lines.append("CPU, % of one core, at each sustained rate (2 cores = 200%):")
    for key, cpu in res.get("cpu_at_sustained", {}).items():
        parts = ", ".join(f"{k} {v:.0f}" for k, v in cpu.items() if k != "rate")
        lines.append(f"  {key} at {cpu['rate']:,}/s: {parts}")
    for key, cpu in res.get("latency_cpu", {}).items():
        parts = ", ".join(f"{k} {v:.0f}" for k, v in cpu.items())
        lines.append(f"  latency run {key}: {parts}")
    return "\n".join(lines)
