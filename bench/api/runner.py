"""The bench driver: private stack, seeded requests, our API and the baseline under gunicorn,
wrk with 500 connections, once alone and once while the ingestion simulator runs."""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import time
import uuid
from contextlib import suppress
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.ingest.runner import PY, REPO, SMARTCITY, BenchStack, say

RESULTS = REPO / "bench" / "results"
HERE = Path(__file__).resolve().parent
ENDPOINTS = ("get", "post")
# saturate: wrk, each of 500 connections sends its next request as soon as the answer arrives
# (closed loop: latency = connections / throughput, Little's law), so this measures req/s.
# paced: open loop (paced.py), 500 clients together sending `paced_rate` requests a second at
# Poisson times, latency measured from each request's scheduled time.
MODES = ("saturate", "paced")
TARGETS = ("ours", "baseline")


@dataclass
class Config:
    """What to run; --quick does one repetition of short runs."""

    quick: bool = False
    reps: int = 3
    duration_s: int = 10
    connections: int = 500
    wrk_threads: int = 2
    paced_rate: float = 25.0  # requests/s from all clients together (each about every 20 s)
    seeded_requests: int = 20_000
    gunicorn_workers: int = 2  # as `smartcity api`
    gunicorn_threads: int = 8  # as `smartcity api`
    ingest_rate: str = "200/s"  # MQTT messages/s; with packs of 100: 20,000 readings/s
    ingest_pack: int = 100
    phases: tuple[str, ...] = ("alone", "ingest")
    endpoints: tuple[str, ...] = ENDPOINTS
    modes: tuple[str, ...] = MODES
    # `smartcity worker/bridge --nice N` in the ingest phase; several values run the ingest phase
    # once per value in that order (an A/B in one sitting, e.g. 0 10 0 10), each with its own
    # ingestion start and readings/s; the phases are then named `ingest-nice<N>`.
    ingest_nice: tuple[int, ...] = (0,)

    @classmethod
    def make(cls, *, quick: bool, **over: Any) -> Config:
        cfg = cls(quick=quick, reps=1, duration_s=5) if quick else cls()
        for k, v in over.items():
            if v is not None:
                setattr(cfg, k, v)
        return cfg


@dataclass
class WrkResult:
    phase: str
    target: str
    endpoint: str
    mode: str
    rep: int
    requests: int
    duration_s: float
    req_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int  # non-2xx answers + socket errors + timeouts
    # CPU seconds the server's process tree used in the run, per answered request (user+system):
    # robust on a shared machine, where wall-clock latency also measures the neighbours.
    cpu_ms_per_req: float = float("nan")
    load1: float = float("nan")  # 1-minute load average when the run started (a shared box)


class ApiBench(BenchStack):
    """One full run; a context manager so that everything is torn down, also on error."""

    def __init__(self, cfg: Config) -> None:
        super().__init__(f"api-{uuid.uuid4().hex[:10]}")
        self.cfg = cfg
        self.ports: dict[str, int] = {}
        self.extent: tuple[float, float, float, float] = (0, 0, 0, 0)
        self.api_key = ""
        self.api_keys: list[str] = []
        self.paths: list[str] = []
        self.results: list[WrkResult] = []
        self.ingest: dict[str, Any] = {}
        self.ingest_name = "ingest"

    def extra_env(self) -> dict[str, str]:
        """The limiter stays on (its Redis round trip is part of every request) but at a level
        that 500 clients behind one address and one api_key do not reach."""
        return {"API_RATE_LIMIT": "100000000 per minute"}

    def __enter__(self) -> ApiBench:
        if shutil.which("wrk") is None:
            raise SystemExit("bench/api needs wrk: apt-get install wrk")
        return super().__enter__()

    # setup --------------------------------------------------------------------------------------
    def prepare_db(self) -> None:
        """Migrate, seed the demo city, and add N requests spread over the city and 89 days."""
        from sqlalchemy import text

        from shared.accounts.service import create_api_client
        from shared.db import session_scope
        from shared.migrations.runner import upgrade
        from shared.seed.demo import seed_demo
        from shared.sensing.service import ensure_partitions_around_now

        t = time.monotonic()
        upgrade()
        with session_scope() as s:
            ensure_partitions_around_now(session=s, ahead_days=2)
        with session_scope() as s:
            self.api_key = seed_demo(session=s).api_key
        with session_scope() as s:
            # One key per simulated client: the limiter keys on it, as with real Open311 clients
            # (one shared key would make one huge moving-window list in Redis).
            self.api_keys = [
                create_api_client(session=s, name=f"bench-client-{i}").api_key
                for i in range(self.cfg.connections)
            ]
        with session_scope() as s:
            ext = s.execute(
                text("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
                     "FROM (SELECT ST_Extent(geom)::geometry e FROM district) x")
            ).one()  # fmt: skip
            self.extent = tuple(float(v) for v in ext)  # type: ignore[assignment]
            x0, y0, x1, y1 = self.extent
            s.execute(
                text(
                    "INSERT INTO service_request (token, service_id, status, status_notes,"
                    " description, geom, attributes, contact, requested_at, updated_at) "
                    "SELECT gen_random_uuid()::text, sv.ids[1 + i % array_length(sv.ids, 1)],"
                    " CASE WHEN i % 3 = 0 THEN 'closed' ELSE 'open' END, '',"
                    " 'Seeded request ' || i || ' for the API bench',"
                    " ST_SetSRID(ST_MakePoint(:x0 + random() * (:x1 - :x0),"
                    " :y0 + random() * (:y1 - :y0)), 4326), '{}', '{}', t.at, t.at "
                    "FROM generate_series(1, :n) i,"
                    " LATERAL (SELECT now() - random() * interval '89 days' AS at"
                    " WHERE i > 0) t,"
                    " (SELECT array_agg(id ORDER BY id) ids FROM service) sv"
                ),
                {"x0": x0, "y0": y0, "x1": x1, "y1": y1, "n": self.cfg.seeded_requests},
            )
            s.execute(
                text(
                    "UPDATE service_request r SET district_id = d.id FROM district d "
                    "WHERE r.district_id IS NULL AND ST_Contains(d.geom, r.geom)"
                )
            )
            s.execute(
                text(
                    "INSERT INTO service_request_status_change (request_id, status, note, actor,"
                    " changed_at) SELECT id, 'open', '', 'bench', requested_at"
                    " FROM service_request"
                )
            )
        with session_scope() as s:
            s.connection().exec_driver_sql("ANALYZE")
        say(
            f"migrated, seeded and {self.cfg.seeded_requests} requests added in "
            f"{time.monotonic() - t:.1f}s; city extent {self.extent}"
        )

    def write_scripts(self) -> dict[str, Path]:
        """Write the wrk Lua scripts: GET over 64 bbox/date windows, POST at random points."""
        rng = random.Random(7)
        x0, y0, x1, y1 = self.extent
        now = datetime.now(UTC).replace(microsecond=0)
        paths = []
        for _ in range(64):
            # About 700 m x 670 m, and 7 days ending 1-80 days ago: windows in the past, so the
            # POSTs of earlier runs do not change the answers' size.
            w, h = 0.010, 0.006
            lx, ly = rng.uniform(x0, x1 - w), rng.uniform(y0, y1 - h)
            end = now - timedelta(days=rng.uniform(1, 80))
            q = {
                "bbox": f"{lx:.5f},{ly:.5f},{lx + w:.5f},{ly + h:.5f}",
                "start_date": (end - timedelta(days=7)).isoformat(),
                "end_date": end.isoformat(),
            }
            paths.append("/open311/v2/requests.json?" + urlencode(q))
        common = (HERE / "wrk_common.lua").read_text()
        keys = f"KEYS = {{{', '.join(json.dumps(k) for k in self.api_keys)}}}\n"
        get = (
            f"paths = {{{', '.join(json.dumps(p) for p in paths)}}}\n" + keys
            + common + (HERE / "wrk_get.lua").read_text()
        )  # fmt: skip
        post = (
            f"{keys}"
            f"X0, Y0, X1, Y1 = {x0}, {y0}, {x1}, {y1}\n" + common
            + (HERE / "wrk_post.lua").read_text()
        )  # fmt: skip
        out = {}
        for name, body in (("get", get), ("post", post)):
            p = self.root / f"{name}-saturate.lua"
            p.write_text(body)
            out[f"{name}-saturate"] = p
        self.paths = paths
        say(f"GET example: {paths[0]}")
        return out

    # servers ------------------------------------------------------------------------------------
    def start_servers(self) -> None:
        """Our API exactly as `smartcity api` serves it, and the baseline with the same gunicorn."""
        from shared.stack import free_port, port_open

        assert self.procs is not None
        self.ports = {"ours": free_port(), "baseline": free_port()}
        self.procs.start(
            "ours",
            [SMARTCITY, "api", "--port", str(self.ports["ours"]),
             "--workers", str(self.cfg.gunicorn_workers),
             "--threads", str(self.cfg.gunicorn_threads)],
        )  # fmt: skip
        gunicorn = str(Path(PY).with_name("gunicorn"))
        self.procs.start(
            "baseline",
            [gunicorn, "-w", str(self.cfg.gunicorn_workers),
             "--threads", str(self.cfg.gunicorn_threads),
             "-b", f"127.0.0.1:{self.ports['baseline']}", "--graceful-timeout", "5",
             "bench.api.baseline:make_app()"],
        )  # fmt: skip
        deadline = time.monotonic() + 60
        for name, port in self.ports.items():
            while not port_open(port):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not listen:\n{self.procs.log_text(name)}")
                time.sleep(0.2)
        # Warm both up (imports, connection pools, first query plans) and check the answers.
        import httpx

        for name, port in self.ports.items():
            base = f"http://127.0.0.1:{port}/open311/v2/requests.json"
            for _ in range(20):
                r = httpx.get(base, params={"bbox": ",".join(map(str, self.extent))}, timeout=30)
            assert r.status_code == 200, (name, r.status_code, r.text[:300])
            lat, long = self.extent[1] + 0.001, self.extent[0] + 0.001
            form = {"api_key": self.api_key, "service_code": "graffiti",
                    "lat": str(lat), "long": str(long)}  # fmt: skip
            p = httpx.post(base, data=form, timeout=30)
            assert p.status_code == 201, (name, p.status_code, p.text[:300])
            rid = p.json()[0]["service_request_id"]
            say(f"{name} on :{port}: GET {len(r.json())} rows, POST -> {rid}")

    # ingestion load -----------------------------------------------------------------------------
    def start_ingestion(self, *, phase: str = "ingest", nice: int = 0) -> None:
        """Worker, bridge and `smartcity simulate` at the configured rate (packs of 100); worker
        and bridge run with `--nice nice` (the simulator stands for sensors elsewhere)."""
        assert self.procs is not None
        self.ingest_name = phase
        self.procs.start("worker", [SMARTCITY, "worker", "-c", "2", "--queues", "ingest,alerts",
                                    "--loglevel", "warning", "--nice", str(nice)])  # fmt: skip
        self.procs.start("bridge", [SMARTCITY, "bridge", "--batch", "5000", "--wait-ms", "100",
                                    "--nice", str(nice)])  # fmt: skip
        self.procs.wait_log("bridge", "bridge:", timeout=60)
        self.procs.start(
            "simulate",
            [SMARTCITY, "simulate", "--rate", self.cfg.ingest_rate,
             "--packed", str(self.cfg.ingest_pack), "--qos", "0"],
        )  # fmt: skip
        time.sleep(8)  # the worker's first batches, partitions and plans
        self.t0, self.rows0 = time.time(), self.stored_rows()
        c = self.cfg
        say(f"ingestion running: simulate --rate {c.ingest_rate} --packed {c.ingest_pack}, "
            f"worker and bridge at nice {nice}")  # fmt: skip

    def stop_ingestion(self) -> None:
        assert self.procs is not None
        t1, rows1 = time.time(), self.stored_rows()
        per_s = (rows1 - self.rows0) / (t1 - self.t0)
        # Repeated arms of one nice value (0 10 0 10) each keep their own figure.
        self.ingest.setdefault(self.ingest_name, []).append(per_s)
        for name in ("simulate", "bridge", "worker"):
            self.procs.stop(name)
        say(f"ingestion stopped: {per_s:,.0f} readings/s stored on average")

    def stored_rows(self) -> int:
        import psycopg

        with psycopg.connect(self.state.database_url, autocommit=True) as c:
            return int(c.execute("SELECT count(*) FROM observation").fetchone()[0])

    def server_cpu(self, target: str) -> float:
        """CPU seconds used so far by a server's gunicorn master and workers."""
        import psutil

        assert self.procs is not None
        root = psutil.Process(self.procs.procs[target].pid)
        total = 0.0
        for p in [root, *root.children(recursive=True)]:
            with suppress(psutil.NoSuchProcess):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    # load ---------------------------------------------------------------------------------------
    def wrk(self, *, phase: str, target: str, endpoint: str, mode: str, rep: int,
            scripts: dict[str, Path]) -> WrkResult:  # fmt: skip
        """One wrk run; its Lua `done` prints one JSON line with the figures."""
        c = self.cfg
        cmd = ["wrk", "-t", str(c.wrk_threads), "-c", str(c.connections), "-d", f"{c.duration_s}s",
               "--timeout", "10s", "-s", str(scripts[f"{endpoint}-{mode}"]),
               f"http://127.0.0.1:{self.ports[target]}"]  # fmt: skip
        cpu0, load1 = self.server_cpu(target), os.getloadavg()[0]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=c.duration_s + 60)
        cpu = self.server_cpu(target) - cpu0
        line = next((x for x in out.stdout.splitlines() if x.startswith("WRK_JSON ")), None)
        if line is None:
            raise RuntimeError(f"wrk gave no figures:\n{out.stdout}\n{out.stderr}")
        d = json.loads(line[9:])
        secs = d["duration_us"] / 1e6
        res = WrkResult(
            phase=phase, target=target, endpoint=endpoint, mode=mode, rep=rep,
            requests=d["requests"], duration_s=secs, req_per_s=d["requests"] / secs,
            p50_ms=d["p50_us"] / 1e3, p90_ms=d["p90_us"] / 1e3, p99_ms=d["p99_us"] / 1e3,
            max_ms=d["max_us"] / 1e3,
            errors=d["status"] + d["connect"] + d["read"] + d["write"] + d["timeout"],
            cpu_ms_per_req=cpu * 1000 / max(1, d["requests"]), load1=load1,
        )  # fmt: skip
        say(f"  {phase:6} {target:8} {endpoint:4} {mode:8} rep {rep}: {res.req_per_s:7.0f} req/s "
            f"p50 {res.p50_ms:7.1f} ms p99 {res.p99_ms:7.1f} ms errors {res.errors} "
            f"cpu {res.cpu_ms_per_req:.1f} ms/req")  # fmt: skip
        self.results.append(res)
        return res

    def paced(self, *, phase: str, target: str, endpoint: str, rep: int) -> WrkResult:
        """One open-loop run at `paced_rate` requests/s from 500 clients."""
        from bench.api.paced import run_paced

        x0, y0, x1, y1 = self.extent
        keys, paths = self.api_keys, self.paths

        def build(rng: random.Random) -> tuple[str, str, dict[str, str] | None]:
            key = rng.choice(keys)
            if endpoint == "get":
                return "GET", f"{rng.choice(paths)}&api_key={key}", None
            form = {"api_key": key, "service_code": "graffiti",
                    "lat": f"{rng.uniform(y0, y1):.6f}", "long": f"{rng.uniform(x0, x1):.6f}",
                    "description": "Tag on the wall"}  # fmt: skip
            return "POST", "/open311/v2/requests.json", form

        c = self.cfg
        cpu0, load1 = self.server_cpu(target), os.getloadavg()[0]
        out = run_paced(f"http://127.0.0.1:{self.ports[target]}", build, rate=c.paced_rate,
                        duration_s=c.duration_s, clients=c.connections, seed=rep)  # fmt: skip
        cpu = self.server_cpu(target) - cpu0
        lat = sorted(out.latencies_ms)

        def q(p: float) -> float:
            return lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")

        res = WrkResult(
            phase=phase, target=target, endpoint=endpoint, mode="paced", rep=rep,
            requests=len(lat), duration_s=out.duration_s, req_per_s=len(lat) / out.duration_s,
            p50_ms=q(0.50), p90_ms=q(0.90), p99_ms=q(0.99), max_ms=lat[-1] if lat else 0.0,
            errors=out.errors, cpu_ms_per_req=cpu * 1000 / max(1, len(lat)), load1=load1,
        )  # fmt: skip
        say(f"  {phase:6} {target:8} {endpoint:4} paced    rep {rep}: {res.req_per_s:7.0f} req/s "
            f"p50 {res.p50_ms:7.1f} ms p99 {res.p99_ms:7.1f} ms errors {res.errors} "
            f"{dict(out.kinds) or ''} cpu {res.cpu_ms_per_req:.1f} ms/req "
            f"load {load1:.1f}")  # fmt: skip
        self.results.append(res)
        return res

    def run_phase(self, phase: str, scripts: dict[str, Path]) -> None:
        for rep in range(1, self.cfg.reps + 1):
            for endpoint in self.cfg.endpoints:
                for mode in self.cfg.modes:
                    # ours and the baseline back to back, alternating who goes first.
                    order = TARGETS if rep % 2 else TARGETS[::-1]
                    for target in order:
                        if mode == "paced":
                            self.paced(phase=phase, target=target, endpoint=endpoint, rep=rep)
                        else:
                            self.wrk(phase=phase, target=target, endpoint=endpoint,
                                     mode=mode, rep=rep, scripts=scripts)  # fmt: skip
                        self.settle(target)

    def settle(self, target: str, limit_s: float = 60.0) -> None:
        """Wait until the server has worked off the backlog wrk left (closed sockets' requests
        still run): three quick answers in a row, so one run's queue does not land on the next."""
        import httpx

        url = f"http://127.0.0.1:{self.ports[target]}/open311/v2/requests.json"
        params = {"bbox": "0,0,0.001,0.001"}  # an empty answer: measures the queue, not the query
        deadline, quick = time.monotonic() + limit_s, 0
        while quick < 3 and time.monotonic() < deadline:
            t = time.monotonic()
            with suppress(httpx.HTTPError):
                httpx.get(url, params=params, timeout=limit_s)
            quick = quick + 1 if time.monotonic() - t < 0.1 else 0
        time.sleep(0.5)


def run(cfg: Config) -> dict[str, Any]:
    """Run the whole bench and return the raw results and medians."""
    t0 = time.monotonic()
    with ApiBench(cfg) as b:
        b.prepare_db()
        scripts = b.write_scripts()
        b.start_servers()
        for phase, nice in run_plan(cfg):
            if nice is not None:
                b.start_ingestion(phase=phase, nice=nice)
            runs = len(cfg.endpoints) * len(cfg.modes) * 2
            say(f"phase {phase}: {cfg.reps} rep(s) x {runs} runs of {cfg.duration_s}s, "
                f"{cfg.connections} connections, load {os.getloadavg()[0]:.1f}")  # fmt: skip
            b.run_phase(phase, scripts)
            if nice is not None:
                b.stop_ingestion()
        res = {
            "config": asdict(cfg),
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "runs": [asdict(r) for r in b.results],
            "ingest": b.ingest,
            "medians": medians(b.results),
        }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"api-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(res, indent=1))
    res["results_file"] = str(path)
    res["wall_s"] = time.monotonic() - t0
    return res


def run_plan(cfg: Config) -> list[tuple[str, int | None]]:
    """The phases in order, each with the nice value of its ingestion (None: no ingestion)."""
    plan: list[tuple[str, int | None]] = []
    for phase in cfg.phases:
        if phase != "ingest":
            plan.append((phase, None))
        elif len(cfg.ingest_nice) == 1 and cfg.ingest_nice[0] == 0:
            plan.append(("ingest", 0))  # the bench as before: one phase called "ingest"
        else:
            plan += [(f"ingest-nice{n}", n) for n in cfg.ingest_nice]
    return plan


def phase_names(cfg: dict[str, Any]) -> list[str]:
    """Distinct phase names in run order (from a results file's config)."""
    return list(dict.fromkeys(name for name, _ in run_plan(Config(**cfg))))


def medians(results: list[WrkResult]) -> dict[str, dict[str, float]]:
    """Median of each figure over the repetitions, per phase/target/endpoint/mode."""
    groups: dict[str, list[WrkResult]] = {}
    for r in results:
        groups.setdefault(f"{r.phase}/{r.target}/{r.endpoint}/{r.mode}", []).append(r)
    return {
        key: {
            f: statistics.median(getattr(r, f) for r in rs)
            for f in (
                "req_per_s",
                "p50_ms",
                "p90_ms",
                "p99_ms",
                "max_ms",
                "errors",
                "cpu_ms_per_req",
                "load1",
            )
        }
        | {"reps": len(rs)}
        for key, rs in groups.items()
    }


def table(res: dict[str, Any]) -> str:
    """A Markdown table: ours, the baseline and the ratio, per phase/endpoint/mode."""
    m = res["medians"]
    lines = [
        "| phase | call | mode | ours req/s | base req/s | ours p50 / p99 ms | "
        "base p50 / p99 ms | p99 ratio | server CPU ms/req ours / base (ratio) | errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for phase in phase_names(res["config"]):
        for endpoint in ENDPOINTS:
            for mode in MODES:
                o = m.get(f"{phase}/ours/{endpoint}/{mode}")
                b = m.get(f"{phase}/baseline/{endpoint}/{mode}")
                if not o or not b:
                    continue
                ratio = o["p99_ms"] / b["p99_ms"] if b["p99_ms"] else float("nan")
                lines.append(
                    f"| {phase} | {endpoint.upper()} | {mode} | {o['req_per_s']:,.0f} | "
                    f"{b['req_per_s']:,.0f} | {o['p50_ms']:.1f} / {o['p99_ms']:.1f} | "
                    f"{b['p50_ms']:.1f} / {b['p99_ms']:.1f} | {ratio:.2f}x | "
                    f"{o['cpu_ms_per_req']:.1f} / {b['cpu_ms_per_req']:.1f} "
                    f"({o['cpu_ms_per_req'] / b['cpu_ms_per_req']:.1f}x) | "
                    f"{o['errors']:.0f} / {b['errors']:.0f} |"
                )
    for phase, per_s in res.get("ingest", {}).items():
        arms = ", ".join(f"{x:,.0f}" for x in per_s)
        offered = f"{res['config']['ingest_rate']} x {res['config']['ingest_pack']}"
        lines.append(f"\ningestion during '{phase}': {arms} readings/s stored "
                     f"(mean per arm; offered {offered} readings)")  # fmt: skip
    return "\n".join(lines)
