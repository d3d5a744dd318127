"""Publish simulated readings to the MQTT broker at a steady open-loop rate."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from shared.simulate.service import FaultOptions, SimSensor, SimStats, generate_messages
from shared.simulate.sources import CREDITS, load_sources

LATE_S = 0.001  # a send more than 1 ms after its scheduled time counts as late
# Our own cap on unacknowledged QoS >= 1 messages: below paho's 16-bit message ids (65,535),
# which would otherwise wrap onto messages still in flight. Past it the sender waits for PUBACKs.
WINDOW = 20_000
PUMP_EVERY = 64  # read PUBACKs from the socket after this many sends


@dataclass
class SimSummary:
    """What a simulation run published."""

    messages_sent: int = 0
    readings_sent: int = 0  # valid readings (spiked and stuck ones included: they are in range)
    invalid: int = 0  # malformed messages, one reading each
    faults: dict[str, int] = field(default_factory=dict)  # injected, in their caps' units
    fault_readings: dict[str, int] = field(default_factory=dict)  # readings per fault kind
    elapsed_s: float = 0.0  # first send to last PUBACK
    late_sends: int = 0  # sends more than LATE_S behind their schedule
    max_lag_s: float = 0.0
    unacked: int = 0  # QoS >= 1 messages the broker had not acknowledged when we gave up
    interrupted: bool = False

    @property
    def messages_per_s(self) -> float:
        """Return the achieved message rate."""
        return self.messages_sent / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def readings_per_s(self) -> float:
        """Return the achieved rate of valid readings."""
        return self.readings_sent / self.elapsed_s if self.elapsed_s > 0 else 0.0


class _Acks:
    """Count broker acknowledgements (PUBACK for QoS 1, the socket write for QoS 0)."""

    def __init__(self) -> None:
        self.count = 0

    def on_publish(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_code: mqtt.ReasonCode,
        properties: mqtt.Properties,
    ) -> None:
        self.count += 1


def _pump(client: mqtt.Client, timeout_s: float) -> None:
    """Run the client's network loop once (send, read PUBACKs, keep alive); fail if it broke."""
    rc = client.loop(timeout=max(0.0, timeout_s))
    if rc != mqtt.MQTT_ERR_SUCCESS:
        raise ConnectionError(f"MQTT connection lost: {mqtt.error_string(rc)}")


def connect_client(*, mqtt_url: str, acks: _Acks, client_id: str | None = None) -> mqtt.Client:
    """Connect a paho client to mqtt://[user:password@]host:port; its loop is ours to run.

    No network thread: the publisher drives the loop itself, so the two never fight over the
    GIL, and with max_inflight 0 paho skips its O(queued) scan on every PUBACK.
    """
    url = urlsplit(mqtt_url)
    if url.scheme not in ("mqtt", "tcp") or not url.hostname:
        raise ValueError(f"not an mqtt:// URL: {mqtt_url!r}")
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id or f"smartcity-sim-{uuid.uuid4().hex[:8]}",
        protocol=mqtt.MQTTv311,
    )
    if url.username:
        client.username_pw_set(unquote(url.username), unquote(url.password or ""))
    client.max_inflight_messages_set(0)  # unlimited in paho; WINDOW bounds it instead
    client.max_queued_messages_set(0)
    outcome: dict[str, mqtt.ReasonCode] = {}

    def on_connect(
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: mqtt.ReasonCode,
        properties: mqtt.Properties,
    ) -> None:
        outcome["rc"] = reason_code

    client.on_connect = on_connect
    client.on_publish = acks.on_publish
    client.connect(url.hostname, url.port or 1883, keepalive=60)
    deadline = time.monotonic() + 10.0
    while "rc" not in outcome and time.monotonic() < deadline:
        _pump(client, 0.1)
    if "rc" not in outcome or outcome["rc"].is_failure:
        client.disconnect()
        reason = outcome.get("rc", "no CONNACK within 10 s")
        raise ConnectionError(f"cannot connect to {mqtt_url}: {reason}")
    return client


def _wait_for_acks(*, client: mqtt.Client, acks: _Acks, total: int, timeout_s: float) -> int:
    """Run the loop until `total` messages are acknowledged; return how many are still not."""
    deadline = time.monotonic() + timeout_s
    while acks.count < total and time.monotonic() < deadline:
        _pump(client, 0.05)
    return max(0, total - acks.count)


def run_simulation(
    *,
    mqtt_url: str,
    fleet: Sequence[SimSensor],
    rate_per_s: float,
    duration_s: float | None = None,
    count: int | None = None,
    packed: int = 0,
    faults: FaultOptions | None = None,
    progress: Callable[[str], None] | None = print,
    qos: int = 1,
    stamp_schedule: bool = False,
    seed: int | None = None,
    gateways: int = 1,
    ack_timeout_s: float = 60.0,
) -> SimSummary:
    """Publish readings at rate_per_s messages a second until duration_s or count readings.

    Open loop: message i is due at start + i / rate_per_s whatever happened before; a late send
    goes out at once and is counted, never shifting the schedule. With neither duration_s nor
    count it runs until interrupted (Ctrl-C). Returns after every QoS >= 1 message is
    acknowledged by the broker (or ack_timeout_s passed: see SimSummary.unacked).
    """
    if not rate_per_s > 0:
        raise ValueError("rate_per_s must be positive")
    if duration_s is not None and duration_s <= 0:
        raise ValueError("duration_s must be positive")
    if count is not None and count < 1:
        raise ValueError("count must be at least 1")
    say = progress or (lambda _m: None)
    sources = load_sources()  # before the clock starts: loading takes about a second
    for credit in CREDITS:
        say(credit.line())
    mode = f"SenML packs of {packed}" if packed else "single readings"
    say(f"simulating {len(fleet)} sensors, {rate_per_s:g} messages/s, {mode}, QoS {qos}")

    acks = _Acks()
    client = connect_client(mqtt_url=mqtt_url, acks=acks)
    stats = SimStats()
    summary = SimSummary()
    last_due_index = None if duration_s is None else max(1, round(duration_s * rate_per_s))
    try:
        start_wall = time.time()
        start = time.monotonic()
        messages = generate_messages(
            fleet=fleet,
            start=start_wall,
            rate_per_s=rate_per_s,
            packed=packed,
            faults=faults,
            stamp_schedule=stamp_schedule,
            max_readings=count,
            stats=stats,
            seed=seed,
            gateways=gateways,
            sources=sources,
        )
        last_progress, sent_then = start, 0
        try:
            for i in itertools.count():
                if last_due_index is not None and i >= last_due_index:
                    break
                try:
                    topic, payload = next(messages)
                except StopIteration:  # count readings reached
                    break
                due = start + i / rate_per_s
                now = time.monotonic()
                while now < due:  # wait in select() on the socket: PUBACKs are read meanwhile
                    _pump(client, due - now)
                    now = time.monotonic()
                lag = now - due
                if lag > LATE_S:
                    summary.late_sends += 1
                summary.max_lag_s = max(summary.max_lag_s, lag)
                client.publish(topic, payload, qos=qos)  # written at once: no network thread
                summary.messages_sent += 1
                if summary.messages_sent % PUMP_EVERY == 0:
                    _pump(client, 0.0)
                while qos and summary.messages_sent - acks.count >= WINDOW:
                    _pump(client, 0.01)  # the broker is behind: this shows up as lag
                if now - last_progress >= 1.0:
                    rate = (summary.messages_sent - sent_then) / (now - last_progress)
                    say(
                        f"sent {summary.messages_sent:,} messages ({stats.readings:,} readings), "
                        f"{rate:,.0f} msg/s, lag {lag * 1000:.1f} ms"
                    )
                    last_progress, sent_then = now, summary.messages_sent
        except KeyboardInterrupt:
            summary.interrupted = True
        summary.unacked = _wait_for_acks(
            client=client, acks=acks, total=summary.messages_sent, timeout_s=ack_timeout_s
        )
        summary.elapsed_s = time.monotonic() - start
    finally:
        client.disconnect()

    summary.readings_sent = stats.readings
    summary.invalid = stats.invalid
    summary.faults = dict(stats.faults)
    summary.fault_readings = dict(stats.fault_readings)
    say(
        f"done: {summary.messages_sent:,} messages, {summary.readings_sent:,} valid readings, "
        f"{summary.invalid:,} invalid, in {summary.elapsed_s:.1f} s "
        f"({summary.messages_per_s:,.0f} msg/s, {summary.readings_per_s:,.0f} readings/s); "
        f"late sends {summary.late_sends:,}, max lag {summary.max_lag_s * 1000:.1f} ms"
        + (f"; faults {summary.faults}" if summary.faults else "")
        + (f"; {summary.unacked:,} NOT acknowledged" if summary.unacked else "")
    )
    return summary
