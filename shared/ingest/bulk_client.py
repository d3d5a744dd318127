"""A paho client that receives PUBLISHes in bulk and sends many PUBACKs in one write.

Why not plain paho: measured with `bench.ingest.bridge_cpu` (a bridge fed bursts of
single-reading QoS 1 messages; bench/ingest/README.md, 2026-12-02 evening), paho-mqtt 2.2's
receive path, not our parsing, is where a bridge's CPU goes. Per message paho does a select()
and three recv() calls (the fixed header byte, the remaining length byte by byte, the rest),
builds a Properties object and an MQTTMessage, formats a DEBUG log call, runs the topic matcher
under the callback mutex; and each `Client.ack()` is one 4-byte send() plus one send() on the
wake-up socket pair, then a separate select() round in the network thread. Under cProfile our
own callback (topic, msgspec decode, batching) was about 1/8 of the network thread's time.

What changes: only the read path and the acknowledgements. `_packet_read` reads whatever the
socket holds (up to `RECV_SIZE`), splits it into packets, and hands every QoS 0/1 PUBLISH of
that read to `on_publishes` in one call, as `(topic, payload, mid, qos)` tuples of bytes/ints,
in order. Every other packet (CONNACK, SUBACK, UNSUBACK, PUBACK of our own publishes, PINGRESP,
DISCONNECT, a QoS 2 PUBLISH) is given to paho's own handler, after the PUBLISHes before it, so
ordering and paho's state machine are unchanged. `ack_many` queues the PUBACKs of many messages
as one packet buffer: one send() instead of two per message. Connecting, the session and its
properties, SUBSCRIBE, the Will, keep-alive, reconnects, our own publishes and DISCONNECT with
properties all stay paho's.

This overrides private parts of paho-mqtt 2.2 (`_packet_read`, `_in_packet`, `_packet_handle`,
`_packet_queue`, `_sock_recv`, `_msgtime_mutex`, `_last_bytes_received`): pyproject pins
`paho-mqtt==2.2.0` and tests/shared/ingest/test_bulk_client.py runs it against Mosquitto.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Sequence

import paho.mqtt.client as mqtt
from paho.mqtt.client import MQTTErrorCode
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.exception import MalformedPacket

log = logging.getLogger(__name__)

RECV_SIZE = 1 << 18  # bytes per recv(): about 2,000 single-reading messages
PUBLISH = 0x30
PUBACK = 0x40
PUBCOMP = 0x70
QOS2_ACK_BASE = 1 << 16  # ack keys: mid for a QoS 1 PUBACK, QOS2_ACK_BASE + mid for a PUBCOMP

# An acknowledgement is 4 bytes: type, remaining length 2, packet id (MQTT 5 §3.4.2.1: a PUBACK
# with reason Success and no properties may omit both), i.e. one big-endian 32-bit word.
_PUBACK_WORD = (PUBACK << 24) | (2 << 16)
_PUBCOMP_WORD = (PUBCOMP << 24) | (2 << 16)

Publish = tuple[bytes, bytes, int, int]  # topic (raw UTF-8), payload, packet id, QoS
OnPublishes = Callable[[list[Publish]], None]


class BulkReceiveClient(mqtt.Client):
    """paho's Client with a bulk receive path for PUBLISH and batched acknowledgements."""

    def __init__(self, *args: object, on_publishes: OnPublishes, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.on_publishes = on_publishes
        self._rx = bytearray()
        self._rx_sock: object = None  # the socket `_rx` belongs to
        self._v5 = self._protocol == MQTTProtocolVersion.MQTTv5

    def ack_many(self, keys: Sequence[int]) -> None:
        """Queue the acknowledgements of many messages, in order, as one write.

        A key is a QoS 1 message's packet id (PUBACK), or QOS2_ACK_BASE + id (PUBCOMP).
        """
        if not keys:
            return
        if max(keys) < QOS2_ACK_BASE:
            words = [_PUBACK_WORD | k for k in keys]
        else:
            words = [_PUBACK_WORD | k if k < QOS2_ACK_BASE else _PUBCOMP_WORD | (k - QOS2_ACK_BASE)
                     for k in keys]  # fmt: skip
        self._packet_queue(PUBACK, struct.pack(f"!{len(words)}I", *words), 0, 0)

    def _packet_read(self) -> MQTTErrorCode:
        """Read what the socket holds; hand over its PUBLISHes in bulk, the rest to paho."""
        sock = self._sock
        if sock is not self._rx_sock:  # a new connection: bytes of the old one mean nothing
            self._rx = bytearray()
            self._rx_sock = sock
        try:
            data = self._sock_recv(RECV_SIZE)
        except BlockingIOError:
            return MQTTErrorCode.MQTT_ERR_AGAIN
        except OSError as err:
            self._easy_log(mqtt.MQTT_LOG_ERR, "failed to receive on socket: %s", err)
            return MQTTErrorCode.MQTT_ERR_CONN_LOST
        if not data:
            return MQTTErrorCode.MQTT_ERR_CONN_LOST
        with self._msgtime_mutex:
            self._last_bytes_received = mqtt.time_func()
        buf = self._rx
        if buf:
            buf += data
        else:
            buf = data  # type: ignore[assignment]  # the common case: no partial packet left
        end = len(buf)
        pos = 0
        v5 = self._v5
        batch: list[Publish] = []
        append = batch.append
        rc = MQTTErrorCode.MQTT_ERR_SUCCESS
        while end - pos >= 2:
            header = buf[pos]
            # Remaining length (MQTT 5 §1.5.5): at most 4 bytes of 7 bits each.
            length = 0
            shift = 0
            i = pos + 1
            complete = False
            while i < end:
                byte = buf[i]
                i += 1
                length |= (byte & 0x7F) << shift
                if not byte & 0x80:
                    complete = True
                    break
                shift += 7
                if shift > 21:
                    return MQTTErrorCode.MQTT_ERR_PROTOCOL
            if not complete:
                break  # the remaining length itself is not all here yet
            body = i
            nxt = body + length
            if nxt > end:
                break  # wait for the rest of this packet
            qos = (header >> 1) & 3
            if header & 0xF0 == PUBLISH and qos < 2:
                if length < 2:
                    return MQTTErrorCode.MQTT_ERR_PROTOCOL
                tlen = (buf[body] << 8) | buf[body + 1]
                p = body + 2 + tlen
                topic = bytes(buf[body + 2 : p])
                mid = 0
                if qos:
                    if p + 2 > nxt:
                        return MQTTErrorCode.MQTT_ERR_PROTOCOL
                    mid = (buf[p] << 8) | buf[p + 1]
                    p += 2
                if v5:  # skip the properties (none matters to us; we allow no topic aliases)
                    plen = 0
                    shift = 0
                    while True:
                        if p >= nxt or shift > 21:
                            return MQTTErrorCode.MQTT_ERR_PROTOCOL
                        byte = buf[p]
                        p += 1
                        plen |= (byte & 0x7F) << shift
                        if not byte & 0x80:
                            break
                        shift += 7
                    p += plen
                if p > nxt:
                    return MQTTErrorCode.MQTT_ERR_PROTOCOL
                append((topic, bytes(buf[p:nxt]), mid, qos))
                pos = nxt
                continue
            # Anything else: paho's own handling, after the PUBLISHes that came before it.
            if batch:
                self._hand_over(batch)
                batch = []
                append = batch.append
            self._in_packet = {
                "command": header,
                "have_remaining": 1,
                "remaining_count": [],
                "remaining_mult": 1,
                "remaining_length": length,
                "packet": bytearray(buf[body:nxt]),
                "to_process": 0,
                "pos": 0,
            }
            pos = nxt
            try:
                rc = self._packet_handle()
            except MalformedPacket as exc:
                self._easy_log(mqtt.MQTT_LOG_DEBUG, "Received malformed packet: %s", exc)
                rc = MQTTErrorCode.MQTT_ERR_PROTOCOL
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or self._sock is not sock:
                break  # paho closed or is closing the connection: stop reading from it
        if batch:
            self._hand_over(batch)
        if self._sock is sock:
            self._rx = bytearray(buf[pos:]) if pos < end else bytearray()
        else:
            self._rx = bytearray()
        return rc

    def _hand_over(self, batch: list[Publish]) -> None:
        """Give one read's PUBLISHes to the callback; without manual ack, acknowledge them."""
        try:
            self.on_publishes(batch)
        except Exception:
            # As paho does with on_message (suppress_exceptions): never kill the network thread.
            log.exception("on_publishes failed for %d messages", len(batch))
            if not self.suppress_exceptions:
                raise
        if not self._manual_ack:
            self.ack_many([m for _t, _p, m, q in batch if q == 1])
