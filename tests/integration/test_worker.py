"""A real Celery worker stores batches sent through Redis and fans alerts out over Socket.IO."""

from __future__ import annotations

import queue
import time
from uuid import uuid4

import socketio
from sqlalchemy import Engine, func, select, text

from shared.ingest.schemas import Batch, Reading, batch_encoder
from shared.sensing.models import DeadLetter
from shared.tasks.celery_app import make_celery
from tests.integration.conftest import WorkerProcess


def _wait(check, timeout: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def _send(batch: Batch) -> None:
    make_celery().send_task("ingest.store_batch", args=[batch_encoder.encode(batch).decode()])


def _count_for(engine: Engine, code: str, since: float, until: float) -> int:
    with engine.connect() as c:
        return c.scalar(
            text(
                "SELECT count(*) FROM observation o JOIN datastream d ON d.id = o.datastream_id "
                "JOIN thing t ON t.id = d.thing_id WHERE t.code = :c "
                "AND o.phenomenon_time BETWEEN to_timestamp(:a) AND to_timestamp(:b)"
            ),
            {"c": code, "a": since, "b": until},
        )


def test_worker_stores_a_batch_once_even_when_sent_twice(
    engine: Engine, worker: WorkerProcess
) -> None:
    # Yesterday, so that readings other tests send "now" for AQ-05 do not count here.
    base = time.time() - 86_400 - 3_600
    readings = [Reading("AQ-05", "no2", base - i, 20.0 + i % 7) for i in range(500)]
    batch = Batch(batch_id=uuid4().hex, received_at=time.time(), readings=readings)
    _send(batch)
    _send(batch)  # a redelivery
    # Half a second of margin each side (readings are 1 s apart): PostgreSQL's to_timestamp and
    # Python's fromtimestamp round a float's microseconds differently for ~6 % of values, which
    # left an end reading outside an exact window now and then.
    window = (base - 499.5, base + 0.5)
    assert _wait(lambda: _count_for(engine, "AQ-05", *window) == 500)
    time.sleep(1.0)
    assert _count_for(engine, "AQ-05", *window) == 500


def test_worker_dead_letters_bad_readings(engine: Engine, worker: WorkerProcess) -> None:
    batch = Batch(
        batch_id=uuid4().hex, received_at=time.time(),
        readings=[Reading("GHOST-9", "pm25", time.time(), 5.0)],
    )  # fmt: skip
    _send(batch)

    def landed() -> bool:
        with engine.connect() as c:
            return bool(c.scalar(select(func.count()).select_from(DeadLetter)
                                 .where(DeadLetter.batch_id == batch.batch_id)))  # fmt: skip

    assert _wait(landed)
    with engine.connect() as c:
        reason = c.scalar(select(DeadLetter.reason).where(DeadLetter.batch_id == batch.batch_id))
    assert reason == "unknown_sensor"


def test_a_socketio_client_receives_the_alert(
    engine: Engine, worker: WorkerProcess, sio_server: str
) -> None:
    events: queue.Queue[tuple[str, dict]] = queue.Queue()
    client = socketio.Client()
    client.on("alert.raised", lambda data: events.put(("alert.raised", data)))
    client.on("alert.updated", lambda data: events.put(("alert.updated", data)))
    client.connect(sio_server, transports=["websocket"])
    try:
        time.sleep(0.3)  # let the server join the client to the room
        sent = time.time()
        _send(Batch(batch_id=uuid4().hex, received_at=sent,
                    readings=[Reading("NS-05", "laeq", sent, 95.0)]))  # fmt: skip
        deadline = time.monotonic() + 15
        got = None
        while time.monotonic() < deadline:
            try:
                name, data = events.get(timeout=0.5)
            except queue.Empty:
                continue
            if (
                data["alert"]["thing_code"] == "NS-05"
                and data["alert"]["rule_name"] == "Noise loud"
            ):
                got = (name, data)
                break
        assert got is not None, "no alert event reached the Socket.IO client"
        name, data = got
        assert name == "alert.raised" and data["action"] == "opened"
        assert data["alert"]["severity"] == "critical" and data["alert"]["district_code"]
    finally:
        client.disconnect()
