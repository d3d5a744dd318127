"""Fixtures for end-to-end tests: a real Celery worker process and a Socket.IO server."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask_socketio import SocketIO, join_room

from shared.realtime import GLOBAL_ROOM
from shared.stack import StackState, free_port, port_open
from tests.conftest import REPO, new_stack_dir


class WorkerProcess:
    """`smartcity worker` as a child process in its own process group."""

    def __init__(
        self,
        env: dict[str, str],
        log: Path,
        args: tuple[str, ...] = ("-c", "1", "--queues", "ingest,alerts"),
    ) -> None:
        self.env, self.log, self.args = env, log, args
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = Path(sys.executable).with_name("smartcity")
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [str(exe), "worker", *self.args, "--loglevel", "info"],
            env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if b"ready." in self.log.read_bytes():
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)
        raise RuntimeError("worker did not become ready in 60 s")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=30)


@pytest.fixture(scope="session")
def worker_env(stack: StackState, engine) -> dict[str, str]:  # type: ignore[no-untyped-def]
    env = dict(os.environ)
    env.update(stack.env())
    # Redeliver a dead worker's task after 5 s instead of a minute, so the loss test is quick.
    env["INGEST_VISIBILITY_TIMEOUT_S"] = "5"
    env["SMARTCITY_STACK_DIR"] = str(new_stack_dir("worker"))
    env["PYTHONPATH"] = str(REPO)
    return env


@pytest.fixture(scope="session")
def worker(worker_env: dict[str, str]) -> Iterator[WorkerProcess]:
    """A real Celery worker consuming the test stack's Redis."""
    Path(worker_env["SMARTCITY_STACK_DIR"]).mkdir(parents=True, exist_ok=True)
    w = WorkerProcess(worker_env, Path(worker_env["SMARTCITY_STACK_DIR"]) / "worker.log")
    w.start()
    yield w
    w.kill(signal.SIGTERM)
    shutil.rmtree(worker_env["SMARTCITY_STACK_DIR"], ignore_errors=True)


@pytest.fixture(scope="session")
def sio_server(stack: StackState) -> Iterator[str]:
    """A Flask-SocketIO server on the Redis queue; clients join the global alert room."""
    app = Flask("sio-test")
    sio = SocketIO(app, message_queue=stack.redis_url, async_mode="threading")

    @sio.on("connect")
    def _connect(*_args: object) -> None:
        join_room(GLOBAL_ROOM)

    port = free_port()
    t = threading.Thread(
        target=sio.run, args=(app,),
        kwargs={"host": "127.0.0.1", "port": port, "allow_unsafe_werkzeug": True,
                "log_output": False},
        daemon=True,
    )  # fmt: skip
    t.start()
    deadline = time.monotonic() + 10
    while not port_open(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
