"""run_simulation against the real Mosquitto of the test stack: exact counts, acks, faults."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from shared.sensing.catalogue import METRICS
from shared.simulate.flows import run_simulation
from shared.simulate.service import MALFORMED_KINDS, FaultOptions, SimSensor, load_fleet
from shared.stack import StackState

pytestmark = pytest.mark.stack


class Counter:
    """A paho subscriber on city/# that counts valid readings and invalid messages."""

    def __init__(self, mqtt_url: str, codes: set[str]) -> None:
        self.codes = codes
        self.readings = 0
        self.invalid = 0
        self.messages = 0
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        host, port = mqtt_url.removeprefix("mqtt://").split(":")
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"sim-test-{uuid.uuid4().hex[:8]}"
        )
        self.client.on_connect = lambda c, *_: c.subscribe("city/#", qos=1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(host, int(port))
        self.client.loop_start()
        assert self.subscribed.wait(10), "subscriber did not get its SUBACK"

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        valid, invalid = self.classify(msg.topic, msg.payload)
        with self.lock:
            self.messages += 1
            self.readings += valid
            self.invalid += invalid

    def classify(self, topic: str, payload: bytes) -> tuple[int, int]:
        """Return (valid readings, invalid readings) in one message."""
        try:
            body = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return 0, 1
        if isinstance(body, list):  # a SenML pack: names resolve to <code>:<metric>
            bn, ok = "", 0
            for rec in body:
                bn = rec.get("bn", bn)
                code, metric = (bn + rec["n"]).split(":")
                assert code in self.codes
                assert rec["u"] == METRICS[metric].unit_symbol
                ok += 1
            return ok, 0
        code = topic.rsplit("/", 1)[1]
        values = {k: v for k, v in body.items() if k != "ts"}
        bad = (
            "ts" not in body
            or code not in self.codes
            or any(isinstance(v, str) or v > METRICS[k].valid_max for k, v in values.items())
        )
        return (0, len(values)) if bad else (len(values), 0)

    def wait_for(self, readings: int, invalid: int = 0, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if self.readings >= readings and self.invalid >= invalid:
                    break
            time.sleep(0.02)
        time.sleep(0.2)  # anything more (a duplicate) would arrive now

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture(scope="module")
def fleet(engine: Engine) -> list[SimSensor]:
    with Session(engine) as session:
        return load_fleet(session=session)


@pytest.fixture
def counter(stack: StackState, fleet: list[SimSensor]) -> Iterator[Counter]:
    c = Counter(stack.mqtt_url, {s.code for s in fleet})
    yield c
    c.close()


def test_publishes_exactly_n_readings_and_waits_for_every_puback(
    stack: StackState, fleet: list[SimSensor], counter: Counter
) -> None:
    lines: list[str] = []
    summary = run_simulation(
        mqtt_url=stack.mqtt_url,
        fleet=fleet,
        rate_per_s=2000.0,
        count=3001,
        progress=lines.append,
    )
    assert summary.readings_sent == 3001
    assert summary.unacked == 0
    assert summary.invalid == 0
    assert not summary.interrupted
    counter.wait_for(3001)
    assert counter.readings == 3001
    assert counter.messages == summary.messages_sent
    assert lines[0].startswith("replaying: traffic_anomaly sample_counts (Oregon DOT, 2024)")
    assert any(line.startswith("simulated: noise") for line in lines)
    assert lines[-1].startswith("done: ")


def test_senml_packs_reach_the_broker_with_exact_counts(
    stack: StackState, fleet: list[SimSensor], counter: Counter
) -> None:
    summary = run_simulation(
        mqtt_url=stack.mqtt_url,
        fleet=fleet[:20],
        rate_per_s=200.0,
        count=2550,
        packed=100,
        progress=None,
    )
    assert (summary.messages_sent, summary.readings_sent, summary.unacked) == (26, 2550, 0)
    counter.wait_for(2550)
    assert counter.readings == 2550
    assert counter.messages == 26


def test_faults_are_published_and_reported(
    stack: StackState, fleet: list[SimSensor], counter: Counter
) -> None:
    faults = FaultOptions(malformed_prob=0.05, malformed_max=10, spike_prob=0.01, spike_max=5)
    summary = run_simulation(
        mqtt_url=stack.mqtt_url,
        fleet=fleet,
        rate_per_s=2000.0,
        count=2000,
        faults=faults,
        progress=None,
    )
    assert summary.readings_sent == 2000
    assert summary.invalid == 10
    assert {k: summary.faults[k] for k in MALFORMED_KINDS} == dict.fromkeys(MALFORMED_KINDS, 2)
    assert summary.faults["spike"] == summary.fault_readings["spike"] == 5
    counter.wait_for(2000, invalid=10)
    assert (counter.readings, counter.invalid) == (2000, 10)


def test_duration_keeps_an_open_loop_schedule(stack: StackState, fleet: list[SimSensor]) -> None:
    started = time.monotonic()
    summary = run_simulation(
        mqtt_url=stack.mqtt_url,
        fleet=fleet,
        rate_per_s=400.0,
        duration_s=0.5,
        qos=0,
        progress=None,
    )
    assert summary.messages_sent == 200
    # Message 199 is due 497.5 ms after the start: never earlier, and not much later.
    assert 0.49 <= time.monotonic() - started < 5.0
    assert summary.unacked == 0


def test_connection_errors_are_clear(fleet: list[SimSensor]) -> None:
    with pytest.raises(ValueError, match="mqtt://"):
        run_simulation(
            mqtt_url="http://127.0.0.1:1", fleet=fleet, rate_per_s=1, count=1, progress=None
        )
    with pytest.raises(OSError):  # ConnectionRefusedError: nothing listens on port 1
        run_simulation(
            mqtt_url="mqtt://127.0.0.1:1", fleet=fleet, rate_per_s=1, count=1, progress=None
        )
