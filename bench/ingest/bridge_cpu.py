"""CPU per message of one `Bridge`, fed a burst of single-reading messages by `publisher.py`.

    .venv/bin/python -m bench.ingest.bridge_cpu                  # 200k messages, 3 repetitions
    .venv/bin/python -m bench.ingest.bridge_cpu --profile 20     # + cProfile, top 20 by tottime
    .venv/bin/python -m bench.ingest.bridge_cpu --pack 100 --messages 5000 --rate 1000  # packs

Starts a private Mosquitto on a free port under `.stack-bench/`, then per repetition a bridge in a
child process (the demo's group/members settings, QoS 1 with manual acks, `--batch`/`--wait-ms`
as the ingest bench) whose sink only counts, so that nothing but the bridge's own work is
measured. The publisher sends the burst at `--rate` (open loop, as in the bench). The child
reports its process CPU time (user + system, all threads) from its first message until every
reading reached the sink and was acknowledged; CPU / messages holds up on a shared machine
better than a throughput figure does.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.ingest import publisher
from shared.stack import find_binary, free_port, port_open, wait_for

REPO = Path(__file__).resolve().parents[2]

CHILD = r"""
import cProfile, io, json, pstats, sys, threading, time
from shared.ingest.bridge import Bridge

cfg = json.loads(sys.argv[1])
profiles = []
if cfg["profile"]:
    # paho's network thread does the per-message work: profile every thread started from now.
    def hook(*_args):
        p = cProfile.Profile()
        profiles.append(p)
        p.enable()
    threading.setprofile(hook)
count = [0]

def sink(batch):
    count[0] += len(batch.readings)

bridge = Bridge(url=cfg["url"], sink=sink, group=cfg["group"], client_id=cfg["client_id"],
                members=[cfg["client_id"]], max_batch=cfg["batch"],
                max_wait_s=cfg["wait_ms"] / 1000)
bridge.start()
assert bridge.wait_ready(10)
print("ready", flush=True)
while bridge.counters.messages == 0:
    time.sleep(0.0005)
cpu0, wall0 = time.process_time(), time.monotonic()
while bridge.counters.readings < cfg["messages"]:
    time.sleep(0.01)  # polling costs the bridge's process CPU too: keep it rare
cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
c = bridge.counters
bridge.stop(end_session=True)
if profiles:
    for p in profiles:
        p.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiles[0], stream=out)
    for p in profiles[1:]:
        stats.add(p)
    stats.sort_stats("tottime").print_stats(cfg["profile"])
    print(out.getvalue(), file=sys.stderr)
print(json.dumps({"cpu_s": cpu, "wall_s": wall, "messages": c.messages,
                  "readings": c.readings, "batches": c.batches}), flush=True)
"""


def start_mosquitto(base: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start a private broker (the stack's settings) and return it with its port."""
    port = free_port()
    conf = base / "mosquitto.conf"
    lines = [
        f"listener {port} 127.0.0.1",
        "allow_anonymous true",
        "persistence false",
        "max_queued_messages 1000000",
        "max_inflight_messages 0",
        f"log_dest file {base / 'mosquitto.log'}",
        "log_type error",
    ]
    if os.geteuid() == 0:
        lines.append("user root")
    conf.write_text("\n".join(lines) + "\n")
    proc = subprocess.Popen([str(find_binary("mosquitto")), "-c", str(conf)])
    wait_for(lambda: port_open(port), timeout=20, what="Mosquitto")
    return proc, port


def one_run(args: argparse.Namespace, base: Path, port: int, index: int) -> dict[str, float]:
    """Run one bridge over one burst and return its figures."""
    tag = uuid.uuid4().hex[:8]
    cfg = {
        "url": f"mqtt://127.0.0.1:{port}",
        "group": f"cpu-{tag}",
        "client_id": f"cpu-{tag}-0",
        "batch": args.batch,
        "wait_ms": args.wait_ms,
        "messages": args.messages * max(1, args.pack),  # readings the bridge must pass on
        "profile": args.profile,
    }
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    bridge = subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(cfg)],
        stdout=subprocess.PIPE,
        text=True,
        env={**env, "PYTHONPATH": str(args.src)},
        cwd=args.src,
    )
    try:
        assert bridge.stdout is not None
        line = bridge.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"bridge did not start: {line!r}")
        pool = [
            [f"city/d{k % 7}/weather/WS-{k:04d}", f"WS-{k:04d}", "air_temperature", 20.5]
            for k in range(200)
        ]
        k = max(1, args.pack)
        pub_cfg = {
            "host": "127.0.0.1",
            "port": port,
            "pool": pool,
            "rate": args.rate * k,  # readings/s
            "pack": args.pack,
            "t0": time.time() + publisher.lead_s(args.messages),
            "duration": args.messages / args.rate,
            "tag": tag,
            "qos": 1,
        }
        pub_file = base / f"pub-{index}.json"
        pub_file.write_text(json.dumps(pub_cfg))
        pub = subprocess.run(
            [sys.executable, "-m", "bench.ingest.publisher", str(pub_file)],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            timeout=600,
        )
        if pub.returncode:
            raise RuntimeError(pub.stderr)
        out, _ = bridge.communicate(timeout=600)
        result = json.loads(out.strip().splitlines()[-1])
    finally:
        if bridge.poll() is None:
            bridge.kill()
            bridge.wait()
    result["published"] = json.loads(pub.stdout)["messages"]
    result["us_per_msg"] = result["cpu_s"] / result["messages"] * 1e6
    result["us_per_reading"] = result["cpu_s"] / result["readings"] * 1e6
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--rate", type=float, default=60_000.0, help="messages/s offered")
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--wait-ms", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", type=int, default=0, help="print the top N functions")
    parser.add_argument(
        "--pack", type=int, default=0, help="readings per SenML pack (default 0: single readings)"
    )
    parser.add_argument(
        "--src",
        type=Path,
        default=REPO,
        help="tree whose `shared` the bridge runs (e.g. `git archive HEAD shared | tar -x -C D`)",
    )
    args = parser.parse_args()
    (REPO / ".stack-bench").mkdir(exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="bridge-cpu-", dir=REPO / ".stack-bench"))
    broker, port = start_mosquitto(base)
    try:
        runs = []
        for i in range(args.repeat):
            r = one_run(args, base, port, i)
            runs.append(r)
            print(
                f"run {i}: {r['messages']} messages, cpu {r['cpu_s']:.2f} s, wall {r['wall_s']:.2f}"
                f" s, {r['us_per_msg']:.1f} us/message, {r['us_per_reading']:.2f} us/reading, "
                f"{r['batches']} batches, "
                f"load {Path('/proc/loadavg').read_text().split()[0]}",
                flush=True,
            )
        med = statistics.median(r["us_per_msg"] for r in runs)
        print(f"median: {med:.1f} us CPU per message ({1e6 / med:,.0f} messages per CPU-second)")
        if args.pack:
            med = statistics.median(r["us_per_reading"] for r in runs)
            print(f"median: {med:.2f} us CPU per reading ({1e6 / med:,.0f} per CPU-second)")
    finally:
        broker.terminate()
        broker.wait(10)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
