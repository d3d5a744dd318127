"""The private stack: idempotent `up`, honest `status`, and a `down` that leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from shared.stack import LocalStack, StackError, find_binary, pid_alive, port_open
from tests.conftest import new_stack_dir


def _processes_under(root: Path) -> list[int]:
    """Return pids whose command line mentions the stack folder."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(root) in cmdline:
            pids.append(int(proc.name))
    return pids


def test_up_twice_is_harmless_and_down_leaves_nothing() -> None:
    root = new_stack_dir("lifecycle")
    local = LocalStack(root, fsync=False)
    try:
        first = local.up()
        ports = {n: c.port for n, c in first.components.items()}
        pids = {n: c.pid for n, c in first.components.items()}
        assert set(ports) == {"postgres", "redis", "mosquitto"}
        assert all(port_open(p) for p in ports.values())

        second = local.up()
        assert {n: c.port for n, c in second.components.items()} == ports
        assert {n: c.pid for n, c in second.components.items()} == pids
        assert all(info["running"] for info in local.status().values())

        env = dict(line.split("=", 1) for line in (root / "env").read_text().splitlines())
        assert env["DATABASE_URL"].endswith(f":{ports['postgres']}/smartcity")
        assert env["REDIS_URL"] == f"redis://127.0.0.1:{ports['redis']}/0"
        assert env["MQTT_URL"] == f"mqtt://127.0.0.1:{ports['mosquitto']}"
        with psycopg.connect(env["DATABASE_URL"]) as conn:
            exts = {r[0] for r in conn.execute("SELECT extname FROM pg_extension")}
        assert {"postgis", "pgrouting"} <= exts
    finally:
        local.down()

    assert not any(pid_alive(p) for p in pids.values())
    assert not any(port_open(p) for p in ports.values())
    assert _processes_under(root) == []
    assert not any(info["running"] for info in local.status().values())

    # A stopped stack starts again on its old ports, with its data kept.
    again = local.up()
    try:
        assert {n: c.port for n, c in again.components.items()} == ports
    finally:
        local.down(purge=True)
    assert not root.exists()
    assert _processes_under(root) == []


def test_missing_binary_names_the_debian_package(tmp_path: Path) -> None:
    with pytest.raises(
        StackError, match=r"^`mosquitto` not found: install the Debian package `mosquitto`"
    ):
        find_binary("mosquitto", search_dirs=(tmp_path,), use_path=False)
    with pytest.raises(StackError, match=r"Debian package `redis-server`"):
        find_binary("redis-server", search_dirs=(tmp_path,), use_path=False)
