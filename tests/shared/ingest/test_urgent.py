"""Which readings take the urgent lane (those that may open, escalate or resolve an alert),
and the levels' trip through Redis."""

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


def test_a_reading_at_alert_level_is_urgent_whatever_came_before() -> None:
    urgent = UrgentLevels([HEAT])
    # No history needed: another bridge may have seen this sensor's previous readings.
    assert [urgent(r(v, ts=float(t))) for t, v in enumerate([20, 25, 33, 34, 39])] == [
        False, False, True, True, True,
    ]  # fmt: skip


def test_readings_just_after_an_alert_level_one_are_urgent_they_may_resolve_it() -> None:
    urgent = UrgentLevels([HEAT], sticky_s=5.0)
    assert urgent(r(39, ts=100.0))
    assert urgent(r(20, ts=101.0))  # may resolve it
    assert urgent(r(20, ts=104.0))  # within the window: it may be the first this bridge sees
    assert not urgent(r(20, ts=107.0))  # past the window, after a reading below the level
    assert not urgent(r(20, ts=108.0))
    assert urgent._hot == {}  # forgotten: only datastreams near alert level are held


def test_a_rarely_reporting_sensor_s_next_reading_is_urgent_even_after_the_window() -> None:
    urgent = UrgentLevels([HEAT], sticky_s=5.0)
    assert urgent(r(39, sensor="WX-08", ts=0.0))
    assert urgent(r(20, sensor="WX-08", ts=600.0))  # ten minutes later: it may resolve it
    assert not urgent(r(20, sensor="WX-08", ts=1200.0))


def test_states_are_per_sensor_and_metric_and_below_rules_work() -> None:
    urgent = UrgentLevels([HEAT, SLOW], sticky_s=0.5)
    assert urgent(r(40, sensor="WX-01"))
    assert not urgent(r(20, sensor="WX-02"))  # another sensor: nothing near alert level
    assert not urgent(r(50, sensor="TD-1", metric="speed", kind="traffic"))
    assert urgent(r(12, sensor="TD-1", metric="speed", kind="traffic"))  # below warning
    assert urgent(r(4, sensor="TD-1", metric="speed", kind="traffic", ts=1.0))  # critical
    assert urgent(r(30, sensor="TD-1", metric="speed", kind="traffic", ts=2.0))  # may clear
    assert not urgent(r(30, sensor="TD-1", metric="speed", kind="traffic", ts=3.0))


def test_sensor_type_must_match_unless_the_reading_has_none() -> None:
    urgent = UrgentLevels([HEAT])
    assert not urgent(r(45, sensor="X-1", kind="air_quality"))  # no such rule for that type
    assert urgent(r(45, sensor="GW-S1", kind=""))  # a SenML pack does not say: any type
    assert not urgent(r(45, sensor="X-2", metric="pm25"))  # no rule on the metric


def test_a_rule_with_only_a_critical_level() -> None:
    urgent = UrgentLevels([GUST], sticky_s=1.0)
    values = [(0, 10), (1, 20), (2, 25), (3, 12), (10, 12)]
    assert [urgent(r(v, metric="wind_speed", ts=float(t))) for t, v in values] == [
        False, False, True, True, False,
    ]  # fmt: skip


def test_new_levels_replace_the_old_ones_and_none_means_nothing_is_urgent() -> None:
    urgent = UrgentLevels()
    assert not urgent(r(99)) and urgent.count == 0
    urgent.set([HEAT, SLOW])
    assert urgent.count == 2
    assert urgent(r(99, sensor="WX-09"))
    urgent.set([])
    assert not urgent(r(99, sensor="WX-10"))
    assert not urgent(r(20, sensor="WX-09", ts=1.0))  # no rule on the metric any more


def test_the_remembered_states_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(urgent_module, "MAX_TRACKED", 3)
    urgent = UrgentLevels([HEAT])
    for i in range(10):
        assert urgent(r(40, sensor=f"WX-{i}"))
    assert len(urgent._hot) <= 3


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


def test_flags_over_a_message_s_readings_match_one_call_per_reading() -> None:
    # The bridge asks once per message (a SenML pack carries many datastreams); the state
    # machine must come out the same as reading by reading, in order, across messages.
    values = [20, 39, 25, 20, 33, 20, 20, 20, 20, 40, 10, 10, 10, 10, 10, 10]
    stream = [r(v, sensor=f"WX-0{t % 3}", ts=t * 2.0) for t, v in enumerate(values)]
    stream.insert(5, r(39, metric="humidity"))  # no rule on the metric: never urgent
    one, many = UrgentLevels([HEAT], sticky_s=5.0), UrgentLevels([HEAT], sticky_s=5.0)
    expected = [one(x) for x in stream]
    got = many.flags(stream[:4]) + many.flags(stream[4:11]) + many.flags(stream[11:])
    assert got == expected and True in got and got.count(False) >= 4
    assert many._hot == one._hot
