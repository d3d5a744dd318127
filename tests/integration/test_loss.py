"""No reading lost or duplicated when the worker is SIGKILLed mid-batch and restarted."""

from __future__ import annotations

import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import redis
from sqlalchemy import Engine, text

from shared.config import get_settings
from shared.db import session_scope
from shared.ingest.bridge import Bridge
from shared.simulate import flows, service
from shared.stack import StackState
from shared.tasks.celery_app import ingest_sink, make_celery
from tests.integration.conftest import WorkerProcess


def _stored_between(engine: Engine, start: datetime, end: datetime) -> tuple[int, int]:
    with engine.connect() as c:
        row = c.execute(
            text(
                "SELECT count(*), count(DISTINCT (datastream_id, phenomenon_time)) "
                "FROM observation WHERE phenomenon_time >= :a AND phenomenon_time <= :b"
            ),
            {"a": start, "b": end},
        ).one()
    return int(row[0]), int(row[1])


def test_sigkill_of_the_worker_loses_and_duplicates_nothing(
    stack: StackState, engine: Engine, worker_env: dict[str, str]
) -> None:
    # A broker database of its own, so that the session's worker cannot take these batches.
    broker = stack.redis_url.rsplit("/", 1)[0] + "/7"
    env = {**worker_env, "REDIS_URL": broker}
    log = Path(worker_env["SMARTCITY_STACK_DIR"]).with_name("loss-worker.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    worker = WorkerProcess(env, log)
    worker.start()
    celery = make_celery(get_settings().model_copy(update={"redis_url": broker}))
    # The bridge acknowledges MQTT only once the worker confirms the batch is committed.
    sink = ingest_sink(celery, redis_url=broker, confirm_timeout_s=8)
    bridge = Bridge(url=stack.mqtt_url, sink=sink, client_id="loss-bridge", group="loss",
                    max_batch=500)  # fmt: skip
    bridge.start()
    assert bridge.wait_ready(10)
    with session_scope(engine) as session:
        # Traffic detectors only, and not the two that unit tests use: the data this test
        # commits must not change what other tests see for their sensors.
        fleet = [
            f for f in service.load_fleet(session=session)
            if f.sensor_type.value == "traffic" and f.code not in ("TD-0001", "TD-0002")
        ]  # fmt: skip

    n = 24_000
    start = datetime.now(UTC)
    summary: list[flows.SimSummary] = []

    def publish() -> None:
        result = flows.run_simulation(
            mqtt_url=stack.mqtt_url, fleet=fleet, rate_per_s=1500, count=n, progress=None
        )
        summary.append(result)

    sim = threading.Thread(target=publish)
    sim.start()
    queue = redis.Redis.from_url(broker)
    try:
        # Kill once storing is under way, while the publisher is still sending.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if _stored_between(engine, start, datetime.now(UTC))[0] > 2000:
                break
            time.sleep(0.02)
        killed_at = _stored_between(engine, start, datetime.now(UTC))[0]
        worker.kill(signal.SIGKILL)
        time.sleep(1.0)
        worker.start()
        sim.join(timeout=120)
        assert summary and summary[0].unacked == 0
        valid = summary[0].readings_sent
        assert valid == n
        end = datetime.now(UTC)
        deadline = time.monotonic() + 90
        while _stored_between(engine, start, end)[0] < valid and time.monotonic() < deadline:
            time.sleep(0.25)
        time.sleep(2.0)  # anything redelivered late would show up now as an extra row
        rows, distinct = _stored_between(engine, start, end)
        assert 0 < killed_at < valid
        diag = {"unacked": queue.hlen("unacked"), "queued": queue.llen("ingest"),
                "mutex": queue.exists("unacked_mutex"), "bridge": bridge.counters}  # fmt: skip
        assert (rows, distinct) == (valid, valid), diag
    finally:
        bridge.stop()
        worker.kill(signal.SIGTERM)
