"""The topic grammar: sensor and gateway topics parse, our alerts are ignored, the rest is bad."""

from __future__ import annotations

import pytest

from shared.ingest.topics import (
    SENSOR_TYPES,
    SUBSCRIPTION,
    TopicInfo,
    alerts_topic,
    gateway_topic,
    parse_topic,
    sensor_topic,
    shared_subscription,
)
from shared.sensing.models import SensorType


@pytest.mark.parametrize("sensor_type", sorted(SENSOR_TYPES))
def test_sensor_topic_of_every_type(sensor_type: str) -> None:
    info = parse_topic(f"city/mitte-2/{sensor_type}/TD-0001.a_b")
    assert info == TopicInfo(
        kind="sensor", district="mitte-2", sensor_type=sensor_type, sensor_id="TD-0001.a_b"
    )


def test_sensor_types_mirror_the_model_enum() -> None:
    assert {t.value for t in SensorType} == SENSOR_TYPES


def test_gateway_topic() -> None:
    assert parse_topic("city/gateway/GW-7") == TopicInfo(kind="gateway", gateway_id="GW-7")


@pytest.mark.parametrize(
    "topic", ["city/alerts/mitte", "city/alerts", "city/alerts/mitte/extra/levels"]
)
def test_our_alerts_are_ignored(topic: str) -> None:
    assert parse_topic(topic) == TopicInfo(kind="ignored")


@pytest.mark.parametrize(
    "topic",
    [
        "",
        "city",
        "city/",
        "town/mitte/traffic/TD-1",
        "City/mitte/traffic/TD-1",
        "/city/mitte/traffic/TD-1",
        "city/mitte/traffic/TD-1/",
        "city/mitte/traffic",
        "city/mitte/traffic/TD-1/extra",
        "city/Mitte/traffic/TD-1",  # district is a lowercase slug
        "city/mit te/traffic/TD-1",
        "city/" + "d" * 33 + "/traffic/TD-1",  # district at most 32
        "city//traffic/TD-1",
        "city/mitte/spaceship/TD-1",  # unknown sensor type
        "city/mitte/Traffic/TD-1",
        "city/mitte/traffic/",
        "city/mitte/traffic/TD 1",
        "city/mitte/traffic/TD:1",
        "city/mitte/traffic/" + "x" * 65,  # sensor id at most 64
        "city/mitte/traffic/TD-ü",
        "city/gateway",
        "city/gateway/",
        "city/gateway/GW 1",
        "city/gateway/GW-1/extra",
        "city/gateway/traffic/TD-1",  # "gateway" is reserved, not a district
        "city/mitte/traffic/TD-1\n",
    ],
)
def test_topics_outside_the_grammar(topic: str) -> None:
    assert parse_topic(topic) is None


def test_limits_are_inclusive() -> None:
    district, sensor = "d" * 32, "S" * 64
    info = parse_topic(f"city/{district}/noise/{sensor}")
    assert info is not None
    assert (info.district, info.sensor_id) == (district, sensor)


def test_builders_round_trip() -> None:
    topic = sensor_topic(district="d1", sensor_type="weather", sensor_id="WS-1")
    assert topic == "city/d1/weather/WS-1"
    assert parse_topic(topic) == TopicInfo(
        kind="sensor", district="d1", sensor_type="weather", sensor_id="WS-1"
    )
    assert parse_topic(gateway_topic(gateway_id="GW-1")) == TopicInfo(
        kind="gateway", gateway_id="GW-1"
    )
    assert parse_topic(alerts_topic(district="d1")) == TopicInfo(kind="ignored")


def test_subscriptions() -> None:
    assert SUBSCRIPTION == "city/#"
    assert shared_subscription("ingest") == "$share/ingest/city/#"


@pytest.mark.parametrize("group", ["", "a/b", "a+", "#"])
def test_shared_subscription_refuses_bad_group_names(group: str) -> None:
    with pytest.raises(ValueError):
        shared_subscription(group)


def test_parse_is_memoised() -> None:
    topic = "city/d1/energy/EM-42"
    assert parse_topic(topic) is parse_topic(topic)
