"""Store one ingest batch: validate, COPY through staging, keep latest state, dead-letter the rest.

Everything for a batch happens in the caller's single transaction, so a batch is either fully
stored or not at all, and a redelivered batch changes nothing (ON CONFLICT DO NOTHING for
observations, a unique (batch_id, seq) for dead letters).
"""

from __future__ import annotations

import math
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter
from typing import Any

import orjson
import psycopg
from psycopg import pq
from sqlalchemy import text
from sqlalchemy.orm import Session

from shared.db import CONNECT_HOOKS
from shared.ingest.schemas import Batch, Reading, RejectReason
from shared.sensing.schemas import DatastreamKey, IngestResult
from shared.sensing.service import ensure_observation_partitions, load_datastream_keys

# Sensor clocks drift; readings up to this far ahead of the worker's clock are accepted.
FUTURE_SKEW_S = 300.0
_PAYLOAD_LIMIT = 4096

_STAGING_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS obs_staging ("
    " seq int NOT NULL, datastream_id int NOT NULL,"
    " phenomenon_time timestamptz NOT NULL, result float8 NOT NULL"
    ") ON COMMIT DELETE ROWS"
)


def _create_staging(dbapi_connection: Any) -> None:
    """Create the session-lifetime staging table on a new pooled connection."""
    with dbapi_connection.cursor() as cur:
        cur.execute(_STAGING_DDL)


CONNECT_HOOKS.append(_create_staging)


class DatastreamIndex:
    """Per-process cache of (thing code, metric) -> datastream, refreshed on a miss or by age."""

    # A sensor registered just after a full reload must not be dead-lettered as unknown for the
    # next miss_refresh_s: between full reloads a miss looks up that one sensor, at most
    # MAX_LOOKUPS distinct sensors per window (a flood of invented codes costs bounded queries).
    MAX_LOOKUPS = 200

    def __init__(self, *, max_age_s: float = 60.0, miss_refresh_s: float = 5.0) -> None:
        self._by_key: dict[tuple[str, str], DatastreamKey] = {}
        self._by_id: dict[int, DatastreamKey] = {}
        self._loaded_at = 0.0
        self._max_age_s = max_age_s
        self._miss_refresh_s = miss_refresh_s
        self._looked_up: set[str] = set()  # sensors looked up since the last full reload
        self._lock = threading.Lock()

    def _load(self, session: Session) -> None:
        keys = load_datastream_keys(session=session)
        self._by_key = {(k.thing_code, k.metric): k for k in keys}
        self._by_id = {k.datastream_id: k for k in keys}
        self._looked_up = set()
        self._loaded_at = time.monotonic()

    def _look_up(self, session: Session, sensor: str) -> None:
        if sensor in self._looked_up or len(self._looked_up) >= self.MAX_LOOKUPS:
            return
        self._looked_up.add(sensor)
        for k in load_datastream_keys(session=session, thing_codes=[sensor]):
            self._by_key[(k.thing_code, k.metric)] = k
            self._by_id[k.datastream_id] = k

    def refresh_if_needed(self, *, session: Session) -> None:
        """Reload when the cache is older than max_age_s."""
        with self._lock:
            if time.monotonic() - self._loaded_at > self._max_age_s:
                self._load(session)

    def get(self, *, session: Session, sensor: str, metric: str) -> DatastreamKey | None:
        """Return the datastream, reloading once if it is unknown and the cache is not fresh."""
        key = self._by_key.get((sensor, metric))
        if key is None:
            with self._lock:
                if time.monotonic() - self._loaded_at > self._miss_refresh_s:
                    self._load(session)
                else:
                    self._look_up(session, sensor)
            key = self._by_key.get((sensor, metric))
        return key

    def things(self, *, session: Session) -> dict[int, DatastreamKey]:
        """Return one datastream per thing (for thing-level checks such as staleness)."""
        if not self._by_id:
            with self._lock:
                self._load(session)
        return {k.thing_id: k for k in sorted(self._by_id.values(), key=lambda k: -k.datastream_id)}

    def by_id(self, datastream_id: int) -> DatastreamKey | None:
        """Return a cached datastream by id."""
        return self._by_id.get(datastream_id)

    def clear(self) -> None:
        """Forget everything (tests, re-seeding)."""
        with self._lock:
            self._by_key, self._by_id, self._loaded_at = {}, {}, 0.0


DEFAULT_INDEX = DatastreamIndex()


# A reading that passed validation: (seq, datastream, phenomenon time in microseconds since the
# Unix epoch, value). A plain tuple, not a class: one is made per stored reading, 5,000 a batch,
# and a dataclass costs five times as much to make.
StoredReading = tuple[int, DatastreamKey, int, float]

_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 UTC: binary COPY's timestamptz origin
_DAY_US = 86_400_000_000
# Binary COPY (PostgreSQL docs, "COPY", binary format): the signature, flags and header extension
# length; per row the field count, then each field's byte length and value (big-endian): seq
# int4, datastream_id int4, phenomenon_time int8 (microseconds since 2000), result float8.
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_COPY_ROW = struct.Struct("!hiiiiiqid")
# The same without seq: straight into `observation` (datastream_id, phenomenon_time, result).
_COPY_ROW_DIRECT = struct.Struct("!hiiiqid")
_COPY_TRAILER = b"\xff\xff"
_MINUTE_US = 60_000_000
_value_of = itemgetter(1)


def to_us(ts: datetime) -> int:
    """Return an aware datetime as microseconds since the Unix epoch (exact)."""
    return (ts - _UNIX_EPOCH) // _US


def from_us(us: int) -> datetime:
    """Return microseconds since the Unix epoch as an aware UTC datetime."""
    # Seconds and microseconds apart: a quarter faster than timedelta(microseconds=us).
    return _UNIX_EPOCH + timedelta(0, us // 1_000_000, us % 1_000_000)


def epoch_to_us(ts: float) -> int:
    """Round epoch seconds to microseconds exactly as datetime.fromtimestamp does (half-even)."""
    frac, whole = math.modf(ts)
    return int(whole) * 1_000_000 + round(frac * 1e6)


@dataclass
class BatchOutcome:
    """The ingest result plus the stored readings, which alert evaluation needs."""

    result: IngestResult
    stored: list[StoredReading] = field(default_factory=list)
    # The stored readings again, per datastream: its key and its (microseconds, value) pairs in
    # the batch's order. Grouped in the loop that checks them, where it costs one dict lookup a
    # reading; alert evaluation then sorts and filters per datastream, not per reading.
    by_datastream: dict[int, tuple[DatastreamKey, list[tuple[int, float]]]] = field(
        default_factory=dict
    )
    previous: dict[int, tuple[datetime, float]] = field(default_factory=dict)
    # Datastreams whose latest state this batch moved forward; see _copy_and_upsert.
    advanced: set[int] = field(default_factory=set)


@dataclass
class _DeadRow:
    seq: int
    reason: str
    detail: str
    topic: str
    sensor: str | None
    metric: str | None
    payload: str


def _reading_topic(r: Reading) -> str:
    if r.district and r.sensor_type:
        return f"city/{r.district}/{r.sensor_type}/{r.sensor}"
    return ""


def _reading_payload(r: Reading) -> str:
    return orjson.dumps(
        {"sensor": r.sensor, "metric": r.metric, "ts": r.ts, "value": r.value, "unit": r.unit}
    ).decode()


def _check(
    r: Reading, key: DatastreamKey | None, *, now: float, oldest: float
) -> tuple[str, str] | None:
    """Return (reason, detail) if the reading must be refused, else None."""
    if key is None:
        return (
            RejectReason.unknown_sensor,
            f"no datastream for sensor {r.sensor!r} metric {r.metric!r}",
        )
    if r.sensor_type and r.sensor_type != key.sensor_type.value:
        return RejectReason.type_mismatch, (
            f"topic says {r.sensor_type!r} but {r.sensor} is {key.sensor_type.value!r}"
        )
    if r.district and key.district_code and r.district != key.district_code:
        return RejectReason.type_mismatch, (
            f"topic says district {r.district!r} but {r.sensor} is in {key.district_code!r}"
        )
    if not math.isfinite(r.ts):
        return RejectReason.bad_timestamp, "timestamp is not finite"
    if r.ts > now + FUTURE_SKEW_S:
        return RejectReason.future_time, f"{r.ts - now:.0f} s ahead of the receiver's clock"
    if r.ts < oldest:
        return RejectReason.too_old, "older than the raw retention window"
    if not math.isfinite(r.value):
        return RejectReason.bad_value, "value is not a finite number"
    if r.unit and r.unit != key.unit_symbol:
        return RejectReason.unit_mismatch, f"unit {r.unit!r}, expected {key.unit_symbol!r}"
    if key.valid_min is not None and r.value < key.valid_min:
        return RejectReason.out_of_range, f"{r.value} below the valid minimum {key.valid_min}"
    if key.valid_max is not None and r.value > key.valid_max:
        return RejectReason.out_of_range, f"{r.value} above the valid maximum {key.valid_max}"
    return None


_known_partition_days: set[date] = set()
_UNIX_DAY0 = date(1970, 1, 1)
_UNSEEN = object()
_FLOAT_MAX = sys.float_info.max


def _us_of(s: StoredReading) -> int:
    return s[2]


def _static_ok(r: Reading, key: DatastreamKey | None) -> tuple[DatastreamKey, float, float] | None:
    """Return the reading's datastream and valid range if the checks that depend only on its
    sensor, metric, unit and topic pass, else None (_check then says which failed)."""
    if key is None:
        return None
    if r.sensor_type and r.sensor_type != key.sensor_type.value:
        return None
    if r.district and key.district_code and r.district != key.district_code:
        return None
    if r.unit and r.unit != key.unit_symbol:
        return None
    # +-float max rather than +-inf: an infinite value must fail the range test (bad_value).
    lo = -_FLOAT_MAX if key.valid_min is None else key.valid_min
    hi = _FLOAT_MAX if key.valid_max is None else key.valid_max
    return key, lo, hi


def _ensure_partitions(session: Session, days: set[date]) -> None:
    missing = days - _known_partition_days
    if missing:
        ensure_observation_partitions(
            session=session, first_day=min(missing), last_day=max(missing)
        )
        _known_partition_days.update(missing)


def ingest_batch(
    *,
    session: Session,
    batch: Batch,
    index: DatastreamIndex = DEFAULT_INDEX,
    retention_days: int = 90,
    now: float | None = None,
    assume_new: bool = False,
) -> BatchOutcome:
    """Validate and store a batch in the session's transaction; the caller commits.

    With `assume_new`, rows go in by a plain INSERT, which raises BatchConflict (the transaction
    is then aborted) if any was stored before: only the transaction's owner can ask for it.
    """
    now = time.time() if now is None else now
    oldest = now - retention_days * 86400.0
    index.refresh_if_needed(session=session)
    result = IngestResult(batch_id=batch.batch_id)
    dead: list[_DeadRow] = []

    # Bridge rejects come first in seq order, then the readings, so seq is stable on redelivery.
    for seq, rej in enumerate(batch.rejects):
        dead.append(_DeadRow(seq, rej.reason, rej.detail, rej.topic, None, None,
                             rej.payload[:_PAYLOAD_LIMIT]))  # fmt: skip
    base = len(batch.rejects)

    # The hot loop (5,000 readings a batch): checks that depend only on a reading's sensor,
    # metric, unit and topic are made once per batch for each such combination (`static`); a
    # reading that passes them and lies inside its time and value ranges is stored without
    # calling _check, which runs only to name what is wrong. NaN and infinities fail the range
    # comparisons, so they reach _check too.
    future = now + FUTURE_SKEW_S
    static: dict[tuple[str, str, str, str, str], tuple[DatastreamKey, float, float] | None] = {}
    good: dict[tuple[int, int], int] = {}  # (datastream, us) -> position in stored
    stored: list[StoredReading] = []
    by_ds: dict[int, tuple[DatastreamKey, list[tuple[int, float]]]] = {}
    copy_rows = bytearray(_COPY_HEADER)
    pack = _COPY_ROW.pack
    pack_direct = _COPY_ROW_DIRECT.pack
    modf = math.modf
    for i, r in enumerate(batch.readings):
        seq = base + i
        combo = (r.sensor, r.metric, r.unit, r.district, r.sensor_type)
        ok = static.get(combo, _UNSEEN)
        if ok is _UNSEEN:
            key = index.get(session=session, sensor=r.sensor, metric=r.metric)
            ok = static[combo] = _static_ok(r, key)
        ts, value = r.ts, r.value
        if ok is not None and oldest <= ts <= future and ok[1] <= value <= ok[2]:  # type: ignore[index]
            key = ok[0]  # type: ignore[index]
            problem = None
        else:
            key = index.get(session=session, sensor=r.sensor, metric=r.metric)
            problem = _check(r, key, now=now, oldest=oldest)
        if problem is None and key is not None:
            frac, whole = modf(ts)  # epoch_to_us, inlined: the call cost 0.4 us a reading
            us = int(whole) * 1_000_000 + round(frac * 1e6)
            ds = key.datastream_id
            prior = good.get((ds, us))
            if prior is None:
                good[(ds, us)] = len(stored)
                value = float(value)
                stored.append((seq, key, us, value))
                if assume_new:  # straight into observation (see _insert_direct)
                    copy_rows += pack_direct(3, 4, ds, 8, us - _PG_EPOCH_US, 8, value)
                else:
                    copy_rows += pack(4, 4, seq, 4, ds, 8, us - _PG_EPOCH_US, 8, value)
                group = by_ds.get(ds)
                if group is None:
                    group = by_ds[ds] = (key, [])
                group[1].append((us, value))
                continue
            if stored[prior][3] == value:
                continue  # the same reading twice in one batch: keep one, silently
            problem = (RejectReason.duplicate, f"same time as seq {stored[prior][0]}, other value")
        reason, detail = problem  # type: ignore[misc]
        dead.append(_DeadRow(seq, reason, detail, _reading_topic(r), r.sensor, r.metric,
                             _reading_payload(r)))  # fmt: skip

    outcome = BatchOutcome(result=result)
    if stored:
        first = min(stored, key=_us_of)[2] // _DAY_US
        last = max(stored, key=_us_of)[2] // _DAY_US
        _ensure_partitions(
            session, {_UNIX_DAY0 + timedelta(days=d) for d in range(first, last + 1)}
        )
        copy_rows += _COPY_TRAILER
        if assume_new:
            raw = session.connection().connection.dbapi_connection
            assert raw is not None
            outcome.previous, outcome.advanced = _insert_direct(raw, copy_rows, by_ds)
            result.stored = len(stored)
        else:
            outcome.previous, outcome.advanced = _copy_and_upsert(
                session, stored, copy_rows, result, dead
            )
        refused = {d.seq for d in dead}
        if refused:  # clashes found by the statement (rare): regroup what was really stored
            stored = [s for s in stored if s[0] not in refused]
            by_ds = {}
            for _seq, key, us, value in stored:
                by_ds.setdefault(key.datastream_id, (key, []))[1].append((us, value))
        outcome.stored, outcome.by_datastream = stored, by_ds
    _write_dead_letters(session, batch, dead)
    result.dead_lettered = len(dead)
    result.reasons = dict(Counter(d.reason for d in dead))
    return outcome


class BatchConflict(Exception):
    """A batch stored with `assume_new` held a reading already stored: roll back, store again."""


# The latest-state part of both batch statements: `prev` reads (and locks) the datastreams'
# latest states, `up` moves them forward. {ids}: the batch's datastream ids; {newest}: one
# (datastream_id, phenomenon_time, result) row per datastream, its newest reading.
_PREV_AND_UP = (
    "prev AS (SELECT l.datastream_id, l.phenomenon_time, l.result "
    "  FROM datastream_latest l "
    "  WHERE l.datastream_id IN ({ids}) "
    "  ORDER BY l.datastream_id FOR UPDATE OF l), "
    "up AS (INSERT INTO datastream_latest "
    "  (datastream_id, phenomenon_time, result, updated_at) "
    "  SELECT datastream_id, phenomenon_time, result, now() FROM ({newest}) n "
    "  ORDER BY datastream_id "
    "  ON CONFLICT (datastream_id) DO UPDATE SET "
    "  phenomenon_time = EXCLUDED.phenomenon_time, result = EXCLUDED.result,"
    "  updated_at = EXCLUDED.updated_at "
    "  WHERE datastream_latest.phenomenon_time <= EXCLUDED.phenomenon_time "
    "  RETURNING datastream_id), "
)
# {sums}: (datastream_id, minute, n, total) rows, each datastream-minute once.
_SUMS_OF = (
    "sums AS (INSERT INTO observation_minute (datastream_id, minute, n, total) "
    "  SELECT s.* FROM ({sums}) s JOIN window_sum_stream w USING (datastream_id) "
    "  ORDER BY 1, 2 "
    "  ON CONFLICT (datastream_id, minute) DO UPDATE SET "
    "  n = observation_minute.n + EXCLUDED.n, "
    "  total = observation_minute.total + EXCLUDED.total) "
    "SELECT 0, datastream_id, phenomenon_time, result FROM prev "
    "UNION ALL SELECT 1, datastream_id, NULL, NULL FROM up"
)
_STAGED_NEWEST = (
    "SELECT DISTINCT ON (datastream_id) datastream_id, phenomenon_time, result "
    "FROM obs_staging ORDER BY datastream_id, phenomenon_time DESC"
)
# ON CONFLICT DO NOTHING inserts each row speculatively (an index probe, the insertion, then a
# confirmation WAL record): with the staging table, 9-12 us of PostgreSQL CPU per reading. A
# batch holding a row stored before is rare (a worker killed before its ack, a sensor's QoS 1
# resend), so the worker first COPYs straight into `observation` (_insert_direct) and takes
# this form only when that raises.
_INSERT_SAFE = (
    "WITH "
    + _PREV_AND_UP.format(ids="SELECT datastream_id FROM obs_staging", newest=_STAGED_NEWEST)
    + (
        "ins AS (INSERT INTO observation (datastream_id, phenomenon_time, result) "
        "  SELECT datastream_id, phenomenon_time, result FROM obs_staging "
        "  ON CONFLICT DO NOTHING RETURNING datastream_id, phenomenon_time, result), "
    )
    # Exactly the rows inserted, never a redelivered one.
    + _SUMS_OF.format(
        sums="SELECT datastream_id, date_trunc('minute', phenomenon_time, 'UTC'), count(*)::int,"
        " sum(result) FROM ins GROUP BY 1, 2"
    )
    + " UNION ALL SELECT 2, count(*)::int, NULL, NULL FROM ins"
)
# After a batch's rows went into `observation` by COPY, the rest from arrays the worker
# computed: each datastream's newest reading, each datastream-minute's count and sum. Times
# travel as microseconds since the Unix epoch; interval * bigint is exact below 2**53 us (the
# year 2255).
_UPSERT_DIRECT = (
    "WITH "
    + _PREV_AND_UP.format(
        ids="SELECT unnest(%(ids)s::int[])",
        newest="SELECT datastream_id, timestamptz 'epoch' + us * interval '1 microsecond' "
        "AS phenomenon_time, result FROM unnest(%(ids)s::int[], %(us)s::int8[], "
        "%(values)s::float8[]) AS b(datastream_id, us, result)",
    )
    + _SUMS_OF.format(
        sums="SELECT datastream_id, timestamptz 'epoch' + us * interval '1 microsecond' "
        "AS minute, n, total FROM unnest(%(m_ids)s::int[], %(m_us)s::int8[], "
        "%(counts)s::int[], %(totals)s::float8[]) AS m(datastream_id, us, n, total)"
    )
)


def _pg_array(items: Iterable[int | float]) -> str:
    """Return a PostgreSQL array literal of numbers, sent as one text parameter: psycopg dumps
    a Python list item by item in Python (a fifth of a batch's wall time under py-spy here)."""
    return "{" + ",".join(map(str, items)) + "}"  # str(float) round-trips exactly


def _insert_direct(
    raw: psycopg.Connection[Any],
    copy_rows: bytes | bytearray,
    by_ds: dict[int, tuple[DatastreamKey, list[tuple[int, float]]]],
) -> tuple[dict[int, tuple[datetime, float]], set[int]]:
    """COPY a batch of new readings straight into `observation`, then move the latest states
    and per-minute sums; return prior latest values and the datastreams moved forward.

    Raises BatchConflict if a reading was stored before (the unique violation aborts the COPY
    and the transaction). Without the staging table and the statement that reads it back,
    PostgreSQL spends 5.7 us of CPU a reading against 8.0 (bench/ingest/README.md).
    """
    ids: list[int] = []
    newest: list[int] = []
    values: list[float] = []
    m_ids: list[int] = []
    minutes: list[int] = []
    counts: list[int] = []
    totals: list[float] = []
    fsum, value_of = math.fsum, _value_of
    for ds in sorted(by_ds):  # the order `prev` and `up` lock in, in every batch
        rows = by_ds[ds][1]
        # In time order (a datastream's times are unique within a batch): cheaper than max()
        # and min() over the tuples, and alert evaluation's own sort then finds them in order.
        rows.sort()
        newest_us, newest_value = rows[-1]
        ids.append(ds)
        newest.append(newest_us)
        values.append(newest_value)
        last = newest_us - newest_us % _MINUTE_US
        if rows[0][0] >= last:  # the usual case: all of its readings in one minute
            m_ids.append(ds)
            minutes.append(last)
            counts.append(len(rows))
            totals.append(fsum(map(value_of, rows)))
            continue
        grouped: dict[int, list[float]] = {}
        for us, v in rows:
            grouped.setdefault(us - us % _MINUTE_US, []).append(v)
        for minute, vs in grouped.items():
            m_ids.append(ds)
            minutes.append(minute)
            counts.append(len(vs))
            totals.append(fsum(vs))
    with raw.cursor() as cur:
        try:
            with cur.copy(
                "COPY observation (datastream_id, phenomenon_time, result) "
                "FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.write(copy_rows)
        except psycopg.errors.UniqueViolation as e:
            raise BatchConflict(str(e)) from e
        cur.execute(
            _UPSERT_DIRECT,
            {"ids": _pg_array(ids), "us": _pg_array(newest), "values": _pg_array(values),
             "m_ids": _pg_array(m_ids), "m_us": _pg_array(minutes),
             "counts": _pg_array(counts), "totals": _pg_array(totals)},
        )  # fmt: skip
        previous: dict[int, tuple[datetime, float]] = {}
        advanced: set[int] = set()
        for kind, ds, ts, value in cur.fetchall():
            if kind == 0:
                previous[ds] = (ts, value)
            else:
                advanced.add(ds)
    return previous, advanced


def _copy_and_upsert(
    session: Session,
    stored: list[StoredReading],
    copy_rows: bytes | bytearray,
    result: IngestResult,
    dead: list[_DeadRow],
) -> tuple[dict[int, tuple[datetime, float]], set[int]]:
    """COPY into staging, insert the rows not stored yet, flag conflicting duplicates; return
    prior latest values and the datastreams whose latest state this batch moved forward.

    `copy_rows` is `stored` in binary COPY format, header and trailer included, built by the
    caller's loop: psycopg's write_row and a datetime per reading cost 2-3 us a reading more.
    """
    raw = session.connection().connection.dbapi_connection
    assert raw is not None
    with raw.cursor() as cur:
        # ON COMMIT DELETE ROWS empties it between transactions, so a transaction that has sent
        # nothing yet finds it empty; only a second batch in one transaction (tests, back-fill
        # scripts) needs the DELETE, one round trip the worker's normal path skips.
        if raw.info.transaction_status != pq.TransactionStatus.IDLE:
            cur.execute("DELETE FROM obs_staging")
        copy_sql = (
            "COPY obs_staging (seq, datastream_id, phenomenon_time, result) "
            "FROM STDIN (FORMAT BINARY)"
        )
        with cur.copy(copy_sql) as copy:
            copy.write(copy_rows)
        # One round trip for the three steps. `prev` locks the latest-state rows (in id order,
        # as the upsert does, the same order in every batch) and reads them as committed after
        # any wait: a batch of the same sensors in flight commits first and is then the
        # "previous" state, for rate-of-change rules and for which readings are new (a sensor's
        # very first row, still uncommitted elsewhere, is not seen). The upsert never moves a
        # datastream back in phenomenon time and holds the row until commit, so batches of one
        # sensor are judged in time order: one whose newest reading is older than the latest
        # (it came late) advances nothing. `ins` counts the rows that were not there yet.
        # `sums` adds exactly those rows (never a redelivered one) to the per-minute sums of
        # the datastreams a window-mean rule watches (WindowSumStream): the rule then reads
        # up to 1,440 sums per datastream for 24 h, not a day of raw rows. Its minute rows are
        # locked only by batches that already hold the datastream's latest-state row (`prev`),
        # so two batches never take them in opposite orders.
        cur.execute(_INSERT_SAFE)
        previous: dict[int, tuple[datetime, float]] = {}
        advanced: set[int] = set()
        for kind, ds, ts, value in cur.fetchall():
            if kind == 0:
                previous[ds] = (ts, value)
            elif kind == 1:
                advanced.add(ds)
            else:
                result.stored = ds  # the count of inserted rows
        # Rows not inserted already existed: same value means redelivery, else a real clash.
        # Only looked up when something conflicted: the join cannot prune partitions and costs
        # ~10 ms per batch, most of a batch's time on the normal path.
        clashes: dict[int, float] = {}
        if result.stored < len(stored):
            cur.execute(
                "SELECT s.seq, o.result FROM obs_staging s JOIN observation o "
                "USING (datastream_id, phenomenon_time) WHERE o.result <> s.result"
            )
            clashes = dict(cur.fetchall())
        result.redelivered = len(stored) - result.stored - len(clashes)
        for seq, key, us, value in stored:
            if seq in clashes:
                dead.append(
                    _DeadRow(seq, RejectReason.duplicate,
                             f"already stored with value {clashes[seq]}", "",
                             key.thing_code, key.metric,
                             orjson.dumps({"ts": from_us(us).isoformat(), "value": value}).decode())
                )  # fmt: skip
    return previous, advanced


def _write_dead_letters(session: Session, batch: Batch, dead: list[_DeadRow]) -> None:
    if not dead:
        return
    received = datetime.fromtimestamp(batch.received_at, tz=UTC)
    session.execute(
        text(
            "INSERT INTO dead_letter (batch_id, seq, received_at, reason, detail, topic, "
            "sensor_code, metric, payload) VALUES (:b, :seq, :rec, :reason, :detail, :topic, "
            ":sensor, :metric, :payload) ON CONFLICT (batch_id, seq) DO NOTHING"
        ),
        [
            {"b": batch.batch_id, "seq": d.seq, "rec": received, "reason": str(d.reason),
             "detail": d.detail, "topic": d.topic, "sensor": d.sensor, "metric": d.metric,
             "payload": d.payload}
            for d in dead
        ],
    )  # fmt: skip


def retention_cutoff(*, days: int, now: datetime | None = None) -> date:
    """Return the first UTC day kept under a raw retention of `days`."""
    return ((now or datetime.now(UTC)) - timedelta(days=days)).date()
