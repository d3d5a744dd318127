"""The MQTT bridge: subscribe to the city's topics, parse, micro-batch, hand batches to a sink.

The bridge never touches the database and never imports Celery: the deployment injects a sink
(in production one that enqueues the ingest task) and the bridge calls it one call at a time
(from its flusher thread, or from a drain's while it takes over a dead member's session).

Threads. paho's network thread receives the messages, parses each (`parsers.parse_message`)
and appends the results to the batch being built. It does so for all the messages of one socket
read at once: `bulk_client.BulkReceiveClient` replaces paho's per-message receive path, which
cost about 9x our own work per message (see that module and bench/ingest/README.md). The thread
that runs `run()` (the flusher) cuts a batch when it holds `max_batch` readings or `max_wait_s`
after its first message, calls the sink, and then acknowledges the batch's messages, all their
PUBACKs in one write (`BulkReceiveClient.ack_many`).

Adaptive flush (`adaptive=True`, `smartcity bridge`'s default). With a fixed timer a reading
waits `max_wait_s` for its batch even when nothing is in flight. Adaptive, the flusher hands
the open batch over as soon as it may (an in-flight slot is free; for a plain sink: its last
call returned), once the batch is `min_wait_s` old (default 0): at low load a batch holds
what arrived during one round trip, and while the worker is busy the open batch grows by
itself, so the number of tasks follows what the workers absorb (group commit). A batch is
never handed over later than with the timer. bench/ingest/README.md has the figures.

Batches in flight. A plain sink (a callable) returns when its batch is safe, so a bridge has one
batch in flight and a reading waits for its batch to close, for the whole round trip of the
batch ahead of it and for its own. An `AsyncSink` (production: `ConfirmedSink` in
shared.tasks.celery_app, which sends the Celery task and learns from the worker, through Redis,
that the batch is committed) lets the flusher hand over up to `in_flight` batches before the
first is confirmed, so that several workers' processes store one bridge's batches at once. The
sink's own thread reports each verdict (`on_done`); PUBACKs still go out in the order the
PUBLISHes came (MQTT 5 §4.6): a batch confirmed early is acknowledged only once every batch
ahead of it is. With `in_flight` batches unconfirmed the flusher holds, exactly as while a plain
sink is busy, and the open batch grows. A batch reported as failed (e.g. not confirmed in time)
is handled like a sink that raised, below; the batches behind it are dropped unacknowledged
with it, even those already confirmed (their readings come again: harmless duplicates).

Urgent lane (`urgent`, a predicate on readings; needs an AsyncSink). A reading the predicate
picks (production: `shared.ingest.urgent.UrgentLevels`: a reading at a threshold rule's level,
or just after one of its datastream, so it may open, escalate or resolve an alert; called once
per reading, in order) does not wait in the bulk batch: it goes into the urgent
batch, which the flusher hands over as soon as the lane's single slot is free, past the bulk
lane's in-flight limit, with `submit(..., urgent=True)` (the sink sends it to its own queue,
served by its own worker). The message's PUBACK stays with the bulk batch being built, in
receipt order, and that batch's acks wait until the urgent batch is confirmed as well
(`waits_for`), so an urgent reading is acknowledged only once it is stored, like any other.
Only the readings of a message move lanes; its rejects stay in the bulk batch. A newer reading
of a sensor may thus be stored before older ones of the same sensor: the worker judges alerts
only on readings that move a datastream's latest state forward, so the order does not change
a verdict. bench/ingest/README.md has the latency it buys.

Delivery guarantees.

* Persistent session (MQTT 5 §3.1.2.4, §3.1.2.11): a fixed client id, Clean Start = 0 on every
  connect and a Session Expiry Interval (`session_expiry_s`, default one hour). While the bridge
  is disconnected or restarting, the broker keeps the subscription and queues QoS 1 messages for
  it, and on reconnect it resends every message that was sent but not acknowledged (MQTT 5
  §4.4). The client id must therefore be stable across restarts of one bridge and unique across
  bridges (the default derives it from the host name).
* Manual acknowledgement (`manual_ack=True`, the default; paho-mqtt 2.2 `Client(manual_ack=...)`
  + `BulkReceiveClient.ack_many`): a message's PUBACK is sent only after the sink returned for (or
  confirmed) the batch holding its last reading, so the path broker -> sink is at-least-once.
  If the sink raises, the bridge drops everything not yet acknowledged, disconnects (keeping
  the session) and reconnects after a back-off (50 ms doubling to 5 s), and the broker
  redelivers those messages. Redelivery can duplicate readings; the worker's `ON CONFLICT DO
  NOTHING` makes that harmless (a redelivered reject gets a new batch_id, so it can be
  dead-lettered twice). A sink that fails on every attempt stalls ingestion rather than losing
  data: it must fail only on transport errors, never because of a batch's content.
* With `manual_ack=False` a socket read's messages are acknowledged once added to a batch: a
  message acked but not yet handed to the sink is lost if the bridge process crashes, and a
  batch whose sink call raised is dropped (counted in `dropped`). The window is one flush
  interval (`max_wait_s`).

Shared subscriptions and dead members. Mosquitto 2.0 keeps dealing a stopped bridge its
round-robin share of the stream and queues it in that bridge's session (measured: 50 of 100
messages while one of two bridges was down). They arrive when a bridge with the same client id
comes back; if none ever does, they would be lost when the session expires, and until then the
dead member keeps taking its share of new messages. So bridges of a group are declared as a
fixed list of client ids (`members`; `smartcity bridge --client-id ingest-0 --members 2`) and
watch each other:

* Presence. Each member publishes a retained `smartcity/bridges/<group>/<client_id>` (payload:
  its id) on every connect, with a Will that clears it: the broker clears it as soon as the
  member's connection dies (or 1.5 keep-alives after it went silent), and a member stopping on
  purpose clears it itself. Every member subscribes to the group's presence topics.
* Takeover. A member offline for `takeover_after_s` (default 30 s: a restart comes back sooner)
  is drained by its heir, the next online member after it in the list (cyclically), so exactly
  one survivor acts. The heir connects a second client with the dead member's client id and
  Clean Start = 0. If the broker holds no session for it (nothing to drain), it leaves at once.
  Otherwise it UNSUBSCRIBEs the shared subscription, so the dead id stops taking a share, takes
  the queued and in-flight messages through its own batching and sink (calls to the sink stay
  one at a time), acknowledges them after the sink as usual, and once nothing arrived for
  `DRAIN_IDLE_S` with every batch acknowledged, DISCONNECTs with Session Expiry 0 (MQTT 5
  §3.14.2.2.2), which ends the session: the broker stops queueing for the dead id. A drain
  client never reconnects: if the member comes back meanwhile, its connect takes the session
  over (MQTT 5 §3.1.4) and redelivers what the drain had not acknowledged (harmless
  duplicates). If the heir dies mid-drain the session keeps its expiry and the next heir
  drains it. Without `members` a bridge does none of this (one bridge, or ids managed by hand).

We chose this over a supervisor that restarts bridges (it cannot help when a whole host is
gone) and over partitioning topics between bridges (no MQTT filter splits by hash, and a fixed
split still strands a dead partition). Retire a member for good with `stop(end_session=True)`.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from itertools import compress
from types import FrameType
from typing import Any, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from shared.ingest.bulk_client import QOS2_ACK_BASE, BulkReceiveClient, Publish
from shared.ingest.parsers import parse_message, payload_text
from shared.ingest.schemas import Batch, Reading, Reject, RejectReason
from shared.ingest.topics import (
    PRESENCE_ROOT,
    presence_filter,
    presence_topic,
    shared_subscription,
)

log = logging.getLogger(__name__)

Sink = Callable[[Batch], None]
OnDone = Callable[[BaseException | None], None]


@runtime_checkable
class AsyncSink(Protocol):
    """A sink that confirms later, so that a bridge can keep several batches in flight."""

    def submit(self, batch: Batch, on_done: OnDone, *, urgent: bool = False) -> None:
        """Hand a batch over and return at once; raise only if it could not be sent.

        The sink must later call `on_done(None)` once the batch is safely stored, or
        `on_done(error)` if it cannot say so (e.g. not confirmed in time): exactly once, from
        any thread, and never from inside `submit`'s own call while holding its locks.
        A bridge with an urgent lane calls `submit(batch, on_done, urgent=True)` for its urgent
        batches: the sink should route those past the bulk batches (their own queue).
        """


DEFAULT_GROUP = "smartcity-ingest"
MQTT_DEFAULT_PORT = 1883  # IANA port for the mqtt scheme, used only when a URL names none
MAX_RECEIVE_MAXIMUM = 65_535  # MQTT 5 §3.1.2.11.3: the largest Receive Maximum
SESSION_NEVER_EXPIRES = 0xFFFFFFFF  # MQTT 5 §3.1.2.11.2
DRAIN_IDLE_S = 2.0  # a drained session is empty once nothing arrived this long, all acknowledged
DRAIN_CONNECT_TIMEOUT_S = 10.0  # a drain that got no answer by then gives up (and is retried)
DEFAULT_IN_FLIGHT = 1  # batches an AsyncSink may hold unconfirmed (bench/ingest: 2 and 4 worse)
SHUTDOWN_CONFIRM_S = 20.0  # how long stop() waits for batches in flight to be confirmed


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


def _each(predicate: Callable[[Reading], bool], readings: list[Reading]) -> list[bool]:
    """Apply a plain predicate to each reading, in order."""
    return [predicate(r) for r in readings]


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
    takeovers: int = 0  # dead members' sessions drained and ended (see the module docstring)
    urgent: int = 0  # readings confirmed through the urgent lane (see the module docstring)


class _Pending:
    """A batch being built or waiting for the sink, with the acks it owes the broker."""

    __slots__ = (
        "acks", "deadline", "done", "generation", "readings", "received_at", "rejects",
        "urgent", "waits_for",
    )  # fmt: skip

    def __init__(
        self, *, received_at: float, deadline: float, generation: int, urgent: bool = False
    ) -> None:
        self.received_at = received_at
        self.deadline = deadline
        self.generation = generation  # the connection its messages came on
        self.readings: list[Reading] = []
        self.rejects: list[Reject] = []
        self.acks: list[int] = []  # ack keys (bulk_client.ack_many) in order of receipt
        self.done = False  # in flight: the sink confirmed it
        self.urgent = urgent  # an urgent-lane batch: readings only, never acks
        # Urgent batches holding readings of messages whose acks this batch carries: its acks
        # wait until those are confirmed too.
        self.waits_for: list[_Pending] = []


_FAILED = _Pending(received_at=0.0, deadline=0.0, generation=-1)  # a batch in flight failed


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
        members: Sequence[str] = (),
        takeover_after_s: float = 30.0,
        drain_only: bool = False,
        in_flight: int = DEFAULT_IN_FLIGHT,
        adaptive: bool = False,
        min_wait_s: float = 0.0,
        urgent: Callable[[Reading], bool] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_batch < 1 or max_wait_s <= 0 or max_pending_batches < 1 or in_flight < 1:
            raise ValueError(
                "max_batch, max_wait_s, max_pending_batches and in_flight must be positive"
            )
        if not 0 <= min_wait_s <= max_wait_s:
            raise ValueError("min_wait_s must be between 0 and max_wait_s")
        if not 1 <= receive_maximum <= MAX_RECEIVE_MAXIMUM:
            raise ValueError(f"receive_maximum must be 1..{MAX_RECEIVE_MAXIMUM}")
        if not 0 <= session_expiry_s <= SESSION_NEVER_EXPIRES:
            raise ValueError("session_expiry_s must fit 32 bits")
        self.endpoint = parse_mqtt_url(url)
        self.subscription = shared_subscription(group)
        self.client_id = client_id or f"smartcity-bridge-{socket.gethostname()}"
        self.members = tuple(members)
        if self.members and (
            self.client_id not in self.members or len(set(self.members)) != len(self.members)
        ):
            raise ValueError("members must list distinct client ids, this bridge's among them")
        if takeover_after_s <= 0:
            raise ValueError("takeover_after_s must be positive")
        self.group = group
        self.takeover_after_s = takeover_after_s
        self.drain_only = drain_only  # connect only to drain a dead member's session
        self._url = url
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        # Adaptive flush: hand the open batch over as soon as an in-flight slot is free and it
        # is `min_wait_s` old, never later than the `max_wait_s` timer would (see the docstring).
        self.adaptive = adaptive
        self.min_wait_s = min_wait_s
        self.manual_ack = manual_ack
        self.session_expiry_s = session_expiry_s
        self.receive_maximum = receive_maximum
        self.max_pending_batches = max_pending_batches
        self.keepalive_s = keepalive_s
        self._sink = sink
        self._async = isinstance(sink, AsyncSink)
        self.in_flight = in_flight if self._async else 1  # a plain callable returns when done
        # The urgent lane needs an AsyncSink: a plain sink holds the flusher for a whole batch.
        self._urgent = urgent if self._async else None
        # The predicate over one message's readings: UrgentLevels has a loop of its own.
        self._urgent_flags: Callable[[list[Reading]], list[bool]] | None = None
        if self._urgent is not None:
            self._urgent_flags = getattr(self._urgent, "flags", None) or partial(
                _each, self._urgent
            )
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
        # Batches handed to an AsyncSink, in order of receipt, until acknowledged in that order.
        self._inflight: deque[_Pending] = deque()
        self._urgent_current: _Pending | None = None  # the urgent batch being built
        self._urgent_inflight = 0  # urgent batches sent and not yet confirmed (0 or 1)
        self._failed = False  # a batch in flight was not confirmed: redeliver
        self._ack_lock = threading.Lock()  # PUBACKs go out in order (MQTT 5 §4.6)
        self._stop_requested = threading.Event()
        self._sink_lock = threading.Lock()  # drains share the sink: one call at a time
        self._busy = False  # the flusher holds a batch that is not yet acknowledged
        self._topics: dict[bytes, str] = {}  # raw topic -> text (a city's topics repeat)
        self._last_add = time.monotonic()
        self._online: set[str] = set()  # members whose presence is retained now
        self._drains: dict[str, Bridge] = {}
        self._watcher: threading.Thread | None = None
        self._session_found = False  # drain_only: the broker held a session to drain
        self._unsubscribed = False  # drain_only: the dead id no longer takes a share
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

    @property
    def online_members(self) -> frozenset[str]:
        """Return the members whose presence the broker holds now (empty without `members`)."""
        with self._cond:
            return frozenset(self._online)

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
                if self.members and not self.drain_only:
                    self._watcher = threading.Thread(
                        target=self._watch, name="ingest-bridge-watch", daemon=True
                    )
                    self._watcher.start()
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

    def _make_client(self) -> BulkReceiveClient:
        """Create the paho client with our callbacks."""
        # paho's own per-message receive path and ack() cost several times our parsing: the
        # subclass takes each socket read's PUBLISHes in one call (see bulk_client).
        client = BulkReceiveClient(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=self.manual_ack,
            # A drain that reconnected would take the session back from a member that returned.
            reconnect_on_failure=not self.drain_only,
            on_publishes=self._on_publishes,
        )
        if self.endpoint.username is not None:
            client.username_pw_set(self.endpoint.username, self.endpoint.password)
        if self.members and not self.drain_only:
            # Empty retained payload = delete the retained presence (MQTT 5 §3.3.1.3).
            client.will_set(self._presence, None, qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_unsubscribe = self._on_unsubscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message  # only what bulk_client leaves to paho (QoS 2)
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
        if self.drain_only:
            if flags.session_present:
                self._session_found = True
                # Queued messages still come (MQTT 5 §3.10.4); the presence filter goes too.
                client.unsubscribe([self.subscription, presence_filter(group=self.group)])
            else:
                self.stop_soon(end_session=True)  # nothing to drain; do not create a session
            return
        if self.members:
            client.subscribe([(self.subscription, 1), (presence_filter(group=self.group), 0)])
            client.publish(self._presence, self.client_id.encode(), qos=1, retain=True)
        else:
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

    def _on_unsubscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        """A drain is ready once the dead id left the group: from now on only its queue comes."""
        with self._cond:
            self._unsubscribed = True
            self._last_add = time.monotonic()
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
        if self.drain_only and not self._stopping:
            self.stop_soon()  # taken over by the returning member, or lost: the session stays
        if reason_code.is_failure and not self._stopping:
            log.warning("bridge %s lost its connection: %s", self.client_id, reason_code)

    def _on_publishes(self, publishes: list[Publish]) -> None:
        """Parse one socket read's messages and add them to the batch being built, in order."""
        now = self._clock()
        ack_all = self.manual_ack
        topics = self._topics
        items: list[tuple[list[Reading], list[Reject], int]] = []
        append = items.append
        for raw_topic, payload, mid, qos in publishes:
            topic = topics.get(raw_topic)
            if topic is None:
                topic = self._topic_text(raw_topic)
            if topic.startswith(PRESENCE_ROOT):
                self._on_presence(topic, payload)
                continue
            try:
                readings, rejects = parse_message(topic, payload, now=now)
            except Exception:  # a parser bug must not kill paho's thread or lose the message
                readings, rejects = self._parser_failed(topic, payload)
            append((readings, rejects, mid if ack_all and qos else -1))
        if items:
            self._add_many(items, now)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        """Parse one message that paho delivered itself (QoS 2) and add it to the batch."""
        now = self._clock()
        topic = self._topic_text(bytes(message._topic))
        if topic.startswith(PRESENCE_ROOT):
            self._on_presence(topic, message.payload)
            return
        ack = -1
        if self.manual_ack and message.qos > 0:
            ack = message.mid if message.qos == 1 else QOS2_ACK_BASE + message.mid
        try:
            readings, rejects = parse_message(topic, message.payload, now=now)
        except Exception:
            readings, rejects = self._parser_failed(topic, message.payload)
        self._add_many([(readings, rejects, ack)], now)

    def _topic_text(self, raw: bytes) -> str:
        """Decode a topic once and remember it."""
        try:
            topic = raw.decode("utf-8")
        except UnicodeDecodeError:  # the broker should never let one through (MQTT 5 §1.5.4)
            topic = raw.decode("utf-8", "replace")
        if len(self._topics) >= 65_536:  # bounded: a flood of distinct topics cannot grow it
            self._topics.clear()
        self._topics[raw] = topic
        return topic

    def _on_presence(self, topic: str, payload: bytes) -> None:
        """Track the group's members (a drain sees these too: never ingest them)."""
        if self.members:
            member = topic.rsplit("/", 1)[-1]
            with self._cond:
                if payload:
                    self._online.add(member)
                else:
                    self._online.discard(member)
        # QoS 0 subscription: nothing to acknowledge

    @staticmethod
    def _parser_failed(topic: str, payload: bytes) -> tuple[list[Reading], list[Reject]]:
        """Turn a parser bug into a dead letter (logged), never a lost message."""
        log.exception("parser failed on a message on %s", topic)
        reject = Reject(
            topic, payload_text(payload), RejectReason.malformed.value, "internal parser error"
        )
        return [], [reject]

    # batching ----------------------------------------------------------------------------------

    def _add_many(self, items: list[tuple[list[Reading], list[Reject], int]], now: float) -> None:
        """Append messages' results in order, closing batches at `max_batch` (splitting if needed).

        An item is (readings, rejects, ack key or -1 when the message owes no acknowledgement).
        """
        limit = self.max_batch
        urgent = self._urgent_flags
        with self._cond:
            counters = self._counters
            for readings, rejects, ack in items:
                while (
                    len(self._ready) >= self.max_pending_batches
                    and not self._stopping
                    and not self._discarding
                ):
                    self._cond.wait(0.1)  # back-pressure: hold paho's thread for the sink
                if self._discarding:
                    return  # unacknowledged: the broker sends it again after the reconnect
                counters.messages += 1
                cur = self._current or self._open(now)
                hot_batch: _Pending | None = None
                if urgent is not None and readings:
                    flags = urgent(readings)  # once each, in order: the predicate has state
                    if True in flags:
                        hot_batch = self._urgent_current
                        if hot_batch is None or len(hot_batch.readings) < limit:
                            hot_batch = hot_batch or self._open_urgent(now)
                            hot_batch.readings += compress(readings, flags)
                            readings = [r for r, f in zip(readings, flags, strict=True) if not f]
                        else:
                            hot_batch = None  # the urgent lane is full: the bulk lane it is
                if rejects or len(cur.readings) + len(readings) > limit:
                    cur = self._add_split(cur, readings, rejects, now)
                elif readings:
                    cur.readings += readings
                elif hot_batch is None:
                    counters.ignored += 1
                if ack >= 0:
                    cur.acks.append(ack)  # on the batch holding the message's last reading
                    if hot_batch is not None and (
                        not cur.waits_for or cur.waits_for[-1] is not hot_batch
                    ):
                        cur.waits_for.append(hot_batch)  # the ack also vouches for those
                if len(cur.readings) >= limit or len(cur.rejects) >= limit:
                    self._close_current()
            if self.drain_only:
                self._last_add = time.monotonic()

    def _add_split(
        self, cur: _Pending, readings: list[Reading], rejects: list[Reject], now: float
    ) -> _Pending:
        """Append one message's results across as many batches as needed (lock held)."""
        cur = self._fill(cur, "readings", readings, now)
        return self._fill(cur, "rejects", rejects, now)

    def _fill(self, cur: _Pending, field: str, items: list[Any], now: float) -> _Pending:
        """Append ``items`` to the batches' ``field`` list, closing each batch as it fills."""
        limit = self.max_batch
        while len(getattr(cur, field)) + len(items) > limit:
            room = limit - len(getattr(cur, field))
            getattr(cur, field).extend(items[:room])
            items = items[room:]
            self._close_current()
            cur = self._open(now)
        getattr(cur, field).extend(items)
        return cur

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

    def _open_urgent(self, now: float) -> _Pending:
        """Start a new urgent batch (lock held) and wake the flusher: it goes at once."""
        batch = _Pending(
            received_at=now, deadline=time.monotonic(), generation=self._generation, urgent=True
        )
        self._urgent_current = batch
        self._cond.notify_all()
        return batch

    def _close_urgent(self) -> None:
        """Put the urgent batch being built ahead of the ready queue (lock held; shutdown)."""
        if self._urgent_current is not None:
            # Ahead of everything: later batches may carry the acks of its messages.
            self._ready.appendleft(self._urgent_current)
            self._urgent_current = None

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
                if self._failed:
                    self._failed = False
                    return _FAILED
                hot = self._urgent_current
                if hot is not None and not self._urgent_inflight:
                    # The urgent lane's one slot is free: its batch goes now, past the bulk
                    # lane's in-flight limit (readings that may raise an alert; module docstring).
                    self._urgent_current = None
                    self._busy = True
                    return hot
                if sum(not b.urgent for b in self._inflight) >= self.in_flight:
                    # Back-pressure, as while a plain sink is busy: the open batch keeps growing.
                    self._cond.wait(1.0)
                    continue
                if self._ready:
                    batch = self._ready.popleft()
                    self._busy = True
                    self._cond.notify_all()  # room for a producer held by back-pressure
                    return batch
                cur = self._current
                if cur is None:
                    timeout = 1.0
                else:
                    # A slot is free here (else the loop waited above). Adaptive: hand the batch
                    # over now, so a reading waits only for the batches ahead of it, and batches
                    # grow by themselves while the sink is busy (group commit).
                    deadline = cur.deadline
                    if self.adaptive:
                        deadline -= self.max_wait_s - self.min_wait_s
                    timeout = deadline - time.monotonic()
                    if timeout <= 0:
                        self._current = None
                        self._busy = True
                        return cur
                self._cond.wait(timeout)

    # delivery (the flusher thread) -------------------------------------------------------------

    def _deliver_until_stopped(self) -> None:
        """Hand batches to the sink, one at a time, until asked to stop."""
        backoff = 0.0
        while (batch := self._next_batch()) is not None:
            if batch is _FAILED:
                delivered = False
            elif self._async:
                delivered = self._submit(batch)
            else:
                delivered = self._deliver(batch)
            with self._cond:
                self._busy = False
            if delivered:
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
                self._call_sink(
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
                self._client.ack_many(batch.acks)  # one write for the whole batch
        return True

    def _submit(self, batch: _Pending) -> bool:
        """Hand a batch to the AsyncSink without waiting; False if sending it raised."""
        with self._cond:
            self._inflight.append(batch)
            if batch.urgent:
                self._urgent_inflight += 1
        if not (batch.readings or batch.rejects):
            self._settle(batch, None)  # acks only: still after the batches ahead of it
            return True
        out = Batch(
            batch_id=uuid.uuid4().hex,
            received_at=batch.received_at,
            readings=batch.readings,
            rejects=batch.rejects,
        )
        assert isinstance(self._sink, AsyncSink)
        try:
            with self._sink_lock:
                if batch.urgent:
                    self._sink.submit(out, lambda error: self._settle(batch, error), urgent=True)
                else:
                    self._sink.submit(out, lambda error: self._settle(batch, error))
        except Exception:
            log.exception("sink failed to take a batch of %d readings", len(batch.readings))
            with self._cond:
                self._counters.sink_errors += 1
                if batch in self._inflight:
                    self._inflight.remove(batch)
                    if batch.urgent:
                        self._urgent_inflight -= 1
            return False
        return True

    def _settle(self, batch: _Pending, error: BaseException | None) -> None:
        """Record the sink's verdict on a batch in flight; acknowledge what is now in order."""
        with self._ack_lock:
            with self._cond:
                if batch not in self._inflight:
                    return  # abandoned by a redelivery or a lost connection
                if error is not None:
                    log.warning("batch of %d readings not confirmed: %s", len(batch.readings),
                                error)  # fmt: skip
                    self._counters.sink_errors += 1
                    if self.manual_ack:
                        self._failed = True  # the flusher reconnects; the broker resends
                        self._cond.notify_all()
                        return
                    self._counters.dropped += len(batch.readings) + len(batch.rejects)
                else:
                    counters = self._counters
                    counters.readings += len(batch.readings)
                    counters.rejects += len(batch.rejects)
                    if batch.readings or batch.rejects:
                        counters.batches += 1
                    if batch.urgent:
                        counters.urgent += len(batch.readings)
                batch.done = True
                if batch.urgent:
                    self._urgent_inflight -= 1
                # MQTT 5 §4.6: PUBACKs in the order the PUBLISHes came, so a batch confirmed
                # early waits for the ones ahead of it, and for the urgent batches that hold
                # readings of its messages.
                acks: list[int] = []
                while (
                    self._inflight
                    and self._inflight[0].done
                    and all(u.done for u in self._inflight[0].waits_for)
                ):
                    head = self._inflight.popleft()
                    if head.generation == self._generation:
                        acks += head.acks
                self._cond.notify_all()  # a slot is free
            self._client.ack_many(acks)

    def _wait_inflight(self, timeout: float) -> None:
        """Wait until every batch in flight is settled (or one failed, or time is up)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._inflight and not self._failed:
                left = deadline - time.monotonic()
                if left <= 0:
                    log.warning("bridge %s: %d batches still unconfirmed at shutdown",
                                self.client_id, len(self._inflight))  # fmt: skip
                    return
                self._cond.wait(min(left, 0.1))
        # The confirmer that emptied the queue queues its PUBACKs just after, still under
        # _ack_lock: taking it here puts them ahead of the DISCONNECT that follows (else the
        # broker drops the session's last acks and redelivers readings already stored).
        with self._ack_lock:
            pass

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
            self._inflight.clear()  # their confirmations now mean nothing: all comes again
            self._urgent_current = None
            self._urgent_inflight = 0
            self._failed = False
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
        if self._watcher is not None:
            self._watcher.join()
        for drain in list(self._drains.values()):
            drain.stop()  # keep the dead member's session: the next heir drains the rest
        # The network thread keeps running while we drain, so that the acks go out on it, in
        # order, ahead of the DISCONNECT (which also wakes its select() at once).
        self._send_urgent_now()
        self._wait_inflight(SHUTDOWN_CONFIRM_S)
        with self._cond:
            self._close_current()
            self._close_urgent()
            pending = list(self._ready)
            self._ready.clear()
            end_session = self._end_session
        self._deliver_all(pending)
        props = None
        if end_session:
            # MQTT 5 §3.14.2.2.2: expiry 0 in DISCONNECT ends the session when we close.
            props = Properties(PacketTypes.DISCONNECT)
            props.SessionExpiryInterval = 0
        if self.members and not self.drain_only and self._client.is_connected():
            # Leaving on purpose: the others start counting towards a takeover now.
            self._client.publish(self._presence, None, qos=1, retain=True)
        self._client.disconnect(properties=props)
        self._client.loop_stop()
        self._subscribed.clear()
        with self._cond:
            self._close_current()
            self._close_urgent()
            stragglers = list(self._ready)
            self._ready.clear()
        # With manual ack, whatever arrived while we drained was never acknowledged: the broker
        # keeps it in the session for the next bridge with this client id, unless we just ended
        # that session. Without, paho has acknowledged it already, so it is delivered now or lost.
        if not self.manual_ack or end_session:
            self._deliver_all(stragglers)
        log.info("bridge %s stopped: %s", self.client_id, self.counters)

    def _send_urgent_now(self) -> None:
        """Send the urgent batch being built, slot or no slot (stopping: the flusher is gone).

        A batch in flight may carry acks that wait for it (`waits_for`): left unsent, they
        would hold `_wait_inflight` for its whole timeout and then go unacknowledged.
        """
        with self._cond:
            batch, self._urgent_current = self._urgent_current, None
            if batch is None or self._discarding or not self._inflight:
                if batch is not None:
                    self._ready.appendleft(batch)  # nothing waits for it in flight: sent below
                return
        if not self._submit(batch):
            with self._cond:
                self._failed = True  # what waits for it stays unacknowledged: redelivered
                self._cond.notify_all()

    def _deliver_all(self, batches: list[_Pending]) -> None:
        """Deliver batches in order while shutting down."""
        with self._cond:
            if self._inflight and self.manual_ack:
                return  # unconfirmed or failed ahead of these: their acks could not go out
        for batch in batches:
            if self._deliver(batch):
                continue
            if self.manual_ack:
                return  # the rest is unacknowledged too: the next session receives it again
            with self._cond:
                self._counters.dropped += len(batch.readings) + len(batch.rejects)

    # dead members (see the module docstring) --------------------------------------------------

    @property
    def _presence(self) -> str:
        return presence_topic(group=self.group, client_id=self.client_id)

    def _call_sink(self, batch: Batch) -> None:
        """Call the sink and wait, one call at a time across this bridge and its drains."""
        with self._sink_lock:
            if not isinstance(self._sink, AsyncSink):
                self._sink(batch)
                return
            settled = threading.Event()
            errors: list[BaseException | None] = []

            def on_done(error: BaseException | None) -> None:
                errors.append(error)
                settled.set()

            self._sink.submit(batch, on_done)
            settled.wait()
            if errors[0] is not None:
                raise errors[0]

    def _heir(self, member: str, online: set[str]) -> str:
        """Return the member that drains `member`: the next online one after it, cyclically."""
        i = self.members.index(member)
        n = len(self.members)
        for k in range(1, n):
            candidate = self.members[(i + k) % n]
            if candidate in online:
                return candidate
        return self.client_id

    def _drained(self) -> bool:
        """Tell whether a drain has received its whole queue and acknowledged all of it."""
        with self._cond:
            return (
                self._unsubscribed
                and self._current is None
                and not self._ready
                and not self._busy
                and not self._inflight
                and time.monotonic() - self._last_add >= DRAIN_IDLE_S
            )

    def _watch(self) -> None:
        """Drain the sessions of members that stayed offline for `takeover_after_s`."""
        offline_since: dict[str, float] = {}
        started_at: dict[str, float] = {}
        period = min(1.0, self.takeover_after_s / 4)
        while not self._stop_requested.wait(period):
            now = time.monotonic()
            for member, drain in list(self._drains.items()):
                stuck = (
                    not drain._unsubscribed and now - started_at[member] > DRAIN_CONNECT_TIMEOUT_S
                )
                if drain._done.is_set() or stuck:
                    drain.stop()
                    del self._drains[member]
                    offline_since[member] = now  # look again after another grace period
                elif drain._drained():
                    drain.stop(end_session=True)
                    del self._drains[member]
                    offline_since[member] = now
                    with self._cond:
                        self._counters.takeovers += 1
                    log.warning(
                        "bridge %s drained and ended the session of dead member %s: %s",
                        self.client_id, member, drain.counters,
                    )  # fmt: skip
            if not self.connected:
                continue  # cut off ourselves: our view of the others is stale
            with self._cond:
                online = self._online | {self.client_id}
            for member in self.members:
                if member in online:
                    offline_since.pop(member, None)
                    continue
                since = offline_since.setdefault(member, now)
                if (
                    now - since < self.takeover_after_s
                    or member in self._drains
                    or self._heir(member, online) != self.client_id
                ):
                    continue
                log.info("bridge %s: member %s offline, draining its session", self.client_id,
                         member)  # fmt: skip
                drain = Bridge(
                    url=self._url, sink=self._call_sink, group=self.group, client_id=member,
                    max_batch=self.max_batch, max_wait_s=self.max_wait_s,
                    adaptive=self.adaptive, min_wait_s=self.min_wait_s,
                    session_expiry_s=self.session_expiry_s, receive_maximum=self.receive_maximum,
                    max_pending_batches=self.max_pending_batches, keepalive_s=self.keepalive_s,
                    drain_only=True, clock=self._clock,
                )  # fmt: skip
                self._drains[member] = drain
                started_at[member] = now
                drain.start()

    # signals -------------------------------------------------------------------------------------

    def _request_stop(self) -> None:
        """Ask `run()` to finish (safe from a signal handler: the lock is re-entrant)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._stop_requested.set()

    def stop_soon(self, *, end_session: bool = False) -> None:
        """Ask `run()` to finish without waiting (safe from paho's callbacks)."""
        with self._cond:
            self._end_session = end_session
        self._request_stop()

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
