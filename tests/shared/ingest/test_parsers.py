"""Payload parsing: single JSON readings, SenML packs (RFC 8428) and every reject we produce."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import pytest

from shared.ingest.parsers import MAX_REJECT_PAYLOAD, parse_message, payload_text
from shared.ingest.schemas import Batch, Reading, Reject, RejectReason, batch_decoder, batch_encoder

NOW = 1_795_341_600.0  # 2026-11-22T10:00:00Z
T0 = "2026-11-22T10:00:00Z"
SENSOR = "city/mitte/traffic/TD-0001"
GATEWAY = "city/gateway/GW-1"

MALFORMED = RejectReason.malformed
BAD_TOPIC = RejectReason.bad_topic
BAD_TIMESTAMP = RejectReason.bad_timestamp
BAD_VALUE = RejectReason.bad_value


def parse(topic: str, payload: object | bytes) -> tuple[list[Reading], list[Reject]]:
    """Parse a payload given as bytes or as a JSON-able object."""
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return parse_message(topic, raw, now=NOW)


def reasons(rejects: list[Reject]) -> list[str]:
    return [r.reason for r in rejects]


def only_reject(topic: str, payload: object | bytes) -> Reject:
    readings, rejects = parse(topic, payload)
    assert readings == []
    assert len(rejects) == 1, rejects
    return rejects[0]


# --------------------------------------------------------------------------------------------
# single JSON readings


def test_single_reading_with_several_metrics() -> None:
    readings, rejects = parse(SENSOR, {"ts": T0, "speed": 42.5, "vehicle_count": 12})
    assert rejects == []
    assert readings == [
        Reading("TD-0001", "speed", NOW, 42.5, "", "mitte", "traffic"),
        Reading("TD-0001", "vehicle_count", NOW, 12.0, "", "mitte", "traffic"),
    ]
    assert all(type(r.value) is float and type(r.ts) is float for r in readings)


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (T0, NOW),
        ("2026-11-22T11:00:00+01:00", NOW),
        ("2026-11-22T05:30:00-04:30", NOW),
        ("2026-11-22T10:00:00.250Z", NOW + 0.25),
        ("2026-11-22T10:00:00.123456+00:00", NOW + 0.123456),
        ("2026-11-22 10:00:00Z", NOW),
        ("20261122T100000Z", NOW),  # ISO 8601 basic format
        (NOW, NOW),
        (int(NOW), NOW),
        (NOW + 0.5, NOW + 0.5),
        (0, 0.0),  # no range checks here: the worker rejects it as too old
    ],
)
def test_timestamps_become_epoch_seconds_utc(ts: object, expected: float) -> None:
    readings, rejects = parse(SENSOR, {"ts": ts, "speed": 1})
    assert rejects == []
    assert readings[0].ts == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    ("ts", "detail"),
    [
        (None, "ts: expected an ISO 8601 string or epoch seconds, got null"),
        (True, "ts: expected an ISO 8601 string or epoch seconds, got boolean"),
        ({"t": 1}, "ts: expected an ISO 8601 string or epoch seconds, got object"),
        ([NOW], "ts: expected an ISO 8601 string or epoch seconds, got array"),
        ("yesterday", "ts: not an ISO 8601 date-time: 'yesterday'"),
        ("", "ts: not an ISO 8601 date-time: ''"),
        ("1795341600", "ts: not an ISO 8601 date-time: '1795341600'"),
        ("2026-13-01T00:00:00Z", "ts: not an ISO 8601 date-time: '2026-13-01T00:00:00Z'"),
        ("2026-11-22T10:00:00", "ts: no UTC offset (add Z or +hh:mm): '2026-11-22T10:00:00'"),
        ("2026-11-22", "ts: no UTC offset (add Z or +hh:mm): '2026-11-22'"),
        (1e300, "ts: not an epoch time in the years 1-9999: 1e+300"),
        (-1e12, "ts: not an epoch time in the years 1-9999: -1000000000000.0"),
    ],
)
def test_bad_timestamps_reject_the_message(ts: object, detail: str) -> None:
    reject = only_reject(SENSOR, {"ts": ts, "speed": 1, "occupancy": 2})
    assert (reject.reason, reject.detail) == (BAD_TIMESTAMP, detail)
    assert reject.topic == SENSOR
    assert json.loads(reject.payload)["speed"] == 1


def test_missing_timestamp() -> None:
    reject = only_reject(SENSOR, {"speed": 1})
    assert (reject.reason, reject.detail) == (BAD_TIMESTAMP, "ts: missing")


@pytest.mark.parametrize("raw", [b'{"ts": NaN, "speed": 1}', b'{"ts": Infinity, "speed": 1}'])
def test_non_finite_epoch_timestamp(raw: bytes) -> None:
    assert only_reject(SENSOR, raw).reason == BAD_TIMESTAMP


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b"true", "metric 'bad': expected a number, got boolean"),
        (b'"12"', "metric 'bad': expected a number, got string"),
        (b"null", "metric 'bad': expected a number, got null"),
        (b"[1]", "metric 'bad': expected a number, got array"),
        (b'{"v": 1}', "metric 'bad': expected a number, got object"),
        (b"NaN", "metric 'bad': not a finite number: nan"),
        (b"Infinity", "metric 'bad': not a finite number: inf"),
        (b"-Infinity", "metric 'bad': not a finite number: -inf"),
        (b"1e999", "metric 'bad': not a finite number: inf"),
        (b"1" * 400, "metric 'bad': integer too large for a double"),
        (b"9" * 5000, "metric 'bad': not a finite number: inf"),
    ],
)
def test_a_bad_value_rejects_only_its_metric(raw: bytes, detail: str) -> None:
    payload = b'{"ts": "' + T0.encode() + b'", "speed": 50, "bad": ' + raw + b', "occupancy": 7}'
    readings, rejects = parse(SENSOR, payload)
    assert [(r.metric, r.value) for r in readings] == [("speed", 50.0), ("occupancy", 7.0)]
    assert len(rejects) == 1
    assert (rejects[0].reason, rejects[0].detail) == (BAD_VALUE, detail)
    assert rejects[0].payload == payload_text(payload)


@pytest.mark.parametrize("metric", ["PM25", "pm2.5", "no-2", "", "m" * 65, "läq", "a b"])
def test_bad_metric_names(metric: str) -> None:
    readings, rejects = parse(SENSOR, {"ts": T0, metric: 1, "speed": 2})
    assert [r.metric for r in readings] == ["speed"]
    assert reasons(rejects) == [MALFORMED]
    assert rejects[0].detail == f"metric {metric!r}: bad metric name"


def test_metric_name_limits() -> None:
    readings, _ = parse(SENSOR, {"ts": T0, "m" * 64: 1, "pm2_5": 2, "0": 3})
    assert [r.metric for r in readings] == ["m" * 64, "pm2_5", "0"]


@pytest.mark.parametrize("payload", [{"ts": T0}, {}])
def test_no_metrics(payload: object) -> None:
    reject = only_reject(SENSOR, payload)
    assert (reject.reason, reject.detail) == (MALFORMED, "no metrics besides ts")


def test_single_reading_on_a_gateway_topic_is_malformed() -> None:
    reject = only_reject(GATEWAY, {"ts": T0, "speed": 1})
    assert (reject.reason, reject.detail) == (MALFORMED, "a gateway topic carries SenML packs")


def test_leading_whitespace_is_json() -> None:
    readings, rejects = parse(SENSOR, b' \n\t{"ts": "' + T0.encode() + b'", "speed": 1}')
    assert rejects == [] and len(readings) == 1
    readings, rejects = parse(SENSOR, b'\r\n [{"n": "speed", "v": 1}]')
    assert rejects == [] and len(readings) == 1


def test_duplicate_keys_last_one_wins() -> None:
    readings, _ = parse(SENSOR, b'{"ts": "' + T0.encode() + b'", "speed": 1, "speed": 2}')
    assert [r.value for r in readings] == [2.0]


# --------------------------------------------------------------------------------------------
# whole-message rejects


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        (b"", "empty payload"),
        (b"  \n", "empty payload"),
        (b"hello", "payload is not JSON"),
        (b'{"ts": ', "payload is not JSON"),
        (b"[{]", "payload is not JSON"),
        (b'{"ts": "x"} trailing', "payload is not JSON"),
        (b"\xff\xfe\x00garbage", "payload is not UTF-8 JSON"),
        (b'{"ts": "\xff"}', "payload is not UTF-8 JSON"),
        (b"42", "payload is neither a JSON object nor a SenML array"),
        (b'"a string"', "payload is neither a JSON object nor a SenML array"),
        (b"null", "payload is neither a JSON object nor a SenML array"),
        (b"true", "payload is neither a JSON object nor a SenML array"),
    ],
)
def test_malformed_payloads(payload: bytes, detail: str) -> None:
    reject = only_reject(SENSOR, payload)
    assert (reject.reason, reject.detail) == (MALFORMED, detail)
    assert reject.topic == SENSOR


@pytest.mark.parametrize(
    "topic", ["city/mitte/spaceship/X", "city/nowhere", "weather/station", "city/gateway/GW 1"]
)
def test_bad_topic(topic: str) -> None:
    reject = only_reject(topic, {"ts": T0, "speed": 1})
    assert (reject.reason, reject.topic) == (BAD_TOPIC, topic)
    assert json.loads(reject.payload) == {"ts": T0, "speed": 1}


@pytest.mark.parametrize("payload", [b"\xff garbage", b'{"level": "critical"}', b"[]"])
def test_our_alerts_are_silently_ignored(payload: bytes) -> None:
    assert parse_message("city/alerts/mitte", payload, now=NOW) == ([], [])


def test_invalid_utf8_is_replaced_in_the_reject() -> None:
    reject = only_reject(SENSOR, b"caf\xe9 \xff\xfe ok")
    assert reject.payload == "caf\ufffd \ufffd\ufffd ok"


def test_huge_payload_is_truncated_to_4_kib() -> None:
    payload = b"x" * 1_000_000
    reject = only_reject(SENSOR, payload)
    assert reject.payload == "x" * MAX_REJECT_PAYLOAD


def test_truncation_counts_utf8_bytes_and_never_splits_a_character() -> None:
    text = payload_text("é".encode() * 5000)  # 2 bytes each
    assert len(text.encode()) <= MAX_REJECT_PAYLOAD
    assert set(text) == {"é"}
    garbage = payload_text(b"\xff" * 5000)  # each invalid byte becomes a 3-byte U+FFFD
    assert len(garbage.encode()) <= MAX_REJECT_PAYLOAD
    assert set(garbage) == {"\ufffd"}
    assert payload_text("😀".encode() * 2000).encode().decode() == "😀" * 1024


def test_nul_bytes_are_replaced_for_postgresql() -> None:
    assert payload_text(b"a\x00b") == "a\ufffdb"


def test_huge_valid_pack_is_parsed_and_each_reject_payload_is_capped() -> None:
    pack = [{"bn": "TD-0001:", "bt": NOW}] + [
        {"n": "speed", "v": i, "t": i, "x": "y" * 5000} for i in range(200)
    ]
    readings, rejects = parse(SENSOR, pack)
    assert len(readings) == 200 and rejects == []
    pack[7]["v"] = "fast"
    readings, rejects = parse(SENSOR, pack)
    assert len(readings) == 199
    assert len(rejects[0].payload.encode()) <= MAX_REJECT_PAYLOAD


# --------------------------------------------------------------------------------------------
# SenML packs


def test_senml_pack_with_base_fields_on_a_gateway() -> None:
    pack = [
        {"bn": "TD-0001:", "bt": NOW, "bu": "km/h", "n": "speed", "v": 42.0},
        {"n": "occupancy", "u": "%", "v": 12, "t": 1.5},
        {"n": "speed", "v": 40, "t": 60},
        {"bn": "urn:dev:id:AQ-7:", "bu": "ug/m3", "n": "pm25", "v": 8.5},
        {"n": "pm10", "v": 20},
    ]
    readings, rejects = parse(GATEWAY, pack)
    assert rejects == []
    assert readings == [
        Reading("TD-0001", "speed", NOW, 42.0, "km/h", "", ""),
        Reading("TD-0001", "occupancy", NOW + 1.5, 12.0, "%", "", ""),
        Reading("TD-0001", "speed", NOW + 60, 40.0, "km/h", "", ""),
        Reading("AQ-7", "pm25", NOW, 8.5, "ug/m3", "", ""),
        Reading("AQ-7", "pm10", NOW, 20.0, "ug/m3", "", ""),
    ]


def test_base_value_is_added_and_base_fields_can_change() -> None:
    pack = [
        {"bn": "WS-1:", "bt": NOW, "bv": 20.0, "bu": "Cel", "n": "temperature", "v": 1.5},
        {"n": "temperature", "v": -0.5, "t": 10},
        {"bv": 0, "bt": NOW + 100, "bu": "%RH", "n": "humidity", "v": 55},
        {"bn": "urn:dev:id:WS-2:", "n": "humidity", "v": 60, "t": -1},
    ]
    readings, rejects = parse(GATEWAY, pack)
    assert rejects == []
    assert [(r.sensor, r.metric, r.ts, r.value, r.unit) for r in readings] == [
        ("WS-1", "temperature", NOW, 21.5, "Cel"),
        ("WS-1", "temperature", NOW + 10, 19.5, "Cel"),
        ("WS-1", "humidity", NOW + 100, 55.0, "%RH"),
        ("WS-2", "humidity", NOW + 99, 60.0, "%RH"),
    ]


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({}, NOW),  # RFC 8428 §4.5.3: no time means "now"
        ({"t": 0}, NOW),
        ({"t": -5}, NOW - 5),
        ({"bt": -60, "t": 10}, NOW - 50),
        ({"bt": 1000}, NOW + 1000),
        ({"t": 2**28 - 1}, NOW + 2**28 - 1),  # still relative
        ({"t": 2**28}, float(2**28)),  # absolute from here on
        ({"bt": NOW - 10, "t": 4}, NOW - 6),
    ],
)
def test_relative_and_absolute_times(record: dict[str, float], expected: float) -> None:
    readings, rejects = parse(SENSOR, [{"n": "speed", "v": 1, **record}])
    assert rejects == []
    assert readings[0].ts == pytest.approx(expected)


def test_relative_times_use_the_callers_now() -> None:
    readings, _ = parse_message(SENSOR, b'[{"n":"speed","v":1,"t":-2}]', now=100_000_000.5)
    assert readings[0].ts == 99_999_998.5


def test_names_on_a_sensor_topic() -> None:
    pack = [
        {"n": "speed", "v": 1},  # bare metric: the topic's sensor
        {"n": "TD-0001:occupancy", "v": 2},
        {"bn": "urn:dev:id:TD-0001:", "n": "vehicle_count", "v": 3},
        {"bn": "", "n": "TD-9999:speed", "v": 4},  # another sensor on this sensor's topic
    ]
    readings, rejects = parse(SENSOR, pack)
    assert [(r.sensor, r.metric, r.district, r.sensor_type) for r in readings] == [
        ("TD-0001", "speed", "mitte", "traffic"),
        ("TD-0001", "occupancy", "mitte", "traffic"),
        ("TD-0001", "vehicle_count", "mitte", "traffic"),
    ]
    assert reasons(rejects) == [MALFORMED]
    assert rejects[0].detail == (
        "record 3: name 'TD-9999:speed' names sensor 'TD-9999' on the topic of 'TD-0001'"
    )
    assert json.loads(rejects[0].payload) == {"bn": "", "n": "TD-9999:speed", "v": 4}


def test_name_from_base_name_only() -> None:
    readings, rejects = parse(GATEWAY, [{"bn": "urn:dev:id:NM-3:laeq", "v": 61.2}])
    assert rejects == []
    assert (readings[0].sensor, readings[0].metric) == ("NM-3", "laeq")


@pytest.mark.parametrize(
    ("name", "detail"),
    [
        ("speed", "name 'speed' has no sensor part (<sensor_id>:<metric>) on a gateway topic"),
        ("TD 1:speed", "name 'TD 1:speed': bad sensor id 'TD 1'"),
        ("TD-1:Speed", "name 'TD-1:Speed': bad metric name 'Speed'"),
        ("TD-1:", "name 'TD-1:': bad metric name ''"),
        ("urn:dev:id:", "name 'urn:dev:id:' has no sensor part (<sensor_id>:<metric>) on a "
         "gateway topic"),
        ("urn:dev:mac:0024:speed", "name 'urn:dev:mac:0024:speed': bad sensor id "
         "'urn:dev:mac:0024'"),
    ],
)  # fmt: skip
def test_bad_names_on_a_gateway(name: str, detail: str) -> None:
    readings, rejects = parse(GATEWAY, [{"n": name, "v": 1}, {"n": "TD-1:speed", "v": 2}])
    assert [(r.sensor, r.metric) for r in readings] == [("TD-1", "speed")]
    assert [(r.reason, r.detail) for r in rejects] == [(MALFORMED, f"record 0: {detail}")]


@pytest.mark.parametrize(
    ("record", "what"),
    [
        ({"vs": "open"}, "vs values are not supported"),
        ({"vb": True}, "vb values are not supported"),
        ({"vd": "aGVsbG8"}, "vd values are not supported"),
        ({"s": 12.5}, "s values are not supported"),
        ({"vs": "x", "s": 1}, "vs/s values are not supported"),
        ({}, "no value (v)"),
        ({"bv": 3}, "no value (v)"),
    ],
)
def test_non_numeric_records_are_bad_values(record: dict[str, object], what: str) -> None:
    pack = [{"bn": "TD-1:", "n": "speed", "v": 1}, {"n": "occupancy", **record}]
    readings, rejects = parse(GATEWAY, pack)
    assert [r.metric for r in readings] == ["speed"]
    assert [(r.reason, r.detail) for r in rejects] == [
        (BAD_VALUE, f"record 1 ('TD-1:occupancy'): {what}")
    ]
    assert json.loads(rejects[0].payload) == {"n": "occupancy", **record}


def test_a_record_of_base_fields_only_applies_to_the_records_after_it() -> None:
    pack = [{"bn": "TD-1:", "bt": NOW, "bu": "km/h"}, {"n": "speed", "v": 5}]
    assert parse(GATEWAY, pack) == ([Reading("TD-1", "speed", NOW, 5.0, "km/h", "", "")], [])


@pytest.mark.parametrize(
    ("bad", "reason", "detail"),
    [
        ({"v": True}, BAD_VALUE, "v must be a number"),
        ({"v": "12"}, BAD_VALUE, "v must be a number"),
        ({"v": None}, BAD_VALUE, "v must be a number"),
        ({"v": [1]}, BAD_VALUE, "v must be a number"),
        ({"t": "2026-11-22T10:00:00Z"}, BAD_TIMESTAMP, "t must be a number"),
        ({"t": False}, BAD_TIMESTAMP, "t must be a number"),
        ({"u": 7}, MALFORMED, "u must be a string"),
        ({"t": "x", "v": "y"}, BAD_TIMESTAMP, "t must be a number; v must be a number"),
    ],
)
def test_a_badly_typed_field_rejects_only_its_record(
    bad: dict[str, object], reason: str, detail: str
) -> None:
    pack = [
        {"bn": "TD-1:", "bt": NOW, "n": "speed", "v": 1},
        {"n": "occupancy", "v": 2, **bad},
        {"n": "vehicle_count", "v": 3},
    ]
    readings, rejects = parse(GATEWAY, pack)
    assert [r.metric for r in readings] == ["speed", "vehicle_count"]
    assert [(r.reason, r.detail) for r in rejects] == [
        (reason, f"record 1 ('occupancy'): {detail}")
    ]


@pytest.mark.parametrize("raw", [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e400"])
def test_non_finite_senml_values(raw: bytes) -> None:
    payload = b'[{"bn":"TD-1:","n":"speed","v":' + raw + b'},{"n":"occupancy","v":2}]'
    readings, rejects = parse(GATEWAY, payload)
    assert [r.metric for r in readings] == ["occupancy"]
    assert [(r.reason, r.detail) for r in rejects] == [
        (BAD_VALUE, "record 0 ('TD-1:speed'): value is not a finite number")
    ]


def test_huge_integer_value_is_a_bad_value() -> None:
    payload = b'[{"bn":"TD-1:","n":"speed","v":' + b"9" * 400 + b'},{"n":"occupancy","v":2}]'
    readings, rejects = parse(GATEWAY, payload)
    assert [r.metric for r in readings] == ["occupancy"]
    assert reasons(rejects) == [BAD_VALUE]


def test_sum_of_base_value_and_value_overflowing_is_a_bad_value() -> None:
    readings, rejects = parse(GATEWAY, [{"bn": "TD-1:", "bv": 1.5e308, "n": "speed", "v": 1e308}])
    assert readings == [] and reasons(rejects) == [BAD_VALUE]


@pytest.mark.parametrize("t", [1e20, -1e20, 2.6e11])
def test_times_outside_the_calendar_are_bad_timestamps(t: float) -> None:
    readings, rejects = parse(SENSOR, [{"n": "speed", "v": 1, "t": t}, {"n": "occupancy", "v": 2}])
    assert [r.metric for r in readings] == ["occupancy"]
    assert [(r.reason, r.detail) for r in rejects] == [
        (BAD_TIMESTAMP, "record 0 ('speed'): time is not in the years 1-9999")
    ]


def test_non_finite_base_time_is_a_bad_timestamp() -> None:
    payload = b'[{"bt": NaN, "n": "speed", "v": 1}]'
    assert only_reject(SENSOR, payload).reason == BAD_TIMESTAMP


def test_a_bad_base_field_poisons_later_records_until_redeclared() -> None:
    pack = [
        {"bn": "TD-1:", "bt": "noon", "n": "speed", "v": 1},  # bad bt
        {"n": "occupancy", "v": 2},  # relies on the bad bt
        {"bt": NOW, "n": "vehicle_count", "v": 3},  # a new bt heals it
        {"bv": "ten", "n": "speed", "v": 4},  # bad bv
        {"n": "speed", "v": 5},  # relies on the bad bv
        {"bn": 17, "n": "speed", "v": 6},  # bad bn
        {"n": "speed", "v": 7},  # relies on the bad bn
        {"bn": "TD-2:", "bv": 0, "n": "speed", "v": 8},
    ]
    readings, rejects = parse(GATEWAY, pack)
    assert [(r.sensor, r.metric, r.value) for r in readings] == [
        ("TD-1", "vehicle_count", 3.0),
        ("TD-2", "speed", 8.0),
    ]
    assert [(r.reason, r.detail) for r in rejects] == [
        (BAD_TIMESTAMP, "record 0 ('speed'): bt must be a number"),
        (BAD_TIMESTAMP, "record 1 ('TD-1:occupancy'): base time (bt) of an earlier record is "
         "invalid"),
        (BAD_VALUE, "record 3 ('speed'): bv must be a number"),
        (BAD_VALUE, "record 4 ('TD-1:speed'): base value (bv) of an earlier record is invalid"),
        (MALFORMED, "record 5 ('speed'): bn must be a string"),
        (MALFORMED, "record 6 ('speed'): base name (bn) of an earlier record is invalid"),
    ]  # fmt: skip


def test_non_object_records() -> None:
    payload = [5, "x", None, [1], {"n": "TD-1:speed", "v": 1}]
    readings, rejects = parse(GATEWAY, payload)
    assert len(readings) == 1
    assert [(r.reason, r.detail) for r in rejects] == [
        (MALFORMED, f"record {i}: not a JSON object") for i in range(4)
    ]
    assert [r.payload for r in rejects] == ["5", '"x"', "null", "[1]"]


def test_unknown_labels_are_ignored() -> None:
    pack = [{"bn": "TD-1:", "n": "speed", "v": 1, "ut": 60, "l": "x", "bs": 3, "zz": [1]}]
    readings, rejects = parse(GATEWAY, pack)
    assert rejects == [] and [r.value for r in readings] == [1.0]


def test_must_understand_labels_reject_the_pack() -> None:
    # RFC 8428 §4.4: an unknown label ending in "_" means the pack must not be used.
    reject = only_reject(GATEWAY, [{"bn": "TD-1:", "n": "speed", "v": 1}, {"n": "x", "v_": 2}])
    assert (reject.reason, reject.detail) == (
        MALFORMED,
        "record 1: must-understand label 'v_' is not supported",
    )


@pytest.mark.parametrize(("bver", "ok"), [(10, True), (5, True), (11, False)])
def test_senml_version(bver: int, ok: bool) -> None:
    readings, rejects = parse(GATEWAY, [{"bver": bver, "bn": "TD-1:", "n": "speed", "v": 1}])
    if ok:
        assert rejects == [] and len(readings) == 1
    else:
        assert readings == []
        assert [(r.reason, r.detail) for r in rejects] == [
            (MALFORMED, "SenML version above 10 (bver) is not understood")
        ]


def test_senml_version_checked_on_the_careful_path_too() -> None:
    pack = [{"bver": 11, "bn": "TD-1:", "n": "speed", "v": True}]
    assert only_reject(GATEWAY, pack).detail == "SenML version above 10 (bver) is not understood"
    pack = [{"bver": "10", "bn": "TD-1:", "n": "speed", "v": 1}]
    assert only_reject(GATEWAY, pack).detail == "record 0: bver must be an integer"


@pytest.mark.parametrize(
    ("pack", "detail"),
    [
        ([], "empty SenML pack"),
        ([{"bn": "TD-1:", "bt": NOW}], "SenML pack without any value"),
    ],
)
def test_packs_without_readings(pack: list[object], detail: str) -> None:
    assert only_reject(GATEWAY, pack).detail == detail


@pytest.mark.parametrize("unit", ["Cel", "%RH", "km/h", "/", "ug/m3", "µg/m³", "dB"])
def test_units_are_taken_as_is(unit: str) -> None:
    readings, _ = parse(SENSOR, [{"n": "pm25", "u": unit, "v": 1}])
    assert readings[0].unit == unit


def test_a_lone_surrogate_cannot_reach_a_batch() -> None:
    payload = b'[{"n":"pm25","u":"\\ud800","v":1},{"n":"pm10","v":2}]'
    readings, rejects = parse(SENSOR, payload)
    assert [r.metric for r in readings] == ["pm10"]
    assert reasons(rejects) == [MALFORMED]
    payload = b'{"ts":"' + T0.encode() + b'","\\udfff":1,"pm10":2}'
    readings, rejects = parse(SENSOR, payload)
    assert [r.metric for r in readings] == ["pm10"] and reasons(rejects) == [MALFORMED]
    batch = Batch(batch_id="b", received_at=NOW, readings=readings, rejects=rejects)
    assert batch_decoder.decode(batch_encoder.encode(batch)) == batch


def test_fast_and_careful_paths_agree() -> None:
    pack = [
        {"bn": "urn:dev:id:TD-1:", "bt": NOW, "bu": "km/h", "n": "speed", "v": 3},
        {"n": "occupancy", "u": "%", "v": 2, "t": -1},
        {"bn": "AQ_", "n": ":pm25", "v": 4},  # the "_\"" forces the careful path
    ]
    careful = parse(GATEWAY, pack)
    pack[2]["bn"] = "AQ"
    fast = parse(GATEWAY, pack)
    assert careful[1] == fast[1] == []
    assert [r.sensor for r in careful[0]] == ["TD-1", "TD-1", "AQ_"]
    assert [(r.metric, r.ts, r.value, r.unit) for r in careful[0]] == [
        (r.metric, r.ts, r.value, r.unit) for r in fast[0]
    ]


# --------------------------------------------------------------------------------------------
# robustness


def test_fuzzed_garbage_never_raises_and_always_stays_encodable() -> None:
    rng = random.Random(8428)
    seeds = [
        json.dumps({"ts": T0, "speed": 1.5, "occupancy": 3}).encode(),
        json.dumps(
            [{"bn": "TD-1:", "bt": NOW, "n": "speed", "v": 1}, {"n": "occupancy", "v": 2}]
        ).encode(),
    ]
    alphabet = b'{}[]",:0123456789.eE+-nNtfIl_ \\u\xff\xc3\xa9\x00'
    valid = {r.value for r in RejectReason}
    for i in range(3000):
        raw = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 6)):
            op = rng.random()
            pos = rng.randrange(len(raw) + 1)
            if op < 0.4 and raw:
                del raw[min(pos, len(raw) - 1)]
            elif op < 0.8:
                raw.insert(pos, rng.choice(alphabet))
            else:
                raw[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        topic = SENSOR if i % 2 else GATEWAY
        readings, rejects = parse_message(topic, bytes(raw), now=NOW)
        assert readings or rejects
        assert all(r.reason in valid and r.detail for r in rejects)
        assert all(len(r.payload.encode()) <= MAX_REJECT_PAYLOAD for r in rejects)
        batch = Batch(batch_id="f", received_at=NOW, readings=readings, rejects=rejects)
        batch_encoder.encode(batch)  # no lone surrogates or other unencodable text


def test_deeply_nested_json_is_malformed_not_a_crash() -> None:
    reject = only_reject(SENSOR, b"[" * 100_000 + b"]" * 100_000)
    assert reject.reason == MALFORMED
    reject = only_reject(SENSOR, b'{"a":' * 50_000 + b"1" + b"}" * 50_000)
    assert reject.reason in (MALFORMED, BAD_TIMESTAMP)


def test_reading_timestamps_match_datetime() -> None:
    readings, _ = parse(SENSOR, {"ts": "2024-02-29T23:59:59.5+14:00", "speed": 1})
    expected = datetime(2024, 2, 29, 9, 59, 59, 500000, tzinfo=UTC).timestamp()
    assert readings[0].ts == expected
