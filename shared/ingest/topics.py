"""The MQTT topic grammar of the city: what sensors and gateways publish, and what we publish.

    city/<district>/<sensor_type>/<sensor_id>   one sensor (a JSON reading or a SenML pack)
    city/gateway/<gateway_id>                    a gateway's SenML pack covering many sensors
    city/alerts/<district>[/...]                 alerts published BY US: ignored, not rejected
    smartcity/bridges/<group>/<client_id>        a bridge's retained presence (see the bridge)

Pure and dependency-free: the bridge imports it, and so may tests and simulators.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

ROOT = "city"
SUBSCRIPTION = "city/#"
GATEWAY_SEGMENT = "gateway"
ALERTS_SEGMENT = "alerts"

# Mirrors shared.sensing.models.SensorType (a test keeps them equal); not imported from there so
# that the bridge does not pull in SQLAlchemy.
SENSOR_TYPES: frozenset[str] = frozenset(
    {"traffic", "air_quality", "noise", "weather", "energy", "infrastructure"}
)

DISTRICT_RE = re.compile(r"[a-z0-9_-]{1,32}")
SENSOR_ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")

TopicKind = Literal["sensor", "gateway", "ignored"]


@dataclass(frozen=True, slots=True)
class TopicInfo:
    """What a topic says about its payload; empty strings where the kind has no such segment."""

    kind: TopicKind
    district: str = ""
    sensor_type: str = ""
    sensor_id: str = ""
    gateway_id: str = ""


_IGNORED = TopicInfo(kind="ignored")


@lru_cache(maxsize=65_536)
def parse_topic(topic: str) -> TopicInfo | None:
    """Classify a topic; None means it is outside the grammar (a bad_topic reject)."""
    # Cached: a city has a fixed set of sensors, so the same few thousand topics repeat forever.
    parts = topic.split("/")
    if len(parts) < 2 or parts[0] != ROOT:
        return None
    second = parts[1]
    if second == ALERTS_SEGMENT:
        # Our own alert stream (city/alerts/<district>) comes back through `city/#`.
        return _IGNORED
    if len(parts) == 3 and second == GATEWAY_SEGMENT:
        return TopicInfo(kind="gateway", gateway_id=parts[2]) if _is_id(parts[2]) else None
    if len(parts) != 4:
        return None
    district, sensor_type, sensor_id = parts[1], parts[2], parts[3]
    if (
        district == GATEWAY_SEGMENT
        or DISTRICT_RE.fullmatch(district) is None
        or sensor_type not in SENSOR_TYPES
        or not _is_id(sensor_id)
    ):
        return None
    return TopicInfo(kind="sensor", district=district, sensor_type=sensor_type, sensor_id=sensor_id)


def _is_id(segment: str) -> bool:
    """Tell whether a segment is a valid sensor or gateway id."""
    return SENSOR_ID_RE.fullmatch(segment) is not None


def sensor_topic(*, district: str, sensor_type: str, sensor_id: str) -> str:
    """Return the topic a sensor publishes on."""
    return f"{ROOT}/{district}/{sensor_type}/{sensor_id}"


def gateway_topic(*, gateway_id: str) -> str:
    """Return the topic a gateway publishes its SenML packs on."""
    return f"{ROOT}/{GATEWAY_SEGMENT}/{gateway_id}"


def alerts_topic(*, district: str) -> str:
    """Return the topic our alerts for a district are published on."""
    return f"{ROOT}/{ALERTS_SEGMENT}/{district}"


def shared_subscription(group: str) -> str:
    """Return the MQTT 5 shared subscription that splits `city/#` across a group of bridges."""
    # MQTT 5.0 §4.8.2: a ShareName must not contain "/", "+" or "#".
    if not group or any(c in group for c in "/+#"):
        raise ValueError(f"invalid shared-subscription group name: {group!r}")
    return f"$share/{group}/{SUBSCRIPTION}"


PRESENCE_ROOT = "smartcity/bridges"  # outside city/#, so bridges never ingest it


def presence_topic(*, group: str, client_id: str) -> str:
    """Return the retained topic on which a bridge of `group` says it is online."""
    return f"{PRESENCE_ROOT}/{group}/{client_id}"


def presence_filter(*, group: str) -> str:
    """Return the filter matching the presence topics of every bridge in `group`."""
    return f"{PRESENCE_ROOT}/{group}/+"
