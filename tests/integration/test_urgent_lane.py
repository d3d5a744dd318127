"""The urgent lane on the real stack: a reading that opens an alert is stored, and its alert
reaches a Socket.IO client, by the urgent queue's own worker while the bulk lane is held."""

from __future__ import annotations

import json
import queue
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import socketio
from sqlalchemy import Engine, text

from shared.ingest.bridge import Bridge, parse_mqtt_url
from shared.ingest.schemas import Batch
from shared.ingest.urgent import RedisUrgentLevels
from shared.stack import StackState
from shared.tasks.celery_app import ConfirmedSink, ingest_sink, make_celery
from tests.conftest import new_stack_dir
from tests.integration.conftest import WorkerProcess

SENSOR = "WX-05"  # no other test writes to it


class GatedSink:
    """Passes urgent batches straight to the real sink; holds bulk ones until `release()`."""

    def __init__(self, inner: ConfirmedSink) -> None:
        self.inner = inner
        self.held: list[tuple[Batch, Callable[[BaseException | None], None]]] = []
        self.is_open = False
        self.lock = threading.Lock()

    def submit(
        self, batch: Batch, on_done: Callable[[BaseException | None], None], *, urgent: bool = False
    ) -> None:
        with self.lock:
            if not urgent and not self.is_open:
                self.held.append((batch, on_done))
                return
        self.inner.submit(batch, on_done, urgent=urgent)

    def release(self) -> None:
        with self.lock:
            self.is_open, held, self.held = True, self.held, []
        for batch, on_done in held:
            self.inner.submit(batch, on_done)


@pytest.fixture
def urgent_worker(worker_env: dict[str, str]) -> Iterator[WorkerProcess]:
    """`smartcity worker --pool solo --queues urgent`: the lane's own worker."""
    env = {**worker_env, "SMARTCITY_STACK_DIR": str(new_stack_dir("urgent-worker"))}
    Path(env["SMARTCITY_STACK_DIR"]).mkdir(parents=True, exist_ok=True)
    w = WorkerProcess(env, Path(env["SMARTCITY_STACK_DIR"]) / "worker.log",
                      args=("--pool", "solo", "--queues", "urgent"))  # fmt: skip
    w.start()
    yield w
    w.kill(signal.SIGTERM)
    shutil.rmtree(env["SMARTCITY_STACK_DIR"], ignore_errors=True)


def _rows(engine: Engine, since: float) -> list[float]:
    with engine.connect() as c:
        return list(c.scalars(text(
            "SELECT o.result FROM observation o JOIN datastream d ON d.id = o.datastream_id "
            "JOIN thing t ON t.id = d.thing_id JOIN observed_property p "
            "ON p.id = d.observed_property_id WHERE t.code = :c AND p.code = 'temperature' "
            "AND o.phenomenon_time >= to_timestamp(:s) ORDER BY o.phenomenon_time"),
            {"c": SENSOR, "s": since}))  # fmt: skip


def test_an_opening_reading_is_stored_and_alerted_by_the_urgent_worker_while_bulk_waits(
    stack: StackState, engine: Engine, worker: object, urgent_worker: WorkerProcess,
    sio_server: str,
) -> None:  # fmt: skip
    with engine.connect() as c:
        district = c.scalar(text(
            "SELECT d.code FROM thing t JOIN district d ON d.id = t.district_id "
            "WHERE t.code = :c"), {"c": SENSOR})  # fmt: skip
    topic = f"city/{district}/weather/{SENSOR}"
    levels = RedisUrgentLevels(stack.redis_url, refresh_s=0.2)
    sink = GatedSink(ingest_sink(make_celery(), redis_url=stack.redis_url))  # type: ignore[arg-type]
    bridge = Bridge(url=stack.mqtt_url, sink=sink, client_id="test-urgent-lane", max_wait_s=0.05,
                    urgent=levels)  # fmt: skip
    events: queue.Queue[dict] = queue.Queue()
    client = socketio.Client()
    client.on("alert.raised", events.put)
    client.connect(sio_server, transports=["websocket"])
    bridge.start()
    try:
        assert bridge.wait_ready(10)
        deadline = time.monotonic() + 30
        while levels.count == 0:  # the urgent worker publishes the rules' levels
            assert time.monotonic() < deadline, "no urgent levels from the urgent worker"
            time.sleep(0.1)
        time.sleep(0.3)  # let the Socket.IO server join the client to the room
        now = time.time()
        endpoint = parse_mqtt_url(stack.mqtt_url)
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-urgent-pub")
        pub.connect(endpoint.host, endpoint.port)
        pub.loop_start()
        try:
            for ts, value in ((now - 2, 20.0), (now - 1, 39.0)):  # ok (bulk), then critical
                pub.publish(topic, json.dumps({"ts": ts, "temperature": value}), qos=1
                            ).wait_for_publish(5)  # fmt: skip
        finally:
            pub.loop_stop()
            pub.disconnect()

        got = None
        deadline = time.monotonic() + 15
        while got is None and time.monotonic() < deadline:
            try:
                data = events.get(timeout=0.5)
            except queue.Empty:
                continue
            if data["alert"]["thing_code"] == SENSOR:
                got = data
        assert got is not None, "no alert from the urgent lane"
        assert got["alert"]["severity"] == "critical" and got["alert"]["rule_name"] == "Heat"
        assert _rows(engine, now - 3) == [39.0]  # the bulk reading is still held
        assert len(sink.held) == 1 and bridge.counters.urgent == 1
        log = urgent_worker.log.read_text()
        assert "ingest.store_batch" in log  # stored by the urgent worker, not the bulk one

        sink.release()
        deadline = time.monotonic() + 15
        while len(_rows(engine, now - 3)) < 2:
            assert time.monotonic() < deadline, "the bulk reading never arrived"
            time.sleep(0.1)
        time.sleep(0.5)
        assert _rows(engine, now - 3) == [20.0, 39.0]  # each once
        with engine.connect() as c:
            status = c.scalar(text(
                "SELECT a.status FROM alert a JOIN datastream d ON d.id = a.datastream_id "
                "JOIN thing t ON t.id = d.thing_id WHERE t.code = :c ORDER BY a.id DESC LIMIT 1"),
                {"c": SENSOR})  # fmt: skip
        # The older, cooler reading came late: it must not resolve the newer verdict.
        assert status == "open"
    finally:
        client.disconnect()
        bridge.stop(end_session=True)
        levels.close()
