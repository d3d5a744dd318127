"""MQTT -> bridge -> Celery on Redis -> worker -> PostGIS: every valid reading exactly once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import Engine, text

from shared.ingest.bridge import Bridge
from shared.stack import StackState
from shared.tasks.celery_app import ingest_sink, make_celery
from tests.integration.conftest import WorkerProcess


@pytest.fixture
def bridge(stack: StackState) -> Iterator[Bridge]:
    b = Bridge(url=stack.mqtt_url, sink=ingest_sink(make_celery()), client_id="test-bridge-e2e")
    b.start()
    assert b.wait_ready(10)
    yield b
    # End the session: a persistent session left behind in the shared-subscription group would
    # keep being handed its share of later tests' messages while nobody reads them.
    b.stop(end_session=True)


def publisher(stack: StackState) -> mqtt.Client:
    port = int(stack.mqtt_url.rsplit(":", 1)[1])
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-pub-e2e")
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def count_in_window(engine: Engine, code: str, since: datetime) -> tuple[int, int]:
    """Return (rows, distinct times) for a sensor in the hour from `since`."""
    with engine.connect() as c:
        row = c.execute(
            text(
                "SELECT count(*), count(DISTINCT (o.datastream_id, o.phenomenon_time)) "
                "FROM observation o JOIN datastream d ON d.id = o.datastream_id "
                "JOIN thing t ON t.id = d.thing_id WHERE t.code = :c AND o.phenomenon_time >= :s "
                "AND o.phenomenon_time < CAST(:s AS timestamptz) + interval '1 hour'"
            ),
            {"c": code, "s": since},
        ).one()
    return int(row[0]), int(row[1])


def test_mqtt_readings_are_stored_exactly_once_and_bad_ones_dead_lettered(
    stack: StackState, engine: Engine, worker: WorkerProcess, bridge: Bridge
) -> None:
    with engine.connect() as c:
        district = c.scalar(text(
            "SELECT d.code FROM thing t JOIN district d ON d.id = t.district_id "
            "WHERE t.code = 'NS-03'"))  # fmt: skip
    topic = f"city/{district}/noise/NS-03"
    pub = publisher(stack)
    # A window of yesterday that no other test writes to (other tests write around now).
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1, hours=2)
    n = 600
    try:
        for i in range(n):
            ts = (start + timedelta(seconds=i)).isoformat().replace("+00:00", "Z")
            info = pub.publish(topic, f'{{"ts": "{ts}", "laeq": {50 + i % 5}}}', qos=1)
        info.wait_for_publish(10)
        pub.publish(topic, b"{this is not json", qos=1).wait_for_publish(5)
        pub.publish(topic, b'{"laeq": 50}', qos=1).wait_for_publish(5)
    finally:
        pub.loop_stop()
        pub.disconnect()
    deadline = time.monotonic() + 30
    while count_in_window(engine, "NS-03", start)[0] < n and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    with engine.connect() as c:
        dead = c.execute(text("SELECT reason, detail FROM dead_letter WHERE sensor_code = 'NS-03' "
                              "OR topic = :t LIMIT 5"), {"t": topic}).all()  # fmt: skip
    assert count_in_window(engine, "NS-03", start) == (n, n), (bridge.counters, dead)
    with engine.connect() as c:
        reasons = dict(c.execute(text(
            "SELECT reason, count(*) FROM dead_letter WHERE topic = :t GROUP BY reason"),
            {"t": topic}).all())  # fmt: skip
    assert reasons.get("malformed") == 1 and reasons.get("bad_timestamp") == 1
