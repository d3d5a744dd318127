"""Baseline (a), the seed's design: one INSERT + commit per reading, from a paho subscriber.

It subscribes to `city/#` (QoS 1), parses each single-reading JSON message with the stdlib,
resolves the datastream from a dict loaded once, and stores every reading with its own INSERT
and COMMIT into the same `observation` table (ON CONFLICT DO NOTHING). No validation, no dead
letters, no alert rules: it does strictly less than our pipeline per reading.

Run as `python -m bench.ingest.seed_design DATABASE_URL MQTT_HOST MQTT_PORT`.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

INSERT = (
    "INSERT INTO observation (datastream_id, phenomenon_time, result) VALUES (%s, %s, %s) "
    "ON CONFLICT DO NOTHING"
)


def main() -> None:
    db_url, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    conn = psycopg.connect(db_url)
    ids = {
        (code, metric): ds
        for ds, code, metric in conn.execute(
            "SELECT d.id, t.code, p.code FROM datastream d JOIN thing t ON t.id = d.thing_id "
            "JOIN observed_property p ON p.id = d.observed_property_id"
        )
    }
    conn.commit()
    stop = threading.Event()

    def on_message(client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        code = msg.topic.rsplit("/", 1)[-1]
        try:
            body = json.loads(msg.payload)
        except ValueError:
            return
        if not isinstance(body, dict):
            return
        ts = body.pop("ts", None)
        if not isinstance(ts, (int, float)):
            return
        when = datetime.fromtimestamp(ts, UTC)
        for metric, value in body.items():
            ds = ids.get((code, metric))
            if ds is not None:
                conn.execute(INSERT, (ds, when, value))
                conn.commit()  # the seed's design: one transaction per reading

    def on_connect(client: mqtt.Client, *_a: Any) -> None:
        client.subscribe("city/#", qos=1)

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-seed-design")
    client.on_message = on_message
    client.on_connect = on_connect
    client.connect(host, port)
    signal.signal(signal.SIGTERM, lambda *_a: stop.set())
    client.loop_start()
    print("ready", flush=True)
    stop.wait()
    client.loop_stop()
    client.disconnect()
    conn.close()


if __name__ == "__main__":
    main()
