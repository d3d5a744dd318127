"""Payload parsers: one JSON reading or a SenML pack (RFC 8428) in, Readings and Rejects out.

Two payload shapes are accepted:

* a single reading on a sensor topic, `{"ts": "<ISO 8601 with offset>" | <epoch s>, "<metric>": n}`
  with one or more metrics: one Reading per metric;
* a SenML pack (a JSON array of records) on a sensor or gateway topic. Names follow our convention
  `<sensor_id>:<metric>` (a leading `urn:dev:id:` is stripped); on a sensor topic the name may be
  the bare metric.

Only what the payload itself can tell is checked here: shape, names, time and numeric values.
Future times, ranges, units and unknown sensors need the database and are the worker's job.

A Reject carries the whole message's text, except for one bad SenML record, which carries that
record re-encoded as JSON (a 100-record pack with 3 bad records yields 3 small rejects).

Speed matters (a bridge parses every message): the common case is decoded by msgspec into typed
structs or a plain dict, and only a payload that fails that falls back to a slower path which
finds exactly which fields are bad, so one bad reading never costs its neighbours.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from functools import partial
from typing import Any

import msgspec

from shared.ingest.schemas import Reading, Reject, RejectReason
from shared.ingest.topics import TopicInfo, parse_topic

MAX_REJECT_PAYLOAD = 4096  # bytes of UTF-8 kept from a rejected payload (schemas.Reject)
METRIC_RE = re.compile(r"[a-z0-9_]{1,64}")
SENSOR_ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
URN_PREFIX = "urn:dev:id:"
SENML_VERSION = 10  # RFC 8428 §4.4: the version this parser understands (the default)
RELATIVE_TIME_LIMIT = 2**28  # RFC 8428 §4.5.3: times below this are relative to "now"
# Times Python's datetime (and so the worker) can represent: 0001-01-01 to 9999-12-31 UTC.
# Not a plausibility check (the worker does that); it keeps overflow out of the pipeline.
MIN_EPOCH = -62_135_596_800.0
MAX_EPOCH = 253_402_300_799.0

_MALFORMED = RejectReason.malformed.value
_BAD_TOPIC = RejectReason.bad_topic.value
_BAD_TIMESTAMP = RejectReason.bad_timestamp.value
_BAD_VALUE = RejectReason.bad_value.value
_UNSET = msgspec.UNSET
_CACHE_LIMIT = 65_536  # entries per memo dict below; cleared when full (a city's names repeat)


class SenMLRecord(msgspec.Struct):
    """One SenML record as JSON carries it (RFC 8428 §4.3); unknown labels are ignored."""

    bn: str | msgspec.UnsetType = _UNSET
    bt: float | msgspec.UnsetType = _UNSET
    bu: str | msgspec.UnsetType = _UNSET
    bv: float | msgspec.UnsetType = _UNSET
    bver: int | msgspec.UnsetType = _UNSET
    n: str | msgspec.UnsetType = _UNSET
    u: str | msgspec.UnsetType = _UNSET
    v: float | msgspec.UnsetType = _UNSET
    t: float | msgspec.UnsetType = _UNSET
    # Value kinds we do not store (strings, booleans, data, sums): kept only to reject them.
    vs: Any = _UNSET
    vb: Any = _UNSET
    vd: Any = _UNSET
    s: Any = _UNSET


_dict_decoder = msgspec.json.Decoder(dict[str, Any])
_pack_decoder = msgspec.json.Decoder(list[SenMLRecord])
_any_decoder = msgspec.json.Decoder()

_metric_ok: dict[str, bool] = {}
_iso_cache: dict[str, float | str] = {}  # ISO string -> epoch seconds, or the error detail
_name_cache: dict[tuple[str, str], tuple[str, str] | str] = {}  # (name, topic sensor) -> parts


def parse_message(topic: str, payload: bytes, *, now: float) -> tuple[list[Reading], list[Reject]]:
    """Parse one MQTT message into readings and rejects; ([], []) for topics we ignore."""
    info = parse_topic(topic)
    if info is None:
        return [], [_reject(topic, payload, _BAD_TOPIC, "topic outside the city/ grammar")]
    if info.kind == "ignored":
        return [], []
    first = payload[:1]
    if first not in (b"{", b"["):
        first = payload.lstrip()[:1]  # JSON allows leading whitespace (RFC 8259 §2)
    if first == b"{":
        if info.kind != "sensor":
            return [], [_reject(topic, payload, _MALFORMED, "a gateway topic carries SenML packs")]
        return _parse_single(topic, payload, info)
    if first == b"[":
        return _parse_pack(topic, payload, info, now)
    return [], [_reject(topic, payload, _MALFORMED, _not_json_detail(payload))]


# --------------------------------------------------------------------------------------------
# one JSON reading


def _parse_single(
    topic: str, payload: bytes, info: TopicInfo
) -> tuple[list[Reading], list[Reject]]:
    """Parse `{"ts": ..., "<metric>": number, ...}` into one Reading per metric."""
    try:
        obj = _dict_decoder.decode(payload)
    except (msgspec.MsgspecError, ValueError, RecursionError):
        # msgspec refuses NaN/Infinity and out-of-range numbers outright; the stdlib reads them,
        # so that only the offending metric is rejected (as bad_value) and not the whole message.
        obj = _lenient_json(payload)
        if not isinstance(obj, dict):
            return [], [_reject(topic, payload, _MALFORMED, _not_json_detail(payload))]
    ts_raw = obj.pop("ts", _UNSET)
    if not obj:
        return [], [_reject(topic, payload, _MALFORMED, "no metrics besides ts")]
    kind = type(ts_raw)
    if kind is float and MIN_EPOCH <= ts_raw <= MAX_EPOCH:  # inlined: epoch seconds
        ts = ts_raw
    else:
        ts = _iso_cache.get(ts_raw) if kind is str else None  # inlined memo hit
        if ts is None:
            ts = _timestamp(ts_raw)
    if type(ts) is str:
        return [], [_reject(topic, payload, _BAD_TIMESTAMP, ts)]
    sensor, district, sensor_type = info.sensor_id, info.district, info.sensor_type
    readings: list[Reading] = []
    rejects: list[Reject] = []
    for metric, raw in obj.items():
        # Fast path: a finite float under a known-good metric name (inf - inf and nan - nan are
        # nan, so the subtraction is a finiteness test without a function call).
        if type(raw) is float and raw - raw == 0.0 and _metric_ok.get(metric):
            readings.append(Reading(sensor, metric, ts, raw, "", district, sensor_type))
            continue
        value = _int_to_float(raw) if type(raw) is int else None
        if type(raw) is float and raw - raw == 0.0:
            value = raw
        if not _metric_valid(metric):
            detail = f"metric {metric[:80]!r}: bad metric name"
            rejects.append(_reject(topic, payload, _MALFORMED, detail))
        elif value is None:
            rejects.append(_reject(topic, payload, _BAD_VALUE, _value_detail(metric, raw)))
        else:
            readings.append(Reading(sensor, metric, ts, value, "", district, sensor_type))
    return readings, rejects


def _timestamp(raw: Any) -> float | str:
    """Return epoch seconds (UTC) for an ISO 8601 string or epoch number, or an error detail."""
    # The caller has already looked the string up in _iso_cache (inlined on the hot path).
    kind = type(raw)
    if kind is str:
        result = _parse_iso(raw)
        if len(raw) <= 64:  # only plausible timestamps are memoised, never huge junk strings
            if len(_iso_cache) >= _CACHE_LIMIT:
                _iso_cache.clear()
            _iso_cache[raw] = result
        return result
    if kind is float or kind is int:
        if MIN_EPOCH <= raw <= MAX_EPOCH:  # false for NaN too
            return float(raw)
        return f"ts: not an epoch time in the years 1-9999: {raw!r}"[:120]
    if raw is _UNSET:
        return "ts: missing"
    return f"ts: expected an ISO 8601 string or epoch seconds, got {_type_name(raw)}"


def _parse_iso(text: str) -> float | str:
    """Parse an ISO 8601 date-time with a UTC offset into epoch seconds, or an error detail."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return f"ts: not an ISO 8601 date-time: {text[:64]!r}"
    if moment.tzinfo is None:  # fromisoformat only ever attaches fixed offsets
        # A local time without offset is ambiguous: refuse to guess the sensor's time zone.
        return f"ts: no UTC offset (add Z or +hh:mm): {text[:64]!r}"
    try:
        return moment.timestamp()
    except (OverflowError, ValueError):  # an offset pushing year 1 or 9999 out of range
        return f"ts: outside the years 1-9999: {text[:64]!r}"


# --------------------------------------------------------------------------------------------
# SenML packs (RFC 8428)


class _Bases:
    """The base fields in force while walking a pack (RFC 8428 §4.1: they apply onward)."""

    __slots__ = ("bn", "bt", "bu", "bv")

    def __init__(self) -> None:
        # None marks a base whose last declaration was invalid: records relying on it are refused.
        self.bn: str | None = ""
        self.bt: float | None = 0.0
        self.bu: str | None = ""
        self.bv: float | None = 0.0


def _parse_pack(
    topic: str, payload: bytes, info: TopicInfo, now: float
) -> tuple[list[Reading], list[Reject]]:
    """Parse a SenML pack into one Reading per numeric record."""
    records: list[SenMLRecord | dict[str, Any] | Any]
    fast = b'_"' not in payload  # a label ending in "_" needs the careful path (RFC 8428 §4.4)
    try:
        records = _pack_decoder.decode(payload) if fast else _any_decoder.decode(payload)
    except (msgspec.MsgspecError, ValueError, RecursionError):
        fast = False
        records = _lenient_json(payload)
    if not isinstance(records, list):
        return [], [_reject(topic, payload, _MALFORMED, _not_json_detail(payload))]
    if not records:
        return [], [_reject(topic, payload, _MALFORMED, "empty SenML pack")]
    if not fast:
        problem = _pack_problem(records)
        if problem:
            return [], [_reject(topic, payload, _MALFORMED, problem)]
    elif any(r.bver is not _UNSET and r.bver > SENML_VERSION for r in records):
        return [], [_reject(topic, payload, _MALFORMED, _VERSION_DETAIL)]

    readings, rejects = _resolve_all(topic, records, fast, info, now)
    if not readings and not rejects:
        return [], [_reject(topic, payload, _MALFORMED, "SenML pack without any value")]
    return readings, rejects


_VERSION_DETAIL = f"SenML version above {SENML_VERSION} (bver) is not understood"


def _pack_problem(records: list[Any]) -> str:
    """Return why a whole pack must not be used (RFC 8428 §4.4), or ""."""
    for index, item in enumerate(records):
        if not isinstance(item, dict):
            continue
        for label in item:
            if label.endswith("_"):
                return f"record {index}: must-understand label {label[:40]!r} is not supported"
        bver = item.get("bver", _UNSET)
        if bver is not _UNSET:
            if type(bver) is not int:
                return f"record {index}: bver must be an integer"
            if bver > SENML_VERSION:
                return _VERSION_DETAIL
    return ""


# Field -> (JSON types accepted, reject reason when wrong, base slot it poisons or "").
_FIELD_RULES: dict[str, tuple[tuple[type, ...], str, str]] = {
    "bn": ((str,), _MALFORMED, "bn"),
    "n": ((str,), _MALFORMED, ""),
    "bu": ((str,), _MALFORMED, "bu"),
    "u": ((str,), _MALFORMED, ""),
    "bt": ((int, float), _BAD_TIMESTAMP, "bt"),
    "t": ((int, float), _BAD_TIMESTAMP, ""),
    "bv": ((int, float), _BAD_VALUE, "bv"),
    "v": ((int, float), _BAD_VALUE, ""),
}


def _checked_record(
    topic: str,
    index: int,
    item: Any,
    bases: _Bases,
    rejects: list[Reject],
) -> SenMLRecord | None:
    """Type-check one record of the careful path; reject it (and poison bad bases) if needed."""
    if not isinstance(item, dict):
        rejects.append(
            _record_reject(topic, item, _MALFORMED, f"record {index}: not a JSON object")
        )
        return None
    problems: list[str] = []
    reason = ""
    for label, (types, why, base) in _FIELD_RULES.items():
        raw = item.get(label, _UNSET)
        if raw is _UNSET or type(raw) in types:  # exact types: a JSON boolean is not a number
            continue
        problems.append(f"{label} must be {'a string' if types == (str,) else 'a number'}")
        reason = reason or why
        if base:
            setattr(bases, base, None)
    if problems:
        _apply_bases(item, bases)  # the record's valid base fields still apply onward
        name = item.get("n") if isinstance(item.get("n"), str) else None
        label = f"record {index}" + (f" ({name[:80]!r})" if name else "")
        rejects.append(_record_reject(topic, item, reason, f"{label}: " + "; ".join(problems)))
        return None
    try:
        return msgspec.convert(item, SenMLRecord)
    except msgspec.ValidationError as exc:  # defensive: the checks above should catch it all
        _apply_bases(item, bases)
        detail = f"record {index}: {exc}"
        rejects.append(_record_reject(topic, item, _BAD_VALUE, detail))
        return None


def _apply_bases(item: dict[str, Any], bases: _Bases) -> None:
    """Apply the well-typed base fields of a rejected record."""
    for label in ("bn", "bu"):
        if type(item.get(label)) is str:
            setattr(bases, label, item[label])
    for label in ("bt", "bv"):
        raw = item.get(label)
        if type(raw) in (int, float):
            setattr(bases, label, raw)


def _resolve_all(
    topic: str, records: list[Any], fast: bool, info: TopicInfo, now: float
) -> tuple[list[Reading], list[Reject]]:
    """Resolve each record against the bases in force (RFC 8428 §4.6) and emit it.

    One loop for the whole pack, its names bound locally: a pack's records cost about 1.5 us
    each here, a third of that in per-record calls and global lookups before this was one loop.
    """
    unset = _UNSET
    isfinite = math.isfinite
    make = Reading
    split_name = _split_name
    district, sensor_type = info.district, info.sensor_type
    bases = _Bases()
    readings: list[Reading] = []
    rejects: list[Reject] = []
    refuse = partial(_refuse, rejects, topic, bases)
    for index, item in enumerate(records):
        if fast:
            rec: SenMLRecord = item
        else:
            checked = _checked_record(topic, index, item, bases, rejects)
            if checked is None:
                continue
            rec = checked
        if rec.bn is not unset:
            bases.bn = rec.bn
        if rec.bt is not unset:
            bases.bt = rec.bt
        if rec.bu is not unset:
            bases.bu = rec.bu
        if rec.bv is not unset:
            bases.bv = rec.bv
        n = rec.n
        v = rec.v
        if v is unset:
            others = [k for k in ("vs", "vb", "vd", "s") if getattr(rec, k) is not unset]
            if not others and n is unset:
                continue  # a record of base fields only: lenient, they apply to those after it
            what = "/".join(others) + " values are not supported" if others else "no value (v)"
            refuse(index, rec, _BAD_VALUE, what)
            continue
        # Name: RFC 8428 §4.5.1, base name and name concatenated.
        bn = bases.bn
        if bn is None:
            refuse(index, rec, _MALFORMED, "base name (bn) of an earlier record is invalid")
            continue
        parts = split_name(bn if n is unset else bn + n, info)
        if type(parts) is str:
            rejects.append(_record_reject(topic, rec, _MALFORMED, f"record {index}: {parts}"))
            continue
        # Time: RFC 8428 §4.5.3, base time plus time; below 2**28 it is relative to now.
        bt = bases.bt
        if bt is None:
            refuse(index, rec, _BAD_TIMESTAMP, "base time (bt) of an earlier record is invalid")
            continue
        t = rec.t
        ts = bt + (0.0 if t is unset else t)  # a float even where a base was an int
        if ts < RELATIVE_TIME_LIMIT:
            ts += now
        if not MIN_EPOCH <= ts <= MAX_EPOCH:  # also false for NaN
            refuse(index, rec, _BAD_TIMESTAMP, "time is not in the years 1-9999")
            continue
        # Value: RFC 8428 §4.5.4, base value plus value.
        bv = bases.bv
        if bv is None:
            refuse(index, rec, _BAD_VALUE, "base value (bv) of an earlier record is invalid")
            continue
        value = bv + v
        if not isfinite(value):
            refuse(index, rec, _BAD_VALUE, "value is not a finite number")
            continue
        # Unit: RFC 8428 §4.5.2, the record's unit or else the base unit (SenML unit names as-is).
        unit = rec.u
        if unit is unset:
            unit = bases.bu or ""
        if not unit.isascii() and not _encodable(unit):
            # A lone surrogate (a "\\ud800" escape) would make the whole batch unencodable later.
            refuse(index, rec, _MALFORMED, "unit is not valid Unicode")
            continue
        sensor, metric = parts  # type: ignore[misc]
        readings.append(make(sensor, metric, ts, value, unit, district, sensor_type))
    return readings, rejects


def _refuse(
    rejects: list[Reject],
    topic: str,
    bases: _Bases,
    index: int,
    rec: SenMLRecord,
    reason: str,
    what: str,
) -> None:
    """Reject one record, the detail naming it."""
    rejects.append(_record_reject(topic, rec, reason, _label(index, rec, bases, what)))


def _label(index: int, rec: SenMLRecord, bases: _Bases, what: str) -> str:
    """Return a detail naming the record and, when known, its metric."""
    name = (bases.bn or "") + ("" if rec.n is _UNSET else rec.n)
    return f"record {index}" + (f" ({name[:80]!r})" if name else "") + f": {what}"


def _split_name(name: str, info: TopicInfo) -> tuple[str, str] | str:
    """Split a resolved SenML name into (sensor, metric), or return an error detail."""
    key = (name, info.sensor_id)
    hit = _name_cache.get(key)
    if hit is None:
        hit = _split_name_uncached(name, info.sensor_id)
        if len(_name_cache) >= _CACHE_LIMIT:
            _name_cache.clear()
        _name_cache[key] = hit
    return hit


def _split_name_uncached(name: str, topic_sensor: str) -> tuple[str, str] | str:
    """Apply the `[urn:dev:id:]<sensor_id>:<metric>` convention to one name."""
    short = name[len(URN_PREFIX) :] if name.startswith(URN_PREFIX) else name
    sensor, _, metric = short.rpartition(":")
    shown = repr(name[:80])
    if not sensor:
        if not topic_sensor:
            return f"name {shown} has no sensor part (<sensor_id>:<metric>) on a gateway topic"
        sensor = topic_sensor  # on a sensor topic the bare metric means the topic's sensor
    elif SENSOR_ID_RE.fullmatch(sensor) is None:
        return f"name {shown}: bad sensor id {sensor[:64]!r}"
    elif topic_sensor and sensor != topic_sensor:
        return f"name {shown} names sensor {sensor[:64]!r} on the topic of {topic_sensor!r}"
    if METRIC_RE.fullmatch(metric) is None:
        return f"name {shown}: bad metric name {metric[:64]!r}"
    return sensor, metric


# --------------------------------------------------------------------------------------------
# helpers


def _metric_valid(metric: str) -> bool:
    """Tell whether a JSON key is a metric code, memoised (a city has few metric names)."""
    ok = _metric_ok.get(metric)
    if ok is None:
        ok = METRIC_RE.fullmatch(metric) is not None
        if len(_metric_ok) >= _CACHE_LIMIT:
            _metric_ok.clear()
        _metric_ok[metric] = ok
    return ok


def _encodable(text: str) -> bool:
    """Tell whether a string is valid Unicode text (no lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _int_to_float(raw: int) -> float | None:
    """Convert a JSON integer to float, or None when it does not fit a double."""
    try:
        return float(raw)
    except OverflowError:
        return None


def _value_detail(metric: str, raw: Any) -> str:
    """Describe why a single-reading value was refused."""
    if type(raw) is int:  # never repr() it: str(int) refuses above 4300 digits
        return f"metric {metric!r}: integer too large for a double"
    if type(raw) is float:
        return f"metric {metric!r}: not a finite number: {raw!r}"
    return f"metric {metric!r}: expected a number, got {_type_name(raw)}"


def _type_name(raw: Any) -> str:
    """Name a decoded JSON value's type the way JSON does."""
    if raw is None:
        return "null"
    return {
        bool: "boolean",
        str: "string",
        dict: "object",
        list: "array",
        int: "number",
        float: "number",
    }.get(type(raw), type(raw).__name__)


def _lenient_json(payload: bytes) -> Any:
    """Decode with the stdlib (which accepts NaN, Infinity and huge numbers), or return None."""
    try:
        return json.loads(payload.decode("utf-8"), parse_int=_lenient_int)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None


def _lenient_int(digits: str) -> int | float:
    """Keep small JSON integers exact; read long ones as floats (inf beyond a double)."""
    # int() refuses more than 4300 digits (CVE-2020-10735) and they could not be stored anyway.
    return int(digits) if len(digits) < 20 else float(digits)


def _not_json_detail(payload: bytes) -> str:
    """Say why a payload is not a reading or a pack."""
    if not payload.strip():
        return "empty payload"
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return "payload is not UTF-8 JSON"
    try:
        _any_decoder.decode(payload)
    except (msgspec.MsgspecError, ValueError, RecursionError):
        return "payload is not JSON"
    return "payload is neither a JSON object nor a SenML array"


def payload_text(payload: bytes) -> str:
    """Return a payload as text for a Reject: invalid UTF-8 replaced, at most 4 KiB of UTF-8."""
    text = payload[:MAX_REJECT_PAYLOAD].decode("utf-8", "replace")
    if "\x00" in text:
        # PostgreSQL text cannot hold NUL: the dead-letter table would refuse the whole batch.
        text = text.replace("\x00", "\ufffd")
    encoded = text.encode("utf-8")
    if len(encoded) > MAX_REJECT_PAYLOAD:  # replacement characters take 3 bytes each
        text = encoded[:MAX_REJECT_PAYLOAD].decode("utf-8", "ignore")
    return text


def _reject(topic: str, payload: bytes, reason: str, detail: str) -> Reject:
    """Build a Reject carrying the message's raw payload."""
    return Reject(topic, payload_text(payload), reason, detail)


def _record_reject(topic: str, record: Any, reason: str, detail: str) -> Reject:
    """Build a Reject for one SenML record, carrying that record re-encoded as JSON."""
    if isinstance(record, SenMLRecord):
        record = {
            f: getattr(record, f)
            for f in record.__struct_fields__
            if getattr(record, f) is not _UNSET
        }
    try:
        # The stdlib keeps NaN and Infinity visible where msgspec would write null.
        text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        text = repr(record)[:MAX_REJECT_PAYLOAD]
    return Reject(topic, payload_text(text.encode("utf-8", "replace")), reason, detail)
