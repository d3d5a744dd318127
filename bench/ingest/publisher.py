"""An open-loop MQTT publisher fast enough to load the pipeline from one Python process.

paho's Python client tops out around 40-50k messages/s per process (TOOLCHAIN.md), and every
cycle it spends is taken from the 2 cores the pipeline under test runs on. So this publisher speaks
MQTT 3.1.1 on a raw socket: each pool entry's PUBLISH packet is built once, and per message only
the scheduled timestamp and the packet id are spliced in; PUBACKs are drained by a reader thread.
All of a run's packets are built into one buffer *before* t0 (`build_s` in the output; the
runner leaves `lead_s(messages)` for it), so that during the run the publisher only hands
slices of that buffer to the kernel: real sensors are other machines, and the load generator's
CPU should not be taken from the pipeline under test during the measured window.

Open loop: message i is *scheduled* at t0 + i / rate and carries that time in its payload (`ts`
for single readings, `bt` + `t` for SenML packs). If the publisher falls behind, it sends late
but keeps the scheduled stamps, so a stalled publisher shows up as latency, never as a lower
offered rate. It reports how far behind schedule it got (`max_lag_s`).

Run as `python -m bench.ingest.publisher CONFIG.json`; prints one JSON line of counters.
"""

from __future__ import annotations

import json
import math
import resource
import socket
import struct
import sys
import threading
import time
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TS_FORMAT = b"%.6f"  # epoch seconds with microseconds: a constant 17 bytes until 2286


def varint(n: int) -> bytes:
    """MQTT remaining-length encoding (MQTT 3.1.1 §2.2.3)."""
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def connect(host: str, port: int, client_id: str) -> socket.socket:
    """Open an MQTT 3.1.1 session (clean, keep-alive off: we never idle while connected)."""
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    cid = client_id.encode()
    var = b"\x00\x04MQTT\x04\x02\x00\x00" + struct.pack("!H", len(cid)) + cid
    sock.sendall(b"\x10" + varint(len(var)) + var)
    ack = b""
    while len(ack) < 4:
        chunk = sock.recv(4 - len(ack))
        if not chunk:
            raise ConnectionError("broker closed the connection before CONNACK")
        ack += chunk
    if ack[0] != 0x20 or ack[3] != 0:
        raise ConnectionError(f"CONNACK refused: {ack!r}")
    return sock


@dataclass
class Template:
    """One message minus its timestamp and packet id: head + pid + mid + ts + tail."""

    head: bytes  # fixed header, remaining length, topic
    mid: bytes  # payload bytes before the timestamp
    tail: bytes  # payload bytes after the timestamp
    readings: int


def build_templates(cfg: dict[str, Any]) -> tuple[list[Template], float]:
    """Return the message templates and the time step between consecutive messages' stamps."""
    pool: list[list[Any]] = cfg["pool"]  # [topic, sensor_code, metric, value]
    qos = int(cfg.get("qos", 1))
    rate = float(cfg["rate"])  # readings/s, all processes together
    ts_len = len(TS_FORMAT % time.time())
    flags = 0x32 if qos else 0x30
    pid_len = 2 if qos else 0
    out: list[Template] = []

    def make(topic: str, mid: bytes, tail: bytes, readings: int) -> Template:
        t = topic.encode()
        remaining = 2 + len(t) + pid_len + len(mid) + ts_len + len(tail)
        head = bytes([flags]) + varint(remaining) + struct.pack("!H", len(t)) + t
        return Template(head=head, mid=mid, tail=tail, readings=readings)

    k = int(cfg.get("pack", 0))
    if not k:
        for topic, _code, metric, value in pool:
            out.append(make(topic, b'{"ts":', f',"{metric}":{value}}}'.encode(), 1))
        return out, 1.0 / rate
    # Packs: reading r of the stream is scheduled at t0 + r / rate; a pack carries K consecutive
    # readings with bt = its first reading's time and t = k / rate for the others (RFC 8428).
    n = len(pool) * k // math.gcd(len(pool), k)  # a whole number of packs over the pool
    gateways = int(cfg.get("gateways", 16))
    for p in range(n // k):
        recs = []
        for j in range(k):
            _topic, code, metric, value = pool[(p * k + j) % len(pool)]
            recs.append(f'"n":"{code}:{metric}","v":{value},"t":{j / rate:.7f}}}')
        tail = ("," + ",{".join(recs) + "]").encode()
        out.append(make(f"city/gateway/bench-gw-{p % gateways:02d}", b'[{"bt":', tail, k))
    return out, k / rate


BUILD_US_PER_MESSAGE = 4.0  # generous: ~1.5-2.5 us measured per single-reading packet here


def lead_s(messages: int) -> float:
    """Seconds to leave between starting the publisher and t0: start-up plus the build."""
    return 0.5 + messages * BUILD_US_PER_MESSAGE * 1e-6


def build_buffer(
    templates: list[Template], step: float, t0: float, mine: range, qos: int
) -> tuple[bytes, array, int]:
    """All of this process's packets, back to back, their offsets, and the readings they carry."""
    pids = [struct.pack("!H", i) for i in range(65536)]
    ntpl = len(templates)
    parts: list[bytes] = []
    offsets = array("Q", [0])
    total = readings = 0
    for q, i in enumerate(mine):
        tpl = templates[i % ntpl]
        pid = pids[q % 65535 + 1] if qos else b""
        pkt = tpl.head + pid + tpl.mid + TS_FORMAT % (t0 + i * step) + tpl.tail
        parts.append(pkt)
        total += len(pkt)
        offsets.append(total)
        readings += tpl.readings
    return b"".join(parts), offsets, readings


def run(cfg: dict[str, Any]) -> dict[str, Any]:
    """Publish on schedule for `duration` seconds; return counters."""
    templates, step = build_templates(cfg)
    procs, index = int(cfg.get("procs", 1)), int(cfg.get("index", 0))
    qos = int(cfg.get("qos", 1))
    t0, duration = float(cfg["t0"]), float(cfg["duration"])
    total = int(duration / step)  # messages of the whole stream in the window
    mine = range(index, total, procs)  # this process sends every procs-th message
    built = time.time()
    buf, offsets, readings = build_buffer(templates, step, t0, mine, qos)
    built = time.time() - built
    cpu_built = _cpu_seconds()
    view = memoryview(buf)
    sock = connect(cfg["host"], int(cfg["port"]), f"bench-pub-{cfg.get('tag', '')}-{index}")
    acked = [0]

    def drain() -> None:
        # PUBACK is exactly 4 bytes in MQTT 3.1.1: counting bytes counts acknowledgements.
        # Blocking reads (a socket timeout would also apply to sendall): the broker closes the
        # connection after our DISCONNECT, which ends this loop. The nap lets acknowledgements
        # pile up, so that this thread wakes (and takes the GIL) ~200 times a second, not per
        # broker write.
        got = 0
        while True:
            try:
                chunk = sock.recv(1 << 20)
            except OSError:
                break
            if not chunk:
                break
            got += len(chunk)
            acked[0] = got // 4
            time.sleep(0.005)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    chunk_max = int(cfg.get("chunk", 512))
    sent = 0
    max_lag = 0.0
    lag_sum = 0.0
    lag_n = 0
    pos = 0  # position in `mine`
    n_mine = len(mine)
    while pos < n_mine:
        now = time.time()
        # Every message of ours scheduled at or before now is due.
        due_global = int((now - t0) / step) + 1
        due = min(n_mine, max(0, (due_global - index + procs - 1) // procs))
        if due <= pos:
            nxt = t0 + mine[pos] * step
            time.sleep(min(0.002, max(0.0, nxt - now)))
            continue
        end = min(due, pos + chunk_max)
        lag = now - (t0 + mine[pos] * step)
        max_lag = max(max_lag, lag)
        lag_sum += lag
        lag_n += 1
        sock.sendall(view[offsets[pos] : offsets[end]])
        sent += end - pos
        pos = end
    finished = time.time()
    if qos:
        deadline = time.monotonic() + float(cfg.get("ack_timeout", 30))
        while acked[0] < sent and time.monotonic() < deadline:
            time.sleep(0.01)
    try:
        sock.sendall(b"\xe0\x00")  # DISCONNECT
        reader.join(5)
    finally:
        sock.close()
    return {
        "index": index,
        "messages": sent,
        "readings": readings,
        "build_s": round(built, 3),
        "acked": acked[0] if qos else sent,
        "max_lag_s": round(max_lag, 4),
        "mean_lag_s": round(lag_sum / max(lag_n, 1), 5),
        "send_wall_s": round(finished - t0, 3),
        # Reported by the process itself: it exits before the driver could sample it. The
        # build, before t0, is reported apart: it is not taken from the measured window.
        "cpu_s": round(_cpu_seconds() - cpu_built, 3),
        "build_cpu_s": round(cpu_built, 3),
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    cfg = json.loads(Path(sys.argv[1]).read_text())
    if len(sys.argv) > 2:
        cfg["index"] = int(sys.argv[2])
    print(json.dumps(run(cfg)), flush=True)


if __name__ == "__main__":
    main()
