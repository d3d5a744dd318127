"""Which readings take the urgent lane (those that would change an alert), and the levels'
trip through Redis."""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from shared.ingest import urgent as urgent_module
from shared.ingest.schemas import Reading
from shared.ingest.urgent import (
    URGENT_LEVELS_KEY,
    RedisUrgentLevels,
    UrgentLevel,
    UrgentLevels,
    levels_encoder,
)
from shared.stack import StackState

HEAT = UrgentLevel("weather", "temperature", True, warning=32.0, critical=38.0, hysteresis=1.0)
SLOW = UrgentLevel("traffic", "speed", above=False, warning=15.0, critical=5.0)
GUST = UrgentLevel("weather", "wind_speed", above=True, warning=None, critical=24.5)


def r(value: float, *, sensor: str = "WX-01", metric: str = "temperature", kind: str = "weather",
      ts: float = 0.0) -> Reading:  # fmt: skip
    return Reading(sensor, metric, ts, value, sensor_type=kind)


def test_a_reading_is_urgent_when_it_would_open_escalate_or_resolve_an_alert() -> None:
    urgent = UrgentLevels([HEAT])
    values = [20, 25, 33, 34, 38, 39, 37, 31, 30.9, 20]
    # opens (33), escalates (38), stays critical below 38 (alerts never de-escalate), does not
    # clear at 31 (32 - 1 hysteresis, as RuleSpec.clears), resolves at 30.9
    assert [urgent(r(v)) for v in values] == [
        False, False, True, False, True, False, False, False, True, False,
    ]  # fmt: skip


def test_a_value_hovering_around_a_level_is_urgent_once() -> None:
    urgent = UrgentLevels([HEAT])
    values = [31.5, 32.5, 31.5, 32.5, 31.2, 32.0]
    assert [urgent(r(v, sensor="WX-07")) for v in values] == [
        False, True, False, False, False, False,
    ]  # fmt: skip


def test_states_are_per_sensor_and_metric_and_below_rules_work() -> None:
    urgent = UrgentLevels([HEAT, SLOW])
    assert urgent(r(40, sensor="WX-01"))  # first sighting: from ok
    assert urgent(r(40, sensor="WX-02"))  # another sensor has its own state
    assert not urgent(r(40, sensor="WX-01"))
    assert not urgent(r(50, sensor="TD-1", metric="speed", kind="traffic"))
    assert urgent(r(12, sensor="TD-1", metric="speed", kind="traffic"))  # below warning
    assert urgent(r(4, sensor="TD-1", metric="speed", kind="traffic"))  # below critical
    assert urgent(r(30, sensor="TD-1", metric="speed", kind="traffic"))  # cleared


def test_sensor_type_must_match_unless_the_reading_has_none() -> None:
    urgent = UrgentLevels([HEAT])
    assert not urgent(r(45, sensor="X-1", kind="air_quality"))  # no such rule for that type
    assert urgent(r(45, sensor="GW-S1", kind=""))  # a SenML pack does not say: any type
    assert not urgent(r(45, sensor="X-2", metric="pm25"))  # no rule on the metric


def test_a_rule_with_only_a_critical_level() -> None:
    urgent = UrgentLevels([GUST])
    assert [urgent(r(v, metric="wind_speed")) for v in (10, 20, 25, 30, 12)] == [
        False, False, True, False, True,
    ]  # fmt: skip


def test_new_levels_replace_the_old_ones_and_none_means_nothing_is_urgent() -> None:
    urgent = UrgentLevels()
    assert not urgent(r(99)) and urgent.count == 0
    urgent.set([HEAT, SLOW])
    assert urgent.count == 2
    assert urgent(r(99, sensor="WX-09"))
    urgent.set([])
    assert not urgent(r(99, sensor="WX-10"))


def test_the_remembered_states_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(urgent_module, "MAX_TRACKED", 3)
    urgent = UrgentLevels([HEAT])
    for i in range(10):
        urgent(r(20, sensor=f"WX-{i}"))
    assert len(urgent._states) <= 3


@pytest.mark.stack
def test_a_bridge_reads_the_levels_a_worker_wrote(stack: StackState) -> None:
    db = stack.redis_url.rsplit("/", 1)[0] + "/8"  # a database of this test's own
    client = redis.Redis.from_url(db)
    client.delete(URGENT_LEVELS_KEY)
    levels = RedisUrgentLevels(db, refresh_s=0.05)
    try:
        assert levels.wait_loaded(5)
        assert levels.count == 0  # no worker wrote any: nothing is urgent
        client.set(URGENT_LEVELS_KEY, levels_encoder.encode([HEAT, SLOW]), ex=60)
        deadline = time.monotonic() + 5
        while levels.count != 2:
            assert time.monotonic() < deadline, "levels not picked up"
            time.sleep(0.02)
        assert levels(r(40, sensor=f"WX-{uuid.uuid4().hex[:6]}"))
        client.set(URGENT_LEVELS_KEY, b"not json")  # unreadable: the lane closes, no crash
        deadline = time.monotonic() + 5
        while levels.count != 0:
            assert time.monotonic() < deadline, "unreadable levels were kept"
            time.sleep(0.02)
    finally:
        levels.close()
        client.delete(URGENT_LEVELS_KEY)
