"""The MQTT bridge: subscribe to the city's topics, parse, micro-batch, hand batches to a sink.

The bridge never touches the database and never imports Celery: the deployment injects a sink
(in production one that enqueues the ingest task) and the bridge calls it from ONE thread.

Threads. paho's network thread receives each message, parses it (`parsers.parse_message`) and
appends the result to the batch being built. The thread that runs `run()` (the flusher) cuts a
batch when it holds `max_batch` readings or `max_wait_s` after its first message, calls the sink,
and then acknowledges the batch's messages.

Delivery guarantees.

* Persistent session (MQTT 5 §3.1.2.4, §3.1.2.11): a fixed client id, Clean Start = 0 on every
  connect and a Session Expiry Interval (`session_expiry_s`, default one hour). While the bridge
  is disconnected or restarting, the broker keeps the subscription and queues QoS 1 messages for
  it, and on reconnect it resends every message that was sent but not acknowledged (MQTT 5
  §4.4). The client id must therefore be stable across restarts of one bridge and unique across
  bridges (the default derives it from the host name).
* Manual acknowledgement (`manual_ack=True`, the default; paho-mqtt 2.2 `Client(manual_ack=...)`
  + `Client.ack(mid, qos)`): a message's PUBACK is sent only after the sink returned for the
  batch holding its last reading, so the path broker -> sink is at-least-once. If the sink
  raises, the bridge drops everything not yet acknowledged, disconnects (keeping the session)
  and reconnects after a back-off (50 ms doubling to 5 s), and the broker redelivers those
  messages. Redelivery can duplicate readings; the worker's `ON CONFLICT DO NOTHING` makes that
  harmless (a redelivered reject gets a new batch_id, so it can be dead-lettered twice). A sink
  that fails on every attempt stalls ingestion rather than losing data: it must fail only on
  transport errors, never because of a batch's content.
* With `manual_ack=False` paho acknowledges each message as it is received: a message acked but
  not yet handed to the sink is lost if the bridge process crashes, and a batch whose sink call
  raised is dropped (counted in `dropped`). The window is one flush interval (`max_wait_s`).

Shared subscriptions. Mosquitto 2.0 keeps dealing a stopped bridge its round-robin share of
the stream and queues it in that bridge's session (measured: 50 of 100 messages while one of
two bridges was down). They arrive when a bridge with the same client id comes back; if none
does before the session expires, they are lost. Run bridges with stable ids (a StatefulSet, not
a Deployment with random pod names) and retire an id for good with `stop(end_session=True)`,
which gives up its queue.

Flow control. With manual ack the broker stops sending once `receive_maximum` messages are
unacknowledged (MQTT 5 §3.1.2.11.3), which must exceed `max_batch` or batches only ever close
on the timer. Independently, at most `max_pending_batches` closed batches wait for the sink;
beyond that paho's thread waits, so TCP pushes back on the broker, which queues.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from types import FrameType
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from shared.ingest.parsers import parse_message, payload_text
from shared.ingest.schemas import Batch, Reading, Reject, RejectReason
from shared.ingest.topics import shared_subscription

log = logging.getLogger(__name__)

Sink = Callable[[Batch], None]

DEFAULT_GROUP = "smartcity-ingest"
MQTT_DEFAULT_PORT = 1883  # IANA port for the mqtt scheme, used only when a URL names none
MAX_RECEIVE_MAXIMUM = 65_535  # MQTT 5 §3.1.2.11.3: the largest Receive Maximum
SESSION_NEVER_EXPIRES = 0xFFFFFFFF  # MQTT 5 §3.1.2.11.2


@dataclass(frozen=True)
class MqttEndpoint:
    """Where the broker is, from an `mqtt://[user[:password]@]host[:port]` URL."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None


def parse_mqtt_url(url: str) -> MqttEndpoint:
    """Parse `mqtt://[user[:password]@]host[:port]` (the MQTT_URL setting)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "tcp"):
        raise ValueError(f"not an mqtt:// URL: {url!r}")
    if not parts.hostname:
        raise ValueError(f"MQTT URL without a host: {url!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"MQTT URL must be only mqtt://host:port: {url!r}")
    try:
        port = parts.port or MQTT_DEFAULT_PORT
    except ValueError as exc:  # out-of-range or non-numeric port
        raise ValueError(f"bad port in MQTT URL {url!r}") from exc
    return MqttEndpoint(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


@dataclass
class BridgeCounters:
    """What the bridge has done since it was created (a snapshot; redeliveries count again)."""

    messages: int = 0  # MQTT messages received and parsed
    readings: int = 0  # readings in batches the sink accepted
    rejects: int = 0  # rejects in batches the sink accepted
    ignored: int = 0  # messages on topics we ignore (our own alerts)
    batches: int = 0  # successful sink calls
    sink_errors: int = 0  # sink calls that raised
    dropped: int = 0  # readings + rejects lost to sink errors (only without manual ack)
    redeliveries: int = 0  # reconnects made to have unacknowledged messages sent again
    connects: int = 0  # successful CONNACKs


class _Pending:
    """A batch being built or waiting for the sink, with the acks it owes the broker."""

    __slots__ = ("acks", "deadline", "generation", "readings", "received_at", "rejects")

    def __init__(self, *, received_at: float, deadline: float, generation: int) -> None:
        self.received_at = received_at
        self.deadline = deadline
        self.generation = generation  # the connection its messages came on
        self.readings: list[Reading] = []
        self.rejects: list[Reject] = []
        self.acks: list[tuple[int, int]] = []  # (mid, qos) in order of receipt


class Bridge:
    """Subscribe to `$share/<group>/city/#`, micro-batch parsed readings, feed them to a sink."""

    def __init__(
        self,
        *,
        url: str,
        sink: Sink,
        group: str = DEFAULT_GROUP,
        client_id: str | None = None,
        max_batch: int = 5000,
        max_wait_s: float = 0.02,
        manual_ack: bool = True,
        session_expiry_s: int = 3600,
        receive_maximum: int = MAX_RECEIVE_MAXIMUM,
        max_pending_batches: int = 4,
        keepalive_s: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_batch < 1 or max_wait_s <= 0 or max_pending_batches < 1:
            raise ValueError("max_batch, max_wait_s and max_pending_batches must be positive")
        if not 1 <= receive_maximum <= MAX_RECEIVE_MAXIMUM:
            raise ValueError(f"receive_maximum must be 1..{MAX_RECEIVE_MAXIMUM}")
        if not 0 <= session_expiry_s <= SESSION_NEVER_EXPIRES:
            raise ValueError("session_expiry_s must fit 32 bits")
        self.endpoint = parse_mqtt_url(url)
        self.subscription = shared_subscription(group)
        self.client_id = client_id or f"smartcity-bridge-{socket.gethostname()}"
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.manual_ack = manual_ack
        self.session_expiry_s = session_expiry_s
        self.receive_maximum = receive_maximum
        self.max_pending_batches = max_pending_batches
        self.keepalive_s = keepalive_s
        self._sink = sink
        self._clock = clock

        # One condition guards the batches, the counters and the flags below. Its lock is an
        # RLock so that the SIGTERM handler can notify from the main thread at any point.
        self._cond = threading.Condition(threading.RLock())
        self._current: _Pending | None = None
        self._ready: deque[_Pending] = deque()
        self._counters = BridgeCounters()
        self._generation = 0
        self._stopping = False
        self._discarding = False  # between a sink error and the reconnect: drop, do not ack
        self._end_session = False
        self._subscribed = threading.Event()
        self._done = threading.Event()
        self._running = False
        self._run_ident: int | None = None
        self._thread: threading.Thread | None = None
        self._client = self._make_client()

    # public API --------------------------------------------------------------------------------

    @property
    def counters(self) -> BridgeCounters:
        """Return a snapshot of the counters."""
        with self._cond:
            return replace(self._counters)

    @property
    def connected(self) -> bool:
        """Tell whether the bridge is connected and its subscription acknowledged."""
        return self._subscribed.is_set()

    def wait_ready(self, timeout: float) -> bool:
        """Wait until the bridge is connected and subscribed; False on timeout."""
        return self._subscribed.wait(timeout)

    def run(self) -> None:
        """Connect and deliver batches until `stop()` (or SIGTERM in the main thread)."""
        with self._cond:
            if self._running or self._done.is_set():
                raise RuntimeError("a Bridge runs once; create a new one")
            self._running = True
            self._run_ident = threading.get_ident()
        restore_signal = self._handle_sigterm()
        try:
            if not self._stopping:  # stop() may come before the thread got here
                self._connect()
            self._deliver_until_stopped()
        finally:
            try:
                self._shutdown()
            finally:
                restore_signal()
                self._done.set()

    def start(self) -> None:
        """Run the bridge in a background thread; see `wait_ready()`."""
        if self._thread is not None:
            raise RuntimeError("bridge already started")
        self._thread = threading.Thread(target=self.run, name="ingest-bridge", daemon=True)
        self._thread.start()

    def stop(self, *, end_session: bool = False, timeout: float = 30.0) -> None:
        """Flush what was received, disconnect, and wait for `run()` to return.

        The broker keeps the session (and queues for it) unless `end_session` is true: use that
        only when this bridge's client id is retired for good.
        """
        with self._cond:
            self._end_session = end_session
        self._request_stop()
        other_thread = self._run_ident not in (None, threading.get_ident())
        if other_thread and not self._done.wait(timeout):
            log.warning("bridge %s did not stop within %.0f s", self.client_id, timeout)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    # paho callbacks (paho's network thread) ----------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        """Create the paho client with our callbacks."""
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=self.manual_ack,
        )
        if self.endpoint.username is not None:
            client.username_pw_set(self.endpoint.username, self.endpoint.password)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _connect(self) -> None:
        """Start connecting in paho's network thread (it retries until the broker answers)."""
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry_s
        props.ReceiveMaximum = self.receive_maximum
        self._client.connect_async(
            self.endpoint.host,
            self.endpoint.port,
            keepalive=self.keepalive_s,
            clean_start=False,  # every connect, not just later ones: keep the session
            properties=props,
        )
        self._client.loop_start()

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        """Subscribe after every CONNACK (cheap if the session already holds the subscription)."""
        if reason_code.is_failure:
            log.warning("MQTT connect refused: %s", reason_code)
            return
        with self._cond:
            self._counters.connects += 1
        log.info(
            "bridge %s connected to %s:%s (session present: %s)",
            self.client_id,
            self.endpoint.host,
            self.endpoint.port,
            flags.session_present,
        )
        client.subscribe(self.subscription, qos=1)

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        """Mark the bridge ready once the broker granted the subscription."""
        if any(rc.is_failure for rc in reason_codes):
            log.error("subscription %s refused: %s", self.subscription, reason_codes)
            return
        self._subscribed.set()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        """Close the batch of the lost connection: its message ids mean nothing on the next."""
        self._subscribed.clear()
        with self._cond:
            self._generation += 1
            self._close_current()
            self._cond.notify_all()
        if reason_code.is_failure and not self._stopping:
            log.warning("bridge %s lost its connection: %s", self.client_id, reason_code)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        """Parse one message and add it to the batch being built."""
        now = self._clock()
        try:
            topic = message.topic
        except UnicodeDecodeError:  # the broker should never let one through (MQTT 5 §1.5.4)
            topic = bytes(message._topic).decode("utf-8", "replace")
        try:
            readings, rejects = parse_message(topic, message.payload, now=now)
        except Exception:  # a parser bug must not kill paho's thread or lose the message
            log.exception("parser failed on a message on %s", topic)
            detail = "internal parser error"
            reason = RejectReason.malformed.value
            reject = Reject(topic, payload_text(message.payload), reason, detail)
            readings, rejects = [], [reject]
        ack = (message.mid, message.qos) if self.manual_ack and message.qos > 0 else None
        self._add(readings, rejects, ack, now)

    # batching ----------------------------------------------------------------------------------

    def _add(
        self,
        readings: list[Reading],
        rejects: list[Reject],
        ack: tuple[int, int] | None,
        now: float,
    ) -> None:
        """Append one message's results, closing batches at `max_batch` (splitting if needed)."""
        with self._cond:
            while (
                len(self._ready) >= self.max_pending_batches
                and not self._stopping
                and not self._discarding
            ):
                self._cond.wait(0.1)  # back-pressure: hold paho's thread while the sink catches up
            if self._discarding:
                return  # unacknowledged: the broker sends it again after the reconnect
            counters = self._counters
            counters.messages += 1
            if not readings and not rejects:
                counters.ignored += 1
            cur = self._current or self._open(now)
            limit = self.max_batch
            while len(cur.readings) + len(readings) > limit:
                room = limit - len(cur.readings)
                cur.readings.extend(readings[:room])
                readings = readings[room:]
                self._close_current()
                cur = self._open(now)
            cur.readings.extend(readings)
            while len(cur.rejects) + len(rejects) > limit:
                room = limit - len(cur.rejects)
                cur.rejects.extend(rejects[:room])
                rejects = rejects[room:]
                self._close_current()
                cur = self._open(now)
            cur.rejects.extend(rejects)
            if ack is not None:
                cur.acks.append(ack)  # on the batch holding the message's last reading
            if len(cur.readings) >= limit or len(cur.rejects) >= limit:
                self._close_current()

    def _open(self, now: float) -> _Pending:
        """Start a new batch (lock held) and wake the flusher to arm its timer."""
        cur = _Pending(
            received_at=now,
            deadline=time.monotonic() + self.max_wait_s,
            generation=self._generation,
        )
        self._current = cur
        self._cond.notify_all()
        return cur

    def _close_current(self) -> None:
        """Move the batch being built to the ready queue (lock held)."""
        if self._current is not None:
            self._ready.append(self._current)
            self._current = None
            self._cond.notify_all()

    def _next_batch(self) -> _Pending | None:
        """Wait for a full or timed-out batch; None once stopping."""
        with self._cond:
            while True:
                if self._stopping:
                    return None
                if self._ready:
                    batch = self._ready.popleft()
                    self._cond.notify_all()  # room for a producer held by back-pressure
                    return batch
                cur = self._current
                if cur is None:
                    timeout = 1.0
                else:
                    timeout = cur.deadline - time.monotonic()
                    if timeout <= 0:
                        self._current = None
                        return cur
                self._cond.wait(timeout)

    # delivery (the flusher thread) -------------------------------------------------------------

    def _deliver_until_stopped(self) -> None:
        """Hand batches to the sink, one at a time, until asked to stop."""
        backoff = 0.0
        while (batch := self._next_batch()) is not None:
            if self._deliver(batch):
                backoff = 0.0
            elif self.manual_ack:
                backoff = min(max(backoff * 2, 0.05), 5.0)
                self._redeliver(backoff)
            else:
                with self._cond:
                    self._counters.dropped += len(batch.readings) + len(batch.rejects)

    def _deliver(self, batch: _Pending) -> bool:
        """Call the sink with one batch and then acknowledge its messages; False if it raised."""
        if batch.readings or batch.rejects:
            try:
                self._sink(
                    Batch(
                        batch_id=uuid.uuid4().hex,
                        received_at=batch.received_at,
                        readings=batch.readings,
                        rejects=batch.rejects,
                    )
                )
            except Exception:
                log.exception(
                    "sink failed for a batch of %d readings and %d rejects",
                    len(batch.readings),
                    len(batch.rejects),
                )
                with self._cond:
                    self._counters.sink_errors += 1
                return False
            with self._cond:
                counters = self._counters
                counters.batches += 1
                counters.readings += len(batch.readings)
                counters.rejects += len(batch.rejects)
        if batch.acks:
            with self._cond:
                stale = batch.generation != self._generation
            # Ids from a lost connection would acknowledge other messages on the new one; the
            # broker redelivers those messages instead (a harmless duplicate downstream).
            if not stale:
                for mid, qos in batch.acks:
                    self._client.ack(mid, qos)
        return True

    def _redeliver(self, delay: float) -> None:
        """After a sink error: drop what is unacknowledged and reconnect so the broker resends."""
        with self._cond:
            self._discarding = True
            self._counters.redeliveries += 1
            self._cond.notify_all()
        # A normal DISCONNECT keeps the session (expiry > 0) with every unacknowledged message.
        self._client.disconnect()
        self._client.loop_stop()
        with self._cond:
            self._ready.clear()
            self._current = None
            self._generation += 1
            deadline = time.monotonic() + delay
            while not self._stopping and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)
            self._discarding = False
            if self._stopping:
                return
        log.warning("bridge %s reconnecting for redelivery after a sink error", self.client_id)
        self._connect()

    def _shutdown(self) -> None:
        """Deliver what was received, disconnect, then deal with the last stragglers."""
        # The network thread keeps running while we drain, so that the acks go out on it, in
        # order, ahead of the DISCONNECT (which also wakes its select() at once).
        with self._cond:
            self._close_current()
            pending = list(self._ready)
            self._ready.clear()
            end_session = self._end_session
        self._deliver_all(pending)
        props = None
        if end_session:
            # MQTT 5 §3.14.2.2.2: expiry 0 in DISCONNECT ends the session when we close.
            props = Properties(PacketTypes.DISCONNECT)
            props.SessionExpiryInterval = 0
        self._client.disconnect(properties=props)
        self._client.loop_stop()
        self._subscribed.clear()
        with self._cond:
            self._close_current()
            stragglers = list(self._ready)
            self._ready.clear()
        # With manual ack, whatever arrived while we drained was never acknowledged: the broker
        # keeps it in the session for the next bridge with this client id. Without, paho has
        # acknowledged it already, so it is delivered now or lost.
        if not self.manual_ack:
            self._deliver_all(stragglers)
        log.info("bridge %s stopped: %s", self.client_id, self.counters)

    def _deliver_all(self, batches: list[_Pending]) -> None:
        """Deliver batches in order while shutting down."""
        for batch in batches:
            if self._deliver(batch):
                continue
            if self.manual_ack:
                return  # the rest is unacknowledged too: the next session receives it again
            with self._cond:
                self._counters.dropped += len(batch.readings) + len(batch.rejects)

    # signals -------------------------------------------------------------------------------------

    def _request_stop(self) -> None:
        """Ask `run()` to finish (safe from a signal handler: the lock is re-entrant)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    def _handle_sigterm(self) -> Callable[[], None]:
        """Stop gracefully on SIGTERM when running in the main thread; return the undo."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            log.info("bridge %s: SIGTERM, stopping", self.client_id)
            self._request_stop()

        previous = signal.signal(signal.SIGTERM, on_sigterm)
        # getsignal() gives None for a handler installed from C: restore the default then.
        return lambda: signal.signal(signal.SIGTERM, previous or signal.SIG_DFL)
