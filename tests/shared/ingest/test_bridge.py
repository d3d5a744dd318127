"""The bridge against the real (private) Mosquitto: batching, rejects, shared subscriptions,
persistent sessions and at-least-once delivery through manual acknowledgement."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from shared.ingest import bridge as bridge_module
from shared.ingest.bridge import Bridge, BridgeCounters, MqttEndpoint, parse_mqtt_url
from shared.ingest.schemas import Batch, RejectReason
from shared.ingest.urgent import UrgentLevel, UrgentLevels
from shared.stack import StackState

pytestmark = pytest.mark.stack

T0 = 1_795_341_600.0
Message = tuple[str, bytes]
Key = tuple[str, str, float]


class Collector:
    """A sink that records batches and the threads that called it; can fail on purpose."""

    def __init__(self, *, fail_times: int = 0) -> None:
        self.batches: list[Batch] = []
        self.threads: set[int] = set()
        self.fail_times = fail_times
        self.failed: list[Batch] = []
        self._lock = threading.Lock()
        self._busy = False

    def __call__(self, batch: Batch) -> None:
        with self._lock:
            assert not self._busy, "sink called concurrently"
            self._busy = True
        try:
            self.threads.add(threading.get_ident())
            if self.fail_times > 0:
                self.fail_times -= 1
                self.failed.append(batch)
                raise RuntimeError("broker of the task queue is down")
            self.batches.append(batch)
        finally:
            self._busy = False

    @property
    def keys(self) -> list[Key]:
        return [(r.sensor, r.metric, r.ts) for b in self.batches for r in b.readings]

    @property
    def rejects(self) -> list[tuple[str, str]]:
        return [(j.topic, j.reason) for b in self.batches for j in b.rejects]


def reading(i: int, *, district: str = "d1") -> Message:
    """A single JSON reading with a unique (sensor, ts)."""
    payload = {"ts": T0 + i, "speed": float(i % 120), "vehicle_count": i % 7}
    return f"city/{district}/traffic/TD-{i % 50:04d}", json.dumps(payload).encode()


def senml(i: int, records: int) -> Message:
    """A gateway SenML pack of `records` readings for sensor GW-S<i>."""
    pack: list[dict[str, object]] = [{"bn": f"GW-S{i}:", "bt": T0, "bu": "dB"}]
    pack += [{"n": "laeq", "v": 50 + k % 30, "t": k} for k in range(records)]
    return "city/gateway/GW-1", json.dumps(pack).encode()


def expected_keys(messages: list[Message]) -> list[Key]:
    """The reading keys the valid messages carry (parsed independently of the bridge)."""
    keys: list[Key] = []
    for topic, payload in messages:
        obj = json.loads(payload)
        if isinstance(obj, dict):
            sensor = topic.rsplit("/", 1)[1]
            keys += [(sensor, m, obj["ts"]) for m in obj if m != "ts"]
        else:
            sensor = obj[0]["bn"].rstrip(":")
            keys += [(sensor, "laeq", T0 + r["t"]) for r in obj[1:]]
    return keys


def publish(url: str, messages: list[Message]) -> None:
    """Publish messages with QoS 1 from a separate client and wait for every PUBACK."""
    endpoint = parse_mqtt_url(url)
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"test-pub-{uuid.uuid4().hex[:8]}",
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(endpoint.host, endpoint.port)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(timeout=10)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll until condition() holds, or fail."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


@pytest.fixture
def group() -> str:
    """A shared-subscription group of our own, so tests never see each other's sessions."""
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def make_bridge(stack: StackState, group: str) -> Iterator[Callable[..., Bridge]]:
    """Build bridges on the private broker; end their sessions afterwards."""
    made: list[Bridge] = []

    def make(sink: Callable[[Batch], None], **kwargs: object) -> Bridge:
        kwargs.setdefault("group", group)
        kwargs.setdefault("client_id", f"{group}-{len(made)}")
        bridge = Bridge(url=stack.mqtt_url, sink=sink, **kwargs)  # type: ignore[arg-type]
        made.append(bridge)
        return bridge

    yield make
    for bridge in made:
        bridge.stop(timeout=5)
    for client_id in {bridge.client_id for bridge in made}:
        end_session(stack.mqtt_url, client_id)


def end_session(url: str, client_id: str) -> None:
    """Take a bridge's session over with Clean Start, so the broker stops queueing for it."""
    endpoint = parse_mqtt_url(url)
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
    )
    client.connect(endpoint.host, endpoint.port, clean_start=True)  # session expiry 0
    client.loop_start()
    try:
        wait_for(client.is_connected, timeout=5)
    finally:
        client.disconnect()
        client.loop_stop()


def started(bridge: Bridge) -> Bridge:
    bridge.start()
    assert bridge.wait_ready(10), "bridge did not subscribe"
    return bridge


# --------------------------------------------------------------------------------------------


def test_parse_mqtt_url() -> None:
    assert parse_mqtt_url("mqtt://127.0.0.1:41883") == MqttEndpoint("127.0.0.1", 41883)
    assert parse_mqtt_url("mqtt://u%40x:p%3Aw@broker:1") == MqttEndpoint("broker", 1, "u@x", "p:w")
    assert parse_mqtt_url("mqtt://broker").port == 1883
    for bad in ("http://h:1", "mqtt://:1", "mqtt://h:99999", "mqtt://h:1/x", "h:1"):
        with pytest.raises(ValueError):
            parse_mqtt_url(bad)


def test_bridge_delivers_every_reading_and_reject_in_bounded_batches(
    stack: StackState, make_bridge: Callable[..., Bridge]
) -> None:
    sink = Collector()
    bridge = started(make_bridge(sink, max_batch=50, max_wait_s=0.02))
    valid = [reading(i) for i in range(400)] + [senml(i, 30) for i in range(10)]
    bad = [
        ("city/d1/traffic/TD-0001", b"\xff\xfenot json"),
        ("city/d1/traffic/TD-0001", b'{"speed": 1}'),
        ("city/d1/spaceship/X-1", b'{"ts": 1, "speed": 1}'),
        ("city/d1/traffic/TD-0001", json.dumps({"ts": T0, "speed": "fast"}).encode()),
    ]
    alerts = [("city/alerts/d1", b'{"level": "critical"}')] * 5
    messages = valid[:200] + bad + alerts + valid[200:]
    publish(stack.mqtt_url, messages)

    total = len(expected_keys(valid))
    assert total == 400 * 2 + 10 * 30
    wait_for(lambda: bridge.counters.messages == len(messages))
    wait_for(lambda: bridge.counters.readings + bridge.counters.rejects == total + len(bad))
    bridge.stop()

    assert sorted(sink.keys) == sorted(expected_keys(valid))  # exactly once, nothing else
    assert sorted(sink.rejects) == sorted(
        [
            ("city/d1/traffic/TD-0001", RejectReason.malformed),
            ("city/d1/traffic/TD-0001", RejectReason.bad_timestamp),
            ("city/d1/spaceship/X-1", RejectReason.bad_topic),
            ("city/d1/traffic/TD-0001", RejectReason.bad_value),
        ]
    )
    assert all(len(b.readings) <= 50 and len(b.rejects) <= 50 for b in sink.batches)
    assert any(len(b.readings) == 50 for b in sink.batches)
    assert len(sink.threads) == 1  # one flusher thread calls the sink
    assert len({b.batch_id for b in sink.batches}) == len(sink.batches)
    assert all(len(b.batch_id) == 32 for b in sink.batches)
    assert all(T0 < b.received_at <= time.time() for b in sink.batches)
    counters = bridge.counters
    assert counters == BridgeCounters(
        messages=len(messages),
        readings=total,
        rejects=len(bad),
        ignored=len(alerts),
        batches=len(sink.batches),
        connects=1,
    )


def test_a_parser_bug_dead_letters_that_message_only(
    stack: StackState, make_bridge: Callable[..., Bridge], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = bridge_module.parse_message

    def buggy(topic: str, payload: bytes, *, now: float) -> object:
        if b"boom" in payload:
            raise ZeroDivisionError("parser bug")
        return real(topic, payload, now=now)

    monkeypatch.setattr(bridge_module, "parse_message", buggy)
    sink = Collector()
    bridge = started(make_bridge(sink, max_batch=100, max_wait_s=0.02))
    boom = ("city/d1/traffic/TD-0001", b'{"ts": 1795341600, "boom": 1.0}')
    messages = [reading(i) for i in range(20)] + [boom] + [reading(i) for i in range(20, 40)]
    publish(stack.mqtt_url, messages)
    wait_for(lambda: bridge.counters.readings + bridge.counters.rejects == 81)
    bridge.stop()
    assert sorted(sink.keys) == sorted(expected_keys(messages[:20] + messages[21:]))
    assert sink.rejects == [("city/d1/traffic/TD-0001", RejectReason.malformed)]
    assert [j.detail for b in sink.batches for j in b.rejects] == ["internal parser error"]


def test_a_pack_larger_than_a_batch_is_split(
    stack: StackState, make_bridge: Callable[..., Bridge]
) -> None:
    sink = Collector()
    bridge = started(make_bridge(sink, max_batch=40, max_wait_s=0.05))
    messages = [senml(1, 100), senml(2, 15)]
    publish(stack.mqtt_url, messages)
    wait_for(lambda: bridge.counters.readings == 115)
    bridge.stop()
    assert sorted(sink.keys) == sorted(expected_keys(messages))
    assert [len(b.readings) for b in sink.batches][:2] == [40, 40]
    assert max(len(b.readings) for b in sink.batches) == 40


def test_two_bridges_in_a_group_split_the_stream(
    stack: StackState, make_bridge: Callable[..., Bridge]
) -> None:
    sinks = [Collector(), Collector()]
    bridges = [started(make_bridge(sink, max_batch=100)) for sink in sinks]
    messages = [reading(i) for i in range(600)]
    publish(stack.mqtt_url, messages)
    wait_for(lambda: sum(b.counters.readings for b in bridges) >= 1200)
    for bridge in bridges:
        bridge.stop()
    got = sinks[0].keys + sinks[1].keys
    assert len(got) == len(set(got)) == 1200  # no duplicates, no loss
    assert sorted(got) == sorted(expected_keys(messages))
    assert all(len(sink.keys) > 0 for sink in sinks)  # both took a share


def test_messages_published_while_the_bridge_is_down_arrive_after_restart(
    stack: StackState, make_bridge: Callable[..., Bridge], group: str
) -> None:
    first = started(make_bridge(Collector(), client_id=f"{group}-fixed"))
    first.stop()  # keeps the session: the broker queues for it
    missed = [reading(i) for i in range(100)]
    publish(stack.mqtt_url, missed)

    sink = Collector()
    second = started(make_bridge(sink, client_id=f"{group}-fixed"))
    wait_for(lambda: second.counters.readings >= 200)
    second.stop()
    assert sorted(sink.keys) == sorted(expected_keys(missed))


def test_stop_flushes_the_open_batch_and_acknowledges_it(
    stack: StackState, make_bridge: Callable[..., Bridge], group: str
) -> None:
    sink = Collector()
    bridge = started(make_bridge(sink, client_id=f"{group}-fixed", max_wait_s=60))
    messages = [reading(i) for i in range(10)]
    publish(stack.mqtt_url, messages)
    wait_for(lambda: bridge.counters.messages == 10)
    assert sink.batches == []  # the timer is far away
    bridge.stop()
    assert len(sink.batches) == 1 and len(sink.keys) == 20

    # Same session again: nothing is redelivered, so the acks went out before DISCONNECT. Give
    # the broker a moment to read them: a successor that connects first takes the session over
    # while the old socket's PUBACKs are still unread, and those messages come back.
    time.sleep(0.5)
    again = Collector()
    successor = started(make_bridge(again, client_id=f"{group}-fixed"))
    time.sleep(0.3)
    successor.stop()
    assert again.batches == []
    assert successor.counters.messages == 0


def test_a_failed_sink_gets_its_messages_redelivered(
    stack: StackState, make_bridge: Callable[..., Bridge]
) -> None:
    sink = Collector(fail_times=1)
    bridge = started(make_bridge(sink, max_batch=50, max_wait_s=0.01))
    messages = [reading(i) for i in range(300)]
    publish(stack.mqtt_url, messages)
    wait_for(lambda: bridge.counters.readings >= 600)
    time.sleep(0.1)
    bridge.stop()

    failed = {(r.sensor, r.metric, r.ts) for r in sink.failed[0].readings}
    assert failed and failed <= set(sink.keys)  # the failed batch came back
    assert sorted(set(sink.keys)) == sorted(expected_keys(messages))  # nothing lost
    counters = bridge.counters
    assert (counters.sink_errors, counters.redeliveries, counters.connects) == (1, 1, 2)
    assert counters.dropped == 0


def test_without_manual_ack_a_failed_batch_is_dropped_and_counted(
    stack: StackState, make_bridge: Callable[..., Bridge]
) -> None:
    sink = Collector(fail_times=1)
    bridge = started(make_bridge(sink, manual_ack=False, max_batch=1000, max_wait_s=0.01))
    publish(stack.mqtt_url, [reading(0)])
    wait_for(lambda: bridge.counters.sink_errors == 1)
    publish(stack.mqtt_url, [reading(1)])
    wait_for(lambda: bridge.counters.readings == 2)
    bridge.stop()
    counters = bridge.counters
    assert (counters.dropped, counters.redeliveries, counters.connects) == (2, 0, 1)
    assert sink.keys == expected_keys([reading(1)])


def test_run_stops_on_sigterm_in_the_main_thread(
    stack: StackState, make_bridge: Callable[..., Bridge]
) -> None:
    assert threading.current_thread() is threading.main_thread()
    sink = Collector()
    bridge = make_bridge(sink, max_wait_s=60)
    before = signal.getsignal(signal.SIGTERM)

    def drive() -> None:
        if not bridge.wait_ready(10):
            bridge.stop()
            return
        publish(stack.mqtt_url, [reading(i) for i in range(5)])
        wait_for(lambda: bridge.counters.messages == 5)
        os.kill(os.getpid(), signal.SIGTERM)  # handled by run(): it flushes and returns

    driver = threading.Thread(target=drive)
    driver.start()
    bridge.run()
    driver.join()
    assert len(sink.keys) == 10
    assert signal.getsignal(signal.SIGTERM) == before


def test_a_bridge_runs_once(stack: StackState, make_bridge: Callable[..., Bridge]) -> None:
    bridge = started(make_bridge(Collector()))
    bridge.stop()
    with pytest.raises(RuntimeError):
        bridge.run()


# Dead members of a group ----------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[3]

# A member in its own process whose sink never returns, so that nothing it receives is ever
# acknowledged; the test SIGKILLs it, as a crash or a lost host would.
STUCK_MEMBER = """
import sys, threading
from shared.ingest.bridge import Bridge
url, group, client_id, members = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
bridge = Bridge(url=url, sink=lambda batch: threading.Event().wait(), group=group,
                client_id=client_id, members=members, max_batch=50, max_wait_s=0.01)
bridge.start()
assert bridge.wait_ready(10)
print("ready", flush=True)
threading.Event().wait()
"""


def test_members_must_include_this_bridge(stack: StackState) -> None:
    for members in (["a", "b"], ["me", "b", "b"]):
        with pytest.raises(ValueError):
            Bridge(url=stack.mqtt_url, sink=Collector(), client_id="me", members=members)


def test_the_heir_of_a_member_is_the_next_online_one(stack: StackState) -> None:
    bridge = Bridge(url=stack.mqtt_url, sink=Collector(), client_id="b", members="abcd")
    assert bridge._heir("a", {"b", "c"}) == "b"
    assert bridge._heir("c", {"a", "b"}) == "a"  # cyclic
    assert bridge._heir("c", {"b"}) == "b"
    assert bridge._heir("a", set()) == "b"  # this bridge counts as online


def test_a_member_that_dies_for_good_is_drained_by_its_heir(
    stack: StackState, make_bridge: Callable[..., Bridge], group: str
) -> None:
    members = [f"{group}-a", f"{group}-b"]
    sink = Collector()
    heir = started(
        make_bridge(sink, client_id=members[0], members=members, takeover_after_s=1.0,
                    max_batch=50, max_wait_s=0.01)
    )  # fmt: skip
    dead = subprocess.Popen(
        [sys.executable, "-c", STUCK_MEMBER, stack.mqtt_url, group, members[1], ",".join(members)],
        cwd=REPO,
        stdout=subprocess.PIPE,
    )
    try:
        assert dead.stdout is not None and dead.stdout.readline() == b"ready\n"
        wait_for(lambda: heir.online_members == frozenset(members))
        before = [reading(i) for i in range(200)]
        publish(stack.mqtt_url, before)  # the stuck member holds its share, unacknowledged
        time.sleep(1.5)  # longer than takeover_after_s: a live member is never taken over
        assert heir.counters.takeovers == 0
        dead.kill()
        dead.wait()
        wait_for(lambda: heir.online_members == frozenset(members[:1]))  # its Will cleared it
        after = [reading(i) for i in range(200, 400)]
        publish(stack.mqtt_url, after)  # the dead member's share queues in its session
        total = len(expected_keys(before + after))
        assert len(set(sink.keys)) < total  # so it did take a share

        wait_for(lambda: heir.counters.takeovers == 1, timeout=15)
        assert sorted(set(sink.keys)) == sorted(expected_keys(before + after))
        # Its session is gone, so it no longer takes a share: everything new comes to the heir.
        late = [reading(i) for i in range(400, 500)]
        publish(stack.mqtt_url, late)
        wait_for(lambda: len(set(sink.keys)) == total + 200)
        heir.stop()
        assert sorted(set(sink.keys)) == sorted(expected_keys(before + after + late))
        assert len(sink.threads) == 2  # the heir's flusher and its drain's, one call at a time
        assert sink.rejects == []  # presence messages are never ingested
    finally:
        dead.kill()
        dead.wait()
        end_session(stack.mqtt_url, members[1])


def test_a_member_stopping_on_purpose_clears_its_presence(
    stack: StackState, make_bridge: Callable[..., Bridge], group: str
) -> None:
    members = [f"{group}-a", f"{group}-b"]
    watcher = started(make_bridge(Collector(), client_id=members[0], members=members))
    leaving = started(make_bridge(Collector(), client_id=members[1], members=members))
    wait_for(lambda: watcher.online_members == frozenset(members))
    leaving.stop()
    wait_for(lambda: watcher.online_members == frozenset(members[:1]))
    assert watcher.counters.takeovers == 0


# Several batches in flight (AsyncSink) ---------------------------------------------------------


class HeldSink:
    """An AsyncSink that records batches and confirms (or fails) each only when told to."""

    def __init__(self) -> None:
        self.batches: list[Batch] = []
        self._on_done: dict[str, Callable[[BaseException | None], None]] = {}
        self._lock = threading.Lock()

    def submit(self, batch: Batch, on_done: Callable[[BaseException | None], None]) -> None:
        with self._lock:
            self.batches.append(batch)
            self._on_done[batch.batch_id] = on_done

    def settle(self, i: int, error: BaseException | None = None) -> None:
        with self._lock:
            on_done = self._on_done.pop(self.batches[i].batch_id)
        on_done(error)

    @property
    def unsettled(self) -> list[int]:
        with self._lock:
            return [i for i, b in enumerate(self.batches) if b.batch_id in self._on_done]

    def keys(self, indices: list[int] | None = None) -> list[Key]:
        chosen = self.batches if indices is None else [self.batches[i] for i in indices]
        return [(r.sensor, r.metric, r.ts) for b in chosen for r in b.readings]


def spy_acks(bridge: Bridge) -> list[int]:
    """Record the message ids the bridge acknowledges, in the order it sends the PUBACKs."""
    acked: list[int] = []
    real = bridge._client.ack_many

    def ack_many(keys: list[int]) -> None:
        acked.extend(keys)  # QoS 1 messages only here: the key is the message id
        real(keys)

    bridge._client.ack_many = ack_many  # type: ignore[method-assign]
    return acked


def settle_all(sink: HeldSink, until: Callable[[], bool]) -> None:
    """Confirm batches as they come until `until()` holds."""
    deadline = time.monotonic() + 10
    while not until():
        assert time.monotonic() < deadline, "not settled in time"
        for i in sink.unsettled:
            sink.settle(i)
        time.sleep(0.005)


def redelivered(make_bridge: Callable[..., Bridge], client_id: str) -> list[Batch]:
    """What a successor bridge with the same client id (the same session) receives at once."""
    again = Collector()
    successor = started(make_bridge(again, client_id=client_id))
    time.sleep(0.3)
    successor.stop()
    return again.batches


def test_n_batches_in_flight_are_acknowledged_in_order_of_receipt(
    stack: StackState, make_bridge: Callable[..., Bridge], group: str
) -> None:
    sink = HeldSink()
    # 5 messages of 2 readings per batch, so that every batch owes 5 PUBACKs.
    bridge = started(make_bridge(sink, client_id=f"{group}-fixed", in_flight=3, max_batch=10,
                                 max_wait_s=0.5))  # fmt: skip
    acked = spy_acks(bridge)
    messages = [reading(i) for i in range(40)]
    publish(stack.mqtt_url, messages)

    wait_for(lambda: len(sink.batches) == 3)
    time.sleep(0.3)
    assert len(sink.batches) == 3  # N in flight, no more: the bridge holds the rest
    sink.settle(2)
    sink.settle(1)  # confirmed out of order: nothing may be acknowledged before batch 0
    time.sleep(0.2)
    assert acked == []
    assert len(sink.batches) == 3  # and no slot is free while batch 0 holds the line
    sink.settle(0)
    owed = sum(len(b.readings) // 2 for b in sink.batches[:3])  # 2 readings a message
    wait_for(lambda: len(acked) == owed)
    assert acked == sorted(acked) and len(set(acked)) == owed  # in order of receipt
    wait_for(lambda: len(sink.batches) >= 4)  # slots freed: the rest flows

    settle_all(sink, until=lambda: bridge.counters.readings == 80)
    bridge.stop()
    assert sorted(sink.keys()) == sorted(expected_keys(messages))
    assert acked == sorted(acked) and len(acked) == 40
    counters = bridge.counters
    assert (counters.batches, counters.sink_errors, counters.redeliveries) == (8, 0, 0)

    # All acknowledged: the same session gets nothing again.
    time.sleep(0.5)
    assert redelivered(make_bridge, f"{group}-fixed") == []


def test_a_batch_in_flight_not_confirmed_is_redelivered_with_those_behind_it(
    stack: StackState, make_bridge: Callable[..., Bridge], group: str
) -> None:
    sink = HeldSink()
    bridge = started(make_bridge(sink, client_id=f"{group}-fixed", in_flight=3, max_batch=10,
                                 max_wait_s=0.5))  # fmt: skip
    acked = spy_acks(bridge)
    messages = [reading(i) for i in range(40)]
    publish(stack.mqtt_url, messages)
    wait_for(lambda: len(sink.batches) == 3)
    sink.settle(0)  # stored and acknowledged
    wait_for(lambda: len(acked) == len(sink.batches[0].readings) // 2)
    sink.settle(2)  # stored, but it may not be acknowledged before batch 1
    sink.settle(1, TimeoutError("not confirmed in time"))  # as ConfirmedSink's timeout does
    wait_for(lambda: bridge.counters.redeliveries == 1)

    # The broker sends everything unacknowledged again, batches 1 and 2 included.
    def later() -> set[Key]:
        return set(sink.keys(list(range(3, len(sink.batches)))))

    settle_all(sink, until=lambda: set(sink.keys([1, 2])) <= later())
    settle_all(sink, until=lambda: set(expected_keys(messages)) <= set(sink.keys()))
    bridge.stop()
    counters = bridge.counters
    assert (counters.sink_errors, counters.redeliveries, counters.connects) == (1, 1, 2)
    first = len(sink.batches[0].readings) // 2
    assert acked[:first] == sorted(acked[:first])  # batch 0's, before the reconnect
    assert sorted(set(sink.keys())) == sorted(expected_keys(messages))  # nothing lost
    assert counters.dropped == 0


def test_stop_waits_for_the_batches_in_flight_before_it_disconnects(
    stack: StackState, make_bridge: Callable[..., Bridge], group: str
) -> None:
    sink = HeldSink()
    bridge = started(make_bridge(sink, client_id=f"{group}-fixed", in_flight=4, max_batch=10,
                                 max_wait_s=0.5))  # fmt: skip
    publish(stack.mqtt_url, [reading(i) for i in range(20)])
    wait_for(lambda: len(sink.batches) == 4)
    stopper = threading.Thread(target=bridge.stop)
    stopper.start()
    time.sleep(0.3)
    assert stopper.is_alive()  # waiting for the confirmations
    for i in (3, 1, 2, 0):
        sink.settle(i)
    settle_all(sink, until=lambda: not stopper.is_alive())  # and what was still batching
    stopper.join()
    assert bridge.counters.readings == 40

    time.sleep(0.5)
    # Every PUBACK went out ahead of the DISCONNECT, so the session holds nothing. (It once
    # did under load: the confirmer had emptied the queue but not yet queued its acks when
    # stop() disconnected; Bridge._wait_inflight now waits for those acks.)
    assert redelivered(make_bridge, f"{group}-fixed") == []


def test_in_flight_applies_only_to_an_async_sink(stack: StackState) -> None:
    assert Bridge(url=stack.mqtt_url, sink=Collector(), in_flight=4).in_flight == 1
    assert Bridge(url=stack.mqtt_url, sink=HeldSink(), in_flight=4).in_flight == 4
    with pytest.raises(ValueError):
        Bridge(url=stack.mqtt_url, sink=HeldSink(), in_flight=0)


# Adaptive flush ---------------------------------------------------------------------------------


def test_adaptive_flush_hands_a_batch_over_when_a_slot_frees_and_lets_it_grow_meanwhile(
    stack: StackState, make_bridge: Callable[..., Bridge], group: str
) -> None:
    sink = HeldSink()
    # The timer is far away: every batch below goes out because a slot is free, or not at all.
    bridge = started(make_bridge(sink, client_id=f"{group}-fixed", in_flight=1, max_wait_s=60,
                                 adaptive=True))  # fmt: skip
    acked = spy_acks(bridge)
    publish(stack.mqtt_url, [reading(0)])
    wait_for(lambda: len(sink.batches) == 1, timeout=5)  # at once: the only slot was free

    later = [reading(i) for i in range(1, 31)]
    publish(stack.mqtt_url, later)
    wait_for(lambda: bridge.counters.messages == 31)
    time.sleep(0.2)
    assert len(sink.batches) == 1  # the slot is taken: the open batch grows instead
    assert acked == []  # and nothing is acknowledged before its batch is confirmed

    sink.settle(0)
    wait_for(lambda: len(sink.batches) == 2, timeout=5)  # the freed slot takes the rest at once
    assert sorted(sink.keys([1])) == sorted(expected_keys(later))  # one batch, all 30 messages
    sink.settle(1)
    wait_for(lambda: len(acked) == 31)
    assert acked == sorted(acked)
    bridge.stop()
    assert bridge.counters.batches == 2


def test_adaptive_flush_with_a_plain_sink_does_not_wait_for_the_timer(
    stack: StackState, make_bridge: Callable[..., Bridge]
) -> None:
    sink = Collector()
    bridge = started(make_bridge(sink, max_wait_s=60, adaptive=True))
    messages = [reading(i) for i in range(10)]
    publish(stack.mqtt_url, messages)
    wait_for(lambda: bridge.counters.readings == 20, timeout=5)
    bridge.stop()
    assert sorted(sink.keys) == sorted(expected_keys(messages))


def test_adaptive_flush_waits_at_least_min_wait(
    stack: StackState, make_bridge: Callable[..., Bridge]
) -> None:
    sink = Collector()
    bridge = started(make_bridge(sink, max_wait_s=60, adaptive=True, min_wait_s=0.5))
    publish(stack.mqtt_url, [reading(0)])
    wait_for(lambda: bridge.counters.messages == 1)
    time.sleep(0.2)
    assert sink.batches == []  # younger than min_wait, although the sink is free
    wait_for(lambda: len(sink.batches) == 1, timeout=5)  # and then without the 60 s timer
    bridge.stop()


def test_min_wait_must_lie_within_max_wait(stack: StackState) -> None:
    with pytest.raises(ValueError):
        Bridge(url=stack.mqtt_url, sink=Collector(), max_wait_s=0.02, min_wait_s=0.05)
    with pytest.raises(ValueError):
        Bridge(url=stack.mqtt_url, sink=Collector(), min_wait_s=-0.001)


# the urgent lane -----------------------------------------------------------------------------

# Speeds in reading() stay below 120: only the hot messages below reach the level.
FAST = UrgentLevel("traffic", "speed", above=True, warning=200.0, critical=300.0)


class LaneSink(HeldSink):
    """A HeldSink that also records which batches came through the urgent lane."""

    def __init__(self) -> None:
        super().__init__()
        self.urgent: list[int] = []

    def submit(
        self, batch: Batch, on_done: Callable[[BaseException | None], None], *, urgent: bool = False
    ) -> None:
        with self._lock:
            if urgent:
                self.urgent.append(len(self.batches))
        super().submit(batch, on_done)


def hot(sensor: int, ts: float, speed: float = 250.0) -> Message:
    payload = {"ts": ts, "speed": speed, "vehicle_count": 3}
    return f"city/d1/traffic/TD-{sensor:04d}", json.dumps(payload).encode()


def lane_bridge(
    make_bridge: Callable[..., Bridge], group: str, *, in_flight: int = 2, max_wait_s: float = 0.05
) -> tuple[LaneSink, Bridge, list[int]]:
    """A started bridge with the urgent lane, on a LaneSink; the acks it sends are recorded."""
    sink = LaneSink()
    bridge = started(make_bridge(sink, client_id=f"{group}-fixed", in_flight=in_flight,
                                 max_batch=10, max_wait_s=max_wait_s,
                                 urgent=UrgentLevels([FAST])))  # fmt: skip
    return sink, bridge, spy_acks(bridge)


def split_hot(url: str, sink: LaneSink, sensor: int) -> tuple[int, int]:
    """Publish one hot message; return the indices of its urgent and its bulk batch."""
    publish(url, [hot(sensor, T0 + 1000 * sensor)])
    wait_for(lambda: len(sink.batches) == 2)
    (u,) = sink.urgent
    return u, 1 - u


def test_a_reading_that_would_open_an_alert_goes_at_once_past_the_bulk_lane(
    stack: StackState, make_bridge: Callable[..., Bridge], group: str
) -> None:
    sink, bridge, acked = lane_bridge(make_bridge, group, in_flight=1, max_wait_s=0.5)
    normal = [reading(i) for i in range(5)]  # 10 readings: one full bulk batch
    publish(stack.mqtt_url, normal)
    wait_for(lambda: len(sink.batches) == 1)  # in flight, unconfirmed: the bulk lane is full
    publish(stack.mqtt_url, [hot(1, T0 + 1000)])

    wait_for(lambda: len(sink.batches) == 2)
    assert sink.urgent == [1]
    assert sink.keys([1]) == [("TD-0001", "speed", T0 + 1000)]  # the message's other reading
    sink.settle(1)  # stays in the bulk lane, with the message's ack
    time.sleep(0.2)
    assert acked == [] and len(sink.batches) == 2  # batch 0 still holds the line

    sink.settle(0)
    settle_all(sink, until=lambda: len(acked) == 6)
    bridge.stop()
    assert acked == sorted(acked)  # in order of receipt, the hot message's last
    hot_keys = [("TD-0001", "speed", T0 + 1000), ("TD-0001", "vehicle_count", T0 + 1000)]
    assert sorted(sink.keys()) == sorted([*expected_keys(normal), *hot_keys])
    assert bridge.counters.urgent == 1 and sink.urgent == [1]
    time.sleep(0.5)
    assert redelivered(make_bridge, f"{group}-fixed") == []


def test_an_ack_waits_for_the_urgent_batch_that_holds_its_reading(
    stack: StackState, make_bridge: Callable[..., Bridge], group: str
) -> None:
    sink, bridge, acked = lane_bridge(make_bridge, group)
    u, b = split_hot(stack.mqtt_url, sink, 2)
    assert sink.keys([b]) == [("TD-0002", "vehicle_count", T0 + 2000)]
    sink.settle(b)  # the bulk batch is stored, but the speed reading is not yet
    time.sleep(0.2)
    assert acked == []
    sink.settle(u)
    wait_for(lambda: len(acked) == 1)
    bridge.stop()
    time.sleep(0.5)
    assert redelivered(make_bridge, f"{group}-fixed") == []


def test_an_urgent_batch_not_confirmed_has_its_message_sent_again(
    stack: StackState, make_bridge: Callable[..., Bridge], group: str
) -> None:
    sink, bridge, acked = lane_bridge(make_bridge, group)
    u, b = split_hot(stack.mqtt_url, sink, 3)
    sink.settle(b)
    sink.settle(u, TimeoutError("not confirmed in time"))
    wait_for(lambda: bridge.counters.redeliveries == 1)
    # Sent again, both readings, the speed through the urgent lane again.
    settle_all(sink, until=lambda: len(acked) == 1)
    bridge.stop()
    again = sink.keys(list(range(2, len(sink.batches))))
    assert sorted(again) == [("TD-0003", "speed", T0 + 3000), ("TD-0003", "vehicle_count",
                                                                 T0 + 3000)]  # fmt: skip
    assert len(sink.urgent) == 2 and sink.urgent[0] == u
    assert sink.keys(sink.urgent[1:]) == [("TD-0003", "speed", T0 + 3000)]


def test_stop_delivers_an_urgent_batch_still_waiting_for_its_slot(
    stack: StackState, make_bridge: Callable[..., Bridge], group: str
) -> None:
    sink, bridge, acked = lane_bridge(make_bridge, group)
    messages = [hot(4, T0 + 4000)]
    publish(stack.mqtt_url, messages)
    wait_for(lambda: len(sink.urgent) == 1)
    messages.append(hot(5, T0 + 5000))  # its urgent batch waits: the lane's one slot is taken
    publish(stack.mqtt_url, messages[1:])
    wait_for(lambda: len(sink.batches) >= 2 and bridge.counters.messages == 2)
    stopper = threading.Thread(target=bridge.stop)
    stopper.start()
    settle_all(sink, until=lambda: not stopper.is_alive())
    stopper.join()
    assert sorted(sink.keys()) == sorted(
        (f"TD-000{s}", m, T0 + 1000 * s) for s in (4, 5) for m in ("speed", "vehicle_count")
    )
    assert acked == sorted(acked) and len(acked) == 2
    time.sleep(0.5)
    assert redelivered(make_bridge, f"{group}-fixed") == []


def test_the_urgent_lane_needs_an_async_sink(stack: StackState) -> None:
    levels = UrgentLevels([FAST])
    assert Bridge(url=stack.mqtt_url, sink=Collector(), urgent=levels)._urgent is None
    assert Bridge(url=stack.mqtt_url, sink=LaneSink(), urgent=levels)._urgent is levels
