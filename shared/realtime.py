"""Live fan-out: Socket.IO events through Flask-SocketIO's Redis message queue, and MQTT alerts.

Any process (the worker, beat, a script) can emit: Flask-SocketIO's external-process mode
publishes to Redis, and every console process subscribed to the same queue delivers the event.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlparse

import orjson
import paho.mqtt.client as mqtt
from flask_socketio import SocketIO

from shared.alerts.schemas import AlertChange
from shared.service_requests.schemas import RequestQueueItem

GLOBAL_ROOM = "alerts:all"
# Staff consoles join this room; citizens' requests are not for any public client.
REQUESTS_ROOM = "requests:all"
# Staff consoles join this room: what the digital twin does (units it drives, plans it runs).
TWIN_ROOM = "twin:all"


def district_room(district_id: int | None) -> str:
    """Return the Socket.IO room for a district's alerts."""
    return f"district:{district_id if district_id is not None else 'none'}"


def alert_topic(district_code: str) -> str:
    """Return the MQTT topic alerts of a district are published on."""
    return f"city/alerts/{district_code or 'city'}"


class Fanout:
    """Emits alert changes to Socket.IO rooms and MQTT; one per process, connected lazily."""

    def __init__(self, *, redis_url: str, mqtt_url: str | None) -> None:
        self._redis_url = redis_url
        self._mqtt_url = mqtt_url
        self._sio: SocketIO | None = None
        self._mqtt: mqtt.Client | None = None
        self._lock = threading.Lock()

    def _socketio(self) -> SocketIO:
        if self._sio is None:
            # threading mode: with auto-detection Flask-SocketIO would pick eventlet if present.
            self._sio = SocketIO(message_queue=self._redis_url, async_mode="threading")
        return self._sio

    def _mqtt_client(self) -> mqtt.Client | None:
        if self._mqtt is None and self._mqtt_url:
            url = urlparse(self._mqtt_url)
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
            client.connect(url.hostname or "127.0.0.1", url.port or 1883)
            client.loop_start()
            self._mqtt = client
        return self._mqtt

    def connect(self) -> None:
        """Set up Socket.IO's message queue and connect to MQTT now, not at the first alert."""
        with self._lock:
            self._socketio()
            self._mqtt_client()

    def emit(self, changes: list[AlertChange]) -> None:
        """Send each change to its district room, the global room and the MQTT alert topic."""
        if not changes:
            return
        with self._lock:
            sio = self._socketio()
            client = self._mqtt_client()
        for change in changes:
            payload: dict[str, Any] = change.model_dump(mode="json")
            sio.emit(change.event, payload, to=district_room(change.alert.district_id))
            sio.emit(change.event, payload, to=GLOBAL_ROOM)
            if client is not None:
                client.publish(
                    alert_topic(change.alert.district_code), orjson.dumps(payload), qos=1
                )

    def emit_request(self, event: str, item: RequestQueueItem) -> None:
        """Send a service-request event (created/updated) to the consoles' request room."""
        with self._lock:
            sio = self._socketio()
        sio.emit(event, item.model_dump(mode="json"), to=REQUESTS_ROOM)

    def emit_event(self, event: str, payload: dict[str, Any], *, room: str) -> None:
        """Send one JSON-ready event to one Socket.IO room."""
        with self._lock:
            sio = self._socketio()
        sio.emit(event, payload, to=room)

    def close(self) -> None:
        """Disconnect from MQTT."""
        if self._mqtt is not None:
            self._mqtt.loop_stop()
            self._mqtt.disconnect()
            self._mqtt = None
