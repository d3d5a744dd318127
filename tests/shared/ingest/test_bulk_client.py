"""The bridge's paho subclass: its packet splitter on fed bytes, and its protocol handling
(QoS 1 acks in one write, persistent sessions and redelivery, shared subscriptions, the packets
left to paho) against the real private Mosquitto."""

from __future__ import annotations

import random
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.client import MQTTErrorCode
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from shared.ingest.bridge import parse_mqtt_url
from shared.ingest.bulk_client import QOS2_ACK_BASE, BulkReceiveClient, Publish
from shared.stack import StackState


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publish_packet(topic: str, payload: bytes, *, mid: int, qos: int, props: bytes = b"") -> bytes:
    """An MQTT 5 PUBLISH as a broker sends it (properties given raw)."""
    t = topic.encode()
    body = struct.pack("!H", len(t)) + t + (struct.pack("!H", mid) if qos else b"")
    body += varint(len(props)) + props + payload
    return bytes([0x30 | qos << 1]) + varint(len(body)) + body


class _FakeSocket:
    """Stands in for the connection: the client only compares its identity and closes it."""

    def close(self) -> None:
        pass


class Fed:
    """A BulkReceiveClient whose socket reads return the given chunks, one per read."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.got: list[Publish] = []
        self.client = BulkReceiveClient(
            CallbackAPIVersion.VERSION2,
            client_id="fed",
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
            on_publishes=self.got.extend,
        )
        self.chunks = list(chunks)
        self.client._sock = _FakeSocket()  # type: ignore[assignment]
        self.client._sock_recv = self._recv  # type: ignore[method-assign]

    def _recv(self, bufsize: int) -> bytes:
        if not self.chunks:
            raise BlockingIOError
        return self.chunks.pop(0)

    def read_all(self) -> list[MQTTErrorCode]:
        codes = []
        while self.chunks:
            codes.append(self.client._packet_read())
        return codes


def sample_packets(n: int) -> tuple[bytes, list[Publish]]:
    """n PUBLISHes of both QoS levels, some with properties, one larger than a socket read."""
    rng = random.Random(7)
    data = b""
    want: list[Publish] = []
    for i in range(n):
        qos = i % 3 % 2
        topic = f"city/d{i % 5}/weather/WS-{i:04d}"
        size = 300_000 if i == n // 2 else rng.randrange(0, 400)
        payload = bytes(rng.randrange(256) for _ in range(min(size, 64))) * (size // 64 + 1)
        payload = payload[:size]
        props = b"\x02\x00\x00\x00\x3c" if i % 4 == 0 else b""  # Message Expiry Interval 60
        if i % 7 == 0:
            props += b"\x26\x00\x01k\x00\x02vv"  # a user property
        mid = (i * 37) % 65535 + 1 if qos else 0
        data += publish_packet(topic, payload, mid=mid, qos=qos, props=props)
        want.append((topic.encode(), payload, mid, qos))
    return data, want


@pytest.mark.parametrize("cut", ["whole", "bytewise", "random"])
def test_packets_are_reassembled_across_any_read_boundaries(cut: str) -> None:
    data, want = sample_packets(60)
    if cut == "whole":
        chunks = [data]
    elif cut == "bytewise":
        head = data[:5000]  # every split point of the first packets, then bigger pieces
        chunks = [head[i : i + 1] for i in range(len(head))]
        chunks += [data[i : i + 4096] for i in range(5000, len(data), 4096)]
    else:
        rng = random.Random(3)
        chunks, pos = [], 0
        while pos < len(data):
            step = rng.randrange(1, 3000)
            chunks.append(data[pos : pos + step])
            pos += step
    fed = Fed(chunks)
    codes = fed.read_all()
    assert set(codes) == {MQTTErrorCode.MQTT_ERR_SUCCESS}
    assert fed.got == want
    assert fed.client._rx == bytearray()  # nothing left over


def test_a_malformed_packet_is_a_protocol_error() -> None:
    over_long_length = b"\x32\xff\xff\xff\xff\x01"
    assert Fed([over_long_length]).read_all() == [MQTTErrorCode.MQTT_ERR_PROTOCOL]
    # A topic length running past the packet's end.
    assert Fed([b"\x32\x04\x00\x09ab"]).read_all() == [MQTTErrorCode.MQTT_ERR_PROTOCOL]
    # A closed connection.
    assert Fed([b""]).read_all() == [MQTTErrorCode.MQTT_ERR_CONN_LOST]


def test_ack_many_writes_one_buffer_in_order() -> None:
    fed = Fed([])
    fed.client.ack_many([5, 1, 65535, QOS2_ACK_BASE + 9])
    packets = list(fed.client._out_packet)
    assert len(packets) == 1
    assert packets[0]["packet"] == (
        b"\x40\x02\x00\x05" + b"\x40\x02\x00\x01" + b"\x40\x02\xff\xff" + b"\x70\x02\x00\x09"
    )
    fed.client.ack_many([])
    assert len(fed.client._out_packet) == 1


# against Mosquitto --------------------------------------------------------------------------


class Receiver:
    """A BulkReceiveClient on the private broker (persistent session) recording what comes."""

    def __init__(self, url: str, client_id: str, topic: str, *, qos: int = 1) -> None:
        self.got: list[Publish] = []
        self.subscribed = threading.Event()
        self.lock = threading.Lock()
        self.session_present: bool | None = None
        self.disconnects = 0
        self.client_id = client_id
        endpoint = parse_mqtt_url(url)
        self.client = BulkReceiveClient(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
            on_publishes=self._on_publishes,
        )
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_a: self.subscribed.set()
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.topic, self.qos = topic, qos
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 300
        props.ReceiveMaximum = 65535
        self.client.connect(
            endpoint.host, endpoint.port, keepalive=30, clean_start=False, properties=props
        )
        self.client.loop_start()
        assert self.subscribed.wait(10), "no SUBACK"

    def _on_publishes(self, publishes: list[Publish]) -> None:
        with self.lock:
            self.got += publishes

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self.lock:  # QoS 2 only: left to paho
            self.got.append((bytes(msg._topic), msg.payload, msg.mid, msg.qos))

    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: mqtt.ConnectFlags, *args: object
    ) -> None:
        self.session_present = flags.session_present
        client.subscribe(self.topic, qos=self.qos)

    def _on_disconnect(self, *args: object) -> None:
        self.disconnects += 1

    def payloads(self) -> list[bytes]:
        with self.lock:
            return [p for _t, p, _m, _q in self.got]

    def close(self) -> None:
        """A normal DISCONNECT: the session (expiry 300 s) stays with what is unacknowledged."""
        self.client.disconnect()
        self.client.loop_stop()


def send(url: str, topic: str, payloads: list[bytes], *, qos: int = 1) -> None:
    """Publish with plain paho and wait for the broker to have every message."""
    endpoint = parse_mqtt_url(url)
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"test-pub-{uuid.uuid4().hex[:8]}",
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    client.max_inflight_messages_set(1000)
    client.connect(endpoint.host, endpoint.port)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=qos) for payload in payloads]
        for info in infos:
            info.wait_for_publish(timeout=10)
    finally:
        client.disconnect()
        client.loop_stop()


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


@pytest.fixture
def receivers(stack: StackState) -> Iterator[Callable[..., Receiver]]:
    """Make receivers; close them and end their sessions afterwards."""
    made: list[Receiver] = []

    def make(client_id: str, topic: str, **kwargs: int) -> Receiver:
        r = Receiver(stack.mqtt_url, client_id, topic, **kwargs)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()
    endpoint = parse_mqtt_url(stack.mqtt_url)
    for client_id in {r.client_id for r in made}:
        ender = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
        )
        ender.connect(endpoint.host, endpoint.port, clean_start=True)  # session expiry 0
        ender.loop_start()
        wait_for(ender.is_connected, timeout=5)
        ender.disconnect()
        ender.loop_stop()


@pytest.mark.stack
def test_acked_messages_stay_acked_and_the_rest_is_redelivered_after_reconnect(
    stack: StackState, receivers: Callable[..., Receiver]
) -> None:
    name = uuid.uuid4().hex[:8]
    topic = f"bulk/{name}"
    first = receivers(f"bulk-{name}", topic)
    assert first.session_present is False
    payloads = [f"m{i}".encode() for i in range(3000)]
    send(stack.mqtt_url, topic, payloads)
    wait_for(lambda: len(first.got) == 3000)
    assert first.payloads() == payloads  # in order, exactly once, QoS 1 with packet ids
    assert all(q == 1 and m > 0 for _t, _p, m, q in first.got)
    first.client.ack_many([m for _t, _p, m, _q in first.got[:2000]])
    time.sleep(0.3)  # let the broker read the PUBACKs before we leave
    first.close()

    # Same client id, Clean Start = 0: the session is there and resends only the last 1,000.
    second = receivers(f"bulk-{name}", topic)
    assert second.session_present is True
    wait_for(lambda: len(second.got) >= 1000)
    time.sleep(0.3)
    assert second.payloads() == payloads[2000:]
    second.client.ack_many([m for _t, _p, m, _q in second.got])
    time.sleep(0.3)
    second.close()

    third = receivers(f"bulk-{name}", topic)
    time.sleep(0.5)
    assert third.got == []  # all acknowledged: nothing comes again


@pytest.mark.stack
def test_a_shared_subscription_splits_the_stream_between_bulk_clients(
    stack: StackState, receivers: Callable[..., Receiver]
) -> None:
    name = uuid.uuid4().hex[:8]
    members = [receivers(f"bulk-{name}-{k}", f"$share/g{name}/bulk/{name}/#") for k in range(2)]
    payloads = [f"s{i}".encode() for i in range(2000)]
    send(stack.mqtt_url, f"bulk/{name}/x", payloads)
    wait_for(lambda: sum(len(r.got) for r in members) == 2000)
    time.sleep(0.2)
    got = [r.payloads() for r in members]
    assert all(got)  # both took a share
    assert sorted(got[0] + got[1]) == sorted(payloads)  # no duplicates, no loss
    for r in members:
        assert r.payloads() == [p for p in payloads if p in set(r.payloads())]  # each in order
        r.client.ack_many([m for _t, _p, m, _q in r.got])


@pytest.mark.stack
def test_the_packets_left_to_paho_still_work(
    stack: StackState, receivers: Callable[..., Receiver]
) -> None:
    name = uuid.uuid4().hex[:8]
    receiver = receivers(f"bulk-{name}", f"bulk/{name}/#", qos=2)  # SUBACK: handled by paho
    # Our own QoS 1 publish gets its PUBACK through paho (on_publish), while messages stream in.
    published = threading.Event()
    receiver.client.on_publish = lambda *_a: published.set()
    info = receiver.client.publish(f"bulk/{name}/own", b"own", qos=1)
    assert published.wait(5) and info.is_published()
    # QoS 2 goes through paho's handshake and on_message; its PUBCOMP through ack_many.
    send(stack.mqtt_url, f"bulk/{name}/q2", [b"two"], qos=2)
    wait_for(lambda: b"two" in receiver.payloads())
    (q2,) = [m for m in receiver.got if m[1] == b"two"]
    assert q2[3] == 2
    receiver.client.ack_many([QOS2_ACK_BASE + q2[2]])
    for m in receiver.got:
        if m[3] == 1:
            receiver.client.ack_many([m[2]])
    time.sleep(0.3)
    receiver.close()
    again = receivers(f"bulk-{name}", f"bulk/{name}/#", qos=2)
    time.sleep(0.5)
    assert again.got == []  # the QoS 2 message was completed, not left in the session
    assert again.disconnects == 0


@pytest.mark.stack
def test_keepalive_pings_are_answered_while_idle(
    stack: StackState, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = parse_mqtt_url(stack.mqtt_url)
    got: list[Publish] = []
    client = BulkReceiveClient(
        CallbackAPIVersion.VERSION2,
        client_id=f"bulk-ka-{uuid.uuid4().hex[:8]}",
        protocol=MQTTProtocolVersion.MQTTv5,
        on_publishes=got.extend,
    )
    disconnects: list[object] = []
    client.on_disconnect = lambda *a: disconnects.append(a)
    client.connect(endpoint.host, endpoint.port, keepalive=1)
    client.loop_start()
    try:
        wait_for(client.is_connected, timeout=5)
        time.sleep(3.5)  # several PINGREQ/PINGRESP rounds: a missed PINGRESP would disconnect
        assert client.is_connected() and disconnects == []
    finally:
        client.disconnect()
        client.loop_stop()
