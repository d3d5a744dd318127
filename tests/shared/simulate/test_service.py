"""The fleet from the database, the value models and the generated messages."""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from shared.sensing.catalogue import METRICS, METRICS_BY_TYPE
from shared.sensing.models import SensorType
from shared.simulate.service import (
    MALFORMED_KINDS,
    FaultOptions,
    SimSensor,
    SimStats,
    generate_messages,
    iso_ms,
    load_fleet,
    parse_faults,
    parse_rate,
    select_sensors,
)

TOPIC_RE = re.compile(r"city/([a-z]+)/(traffic|air_quality|noise|weather)/([A-Z]{2}-\d+)")
TS_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
# A Monday 00:00 UTC, so a run of a week covers every hour and weekday.
MONDAY = datetime(2026, 11, 23, tzinfo=UTC).timestamp()


@pytest.fixture(scope="module")
def fleet(engine: Engine) -> list[SimSensor]:
    with Session(engine) as session:
        return load_fleet(session=session)


def _by_code(fleet: list[SimSensor]) -> dict[str, SimSensor]:
    return {s.code: s for s in fleet}


def _resolve_senml(pack: list[dict[str, Any]]) -> Iterator[tuple[str, float, str, float]]:
    """Yield (name, time, unit, value) per record, applying base fields as RFC 8428 §4.6 says."""
    bn, bt = "", 0.0
    for rec in pack:
        bn = rec.get("bn", bn)
        bt = rec.get("bt", bt)
        yield bn + rec["n"], bt + rec.get("t", 0.0), rec["u"], rec["v"]


def test_load_fleet_reads_the_seeded_sensors(fleet: list[SimSensor]) -> None:
    assert len(fleet) == 70
    assert Counter(s.sensor_type for s in fleet) == {
        SensorType.traffic: 40,
        SensorType.air_quality: 12,
        SensorType.noise: 12,
        SensorType.weather: 6,
    }
    # Interleaved, so the first few sensors are a mix of every type.
    assert [s.sensor_type for s in fleet[:4]] == [
        SensorType.traffic,
        SensorType.air_quality,
        SensorType.noise,
        SensorType.weather,
    ]
    for s in fleet:
        assert s.metrics == METRICS_BY_TYPE[s.sensor_type]
        assert s.units == {m: METRICS[m].unit_symbol for m in s.metrics}
        assert s.district_code in {"nw", "n", "ne", "sw", "s", "se"}
        assert s.timezone == "Europe/Berlin"
        assert TOPIC_RE.fullmatch(s.topic)
    td = _by_code(fleet)["TD-0001"]
    assert td.properties["free_flow_kmh"] > 0
    assert td.properties["lanes"] >= 1


def test_select_sensors_takes_the_first_n_and_never_more_than_seeded(
    fleet: list[SimSensor],
) -> None:
    assert select_sensors(fleet=fleet, count=5) == fleet[:5]
    assert select_sensors(fleet=fleet, count=None) == fleet
    with pytest.raises(ValueError, match="seed"):
        select_sensors(fleet=fleet, count=len(fleet) + 1)
    with pytest.raises(ValueError):
        select_sensors(fleet=fleet, count=0)


@pytest.mark.parametrize(
    ("text", "per_s"),
    [("500/s", 500.0), ("30000/min", 500.0), ("500", 500.0), ("2.5/s", 2.5), ("7200/h", 2.0)],
)
def test_parse_rate(text: str, per_s: float) -> None:
    assert parse_rate(text) == pytest.approx(per_s)


@pytest.mark.parametrize("text", ["", "fast", "0/s", "-5/s", "5/day", "1e999"])
def test_parse_rate_refuses_nonsense(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rate(text)


def test_parse_faults() -> None:
    opts = parse_faults(
        "spike=0.01, spike_max=20, malformed=0.5, malformed_kinds=not_json+missing_ts"
    )
    assert (opts.spike_prob, opts.spike_max) == (0.01, 20)
    assert opts.malformed_kinds == ("not_json", "missing_ts")
    with pytest.raises(ValueError):
        parse_faults("nonsense=1")
    with pytest.raises(ValueError):
        parse_faults("spike=2")


def test_single_payloads_are_one_message_per_sensor_with_all_its_metrics(
    fleet: list[SimSensor],
) -> None:
    by_code = _by_code(fleet)
    start = 1_790_000_000.0
    rate = 100.0
    msgs = list(generate_messages(fleet=fleet, start=start, rate_per_s=rate, max_readings=500))
    readings = 0
    for i, (topic, payload) in enumerate(msgs):
        district, sensor_type, code = TOPIC_RE.fullmatch(topic).groups()  # type: ignore[union-attr]
        sensor = by_code[code]
        assert (district, sensor_type) == (sensor.district_code, sensor.sensor_type.value)
        body = orjson.loads(payload)
        assert TS_RE.fullmatch(body.pop("ts"))
        assert orjson.loads(payload)["ts"] == iso_ms(round((start + i / rate) * 1000))
        if i < len(msgs) - 1:
            assert tuple(body) == sensor.metrics  # all metrics, no extra keys
        assert all(isinstance(v, int | float) for v in body.values())
        readings += len(body)
    assert readings == 500  # the last message is cut to give exactly max_readings
    assert [t for t, _ in msgs[: len(fleet)]] == [s.topic for s in fleet]


def test_stamp_schedule_adds_the_scheduled_send_time(fleet: list[SimSensor]) -> None:
    msgs = generate_messages(fleet=fleet, start=1000.0, rate_per_s=4.0, stamp_schedule=True)
    for i, (_topic, payload) in zip(range(10), msgs, strict=False):
        assert orjson.loads(payload)["sched"] == pytest.approx(1000.0 + i / 4.0)


def test_senml_packs_carry_k_readings_with_names_and_catalogue_units(
    fleet: list[SimSensor],
) -> None:
    by_code = _by_code(fleet)
    start = 1_790_000_000.0
    stats = SimStats()
    msgs = list(
        generate_messages(
            fleet=fleet,
            start=start,
            rate_per_s=10.0,
            packed=100,
            max_readings=1234,
            stats=stats,
            gateways=3,
        )
    )
    assert [len(orjson.loads(p)) for _, p in msgs] == [100] * 12 + [34]
    assert {t for t, _ in msgs} == {
        "city/gateway/gw-01",
        "city/gateway/gw-02",
        "city/gateway/gw-03",
    }
    seen: Counter[str] = Counter()
    for i, (_topic, payload) in enumerate(msgs):
        pack = orjson.loads(payload)
        assert "bn" in pack[0]
        assert "bt" in pack[0]
        assert all("bt" not in rec for rec in pack[1:])  # one base time per pack
        for name, t, unit, value in _resolve_senml(pack):
            code, metric = name.split(":")
            sensor = by_code[code]
            assert metric in sensor.metrics
            assert unit == METRICS[metric].unit_symbol
            assert isinstance(value, int | float)
            assert start - 1 <= t <= start + i / 10.0 + 0.001
            seen[name] += 1
    assert sum(seen.values()) == stats.readings == 1234
    assert stats.messages == 13
    # Every reading of a sensor has its own time (unique per datastream and time).
    times: dict[str, set[float]] = defaultdict(set)
    for _topic, payload in msgs:
        for name, t, _unit, _value in _resolve_senml(orjson.loads(payload)):
            times[name].add(round(t, 3))
    assert all(len(times[name]) == n for name, n in seen.items())


def test_values_stay_in_the_valid_ranges_and_follow_the_day(fleet: list[SimSensor]) -> None:
    # Every sensor reports every 30 minutes for 8 days of simulated time.
    rate = len(fleet) / 1800.0
    values: dict[str, list[float]] = defaultdict(list)
    by_hour: dict[tuple[str, int], list[float]] = defaultdict(list)
    msgs = generate_messages(fleet=fleet, start=MONDAY, rate_per_s=rate, seed=7)
    for _ in range(len(fleet) * 48 * 8):
        _topic, payload = next(msgs)
        body = orjson.loads(payload)
        hour = (int(body.pop("ts")[11:13]) + 1) % 24  # Berlin is UTC+1 in November
        for metric, value in body.items():
            spec = METRICS[metric]
            assert spec.valid_min <= value <= spec.valid_max, (metric, value)
            values[metric].append(value)
            by_hour[(metric, hour)].append(value)

    def mean(metric: str, hours: range) -> float:
        return statistics.mean(v for h in hours for v in by_hour[(metric, h)])

    night, day = range(1, 5), range(8, 18)
    assert mean("vehicle_count", day) > 3 * mean("vehicle_count", night)
    assert mean("laeq", day) > mean("laeq", night) + 5  # dB
    assert mean("temperature", range(13, 17)) > mean("temperature", range(4, 7))
    assert mean("humidity", range(4, 7)) > mean("humidity", range(13, 17))
    assert mean("o3", range(13, 17)) > mean("o3", range(6, 9))
    assert 5 < statistics.mean(values["no2"]) < 40  # ppb: 24.45/46.0055 of the µg/m³ series
    assert len(set(values["speed"])) > 100  # real variation, not a constant


def test_malformed_messages_are_counted_one_per_kind_in_turn(fleet: list[SimSensor]) -> None:
    by_code = _by_code(fleet)
    stats = SimStats()
    faults = FaultOptions(malformed_prob=0.1, malformed_max=25)
    msgs = list(
        generate_messages(
            fleet=fleet,
            start=MONDAY,
            rate_per_s=100.0,
            faults=faults,
            max_readings=3000,
            stats=stats,
        )
    )
    found: Counter[str] = Counter()
    valid = 0
    for topic, payload in msgs:
        code = topic.rsplit("/", 1)[1]
        try:
            body = orjson.loads(payload)
        except orjson.JSONDecodeError:
            found["not_json"] += 1
            continue
        if "ts" not in body:
            found["missing_ts"] += 1
        elif code not in by_code:
            found["unknown_sensor"] += 1
        elif any(isinstance(v, str) for k, v in body.items() if k != "ts"):
            found["string_value"] += 1
        elif any(v > METRICS[k].valid_max for k, v in body.items() if k != "ts"):
            found["out_of_range"] += 1
        else:
            valid += len(body) - 1
    assert found == dict.fromkeys(MALFORMED_KINDS, 5)
    assert stats.invalid == 25
    assert {k: stats.faults[k] for k in MALFORMED_KINDS} == dict.fromkeys(MALFORMED_KINDS, 5)
    assert valid == stats.readings == 3000
    assert stats.messages == len(msgs)


def test_spikes_stuck_values_and_gaps_are_injected_and_counted(fleet: list[SimSensor]) -> None:
    stats = SimStats()
    faults = FaultOptions(
        spike_prob=0.02,
        spike_max=30,
        stuck_prob=0.02,
        stuck_len=3,
        stuck_max=12,
        gap_prob=0.02,
        gap_len=4,
        gap_max=20,
    )
    msgs = list(
        generate_messages(
            fleet=fleet,
            start=MONDAY,
            rate_per_s=50.0,
            faults=faults,
            max_readings=10_000,
            stats=stats,
        )
    )
    assert stats.faults == {"spike": 30, "stuck": 12, "gap": 20}
    assert stats.fault_readings["spike"] == 30
    assert stats.readings == 10_000
    assert stats.invalid == 0
    # Stuck reports repeat the sensor's previous values exactly; spikes stay in range.
    last: dict[str, dict[str, float]] = {}
    repeats = 0
    for topic, payload in msgs:
        body = orjson.loads(payload)
        body.pop("ts")
        for metric, value in body.items():
            assert METRICS[metric].valid_min <= value <= METRICS[metric].valid_max
        repeats += last.get(topic) == body
        last[topic] = body
    assert repeats >= 12
    # A gap skips reports, so a sensor appears fewer times than the round-robin gives it.
    rounds = Counter(topic for topic, _ in msgs)
    assert min(rounds.values()) < max(rounds.values())


def test_gaps_never_starve_the_generator(fleet: list[SimSensor]) -> None:
    stats = SimStats()
    msgs = generate_messages(
        fleet=fleet[:3],
        start=MONDAY,
        rate_per_s=10.0,
        faults=FaultOptions(gap_prob=1.0, gap_len=5),
        stats=stats,
    )
    assert len([next(msgs) for _ in range(100)]) == 100
    # Each sensor reports once after every gap of 5 reports.
    assert 500 <= stats.faults["gap"] <= 515


def test_generation_refuses_an_empty_fleet_or_a_bad_rate(fleet: list[SimSensor]) -> None:
    with pytest.raises(ValueError, match="seed"):
        next(generate_messages(fleet=[], start=0.0, rate_per_s=1.0))
    with pytest.raises(ValueError):
        next(generate_messages(fleet=fleet, start=0.0, rate_per_s=0.0))
    with pytest.raises(ValueError, match="per sensor"):
        next(generate_messages(fleet=fleet[:2], start=0.0, rate_per_s=5000.0))
    with pytest.raises(ValueError):
        FaultOptions(spike_prob=1.5)
