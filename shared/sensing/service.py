"""Sensing queries and changes: things, datastreams and observation partitions."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from shared.districts.models import District
from shared.geo import SRID
from shared.sensing.models import DeviceCredential, Location, SensorType, Thing, thing_location
from shared.sensing.schemas import DatastreamKey


def ensure_observation_partitions(*, session: Session, first_day: date, last_day: date) -> int:
    """Create the missing daily observation partitions in [first_day, last_day]; return how many."""
    created = session.scalar(
        text("SELECT smartcity_ensure_observation_partitions(:first, :last)"),
        {"first": first_day, "last": last_day},
    )
    return int(created or 0)


def ensure_partitions_around_now(
    *, session: Session, ahead_days: int, back_days: int = 1, now: datetime | None = None
) -> int:
    """Create partitions from `back_days` ago to `ahead_days` ahead (UTC days); return how many."""
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    return ensure_observation_partitions(
        session=session,
        first_day=today - timedelta(days=back_days),
        last_day=today + timedelta(days=ahead_days),
    )


def list_observation_partitions(*, session: Session) -> list[str]:
    """Return the names of the observation partitions, oldest first."""
    rows = session.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'observation'::regclass ORDER BY c.relname"
        )
    )
    return [r[0] for r in rows]


def things_in_district(
    *, session: Session, district_id: int, sensor_type: SensorType | None = None
) -> list[Thing]:
    """Return the things whose location lies inside the district's boundary (spatial test)."""
    stmt = (
        select(Thing)
        .join(thing_location, thing_location.c.thing_id == Thing.id)
        .join(Location, Location.id == thing_location.c.location_id)
        .join(District, func.ST_Covers(District.geom, Location.geom))
        .where(District.id == district_id)
        .order_by(Thing.code)
    )
    if sensor_type is not None:
        stmt = stmt.where(Thing.sensor_type == sensor_type)
    return list(session.scalars(stmt).unique())


def things_near(
    *, session: Session, lon: float, lat: float, radius_m: float
) -> list[tuple[Thing, float]]:
    """Return (thing, distance in metres) within radius_m of a WGS84 point, nearest first."""
    # Geography casts give metres on the spheroid, not degrees.
    pt = func.ST_SetSRID(func.ST_MakePoint(lon, lat), SRID)
    dist = func.ST_Distance(func.Geography(Location.geom), func.Geography(pt))
    stmt = (
        select(Thing, dist.label("d"))
        .join(thing_location, thing_location.c.thing_id == Thing.id)
        .join(Location, Location.id == thing_location.c.location_id)
        .where(func.ST_DWithin(func.Geography(Location.geom), func.Geography(pt), radius_m))
        .order_by(dist)
    )
    return [(row[0], float(row[1])) for row in session.execute(stmt)]


def load_datastream_keys(
    *, session: Session, thing_codes: Sequence[str] | None = None
) -> list[DatastreamKey]:
    """Return datastreams (all, or the given things') with thing, metric, district and range."""
    where = "" if thing_codes is None else " WHERE t.code = ANY(:codes)"
    rows = session.execute(
        text(
            "SELECT d.id, t.id, t.code, op.code, d.sensor_type, t.district_id, "
            "coalesce(di.code, ''), d.unit_symbol, d.valid_min, d.valid_max, "
            "ST_X(l.geom), ST_Y(l.geom) "
            "FROM datastream d JOIN thing t ON t.id = d.thing_id "
            "JOIN observed_property op ON op.id = d.observed_property_id "
            "LEFT JOIN district di ON di.id = t.district_id "
            "LEFT JOIN LATERAL (SELECT loc.geom FROM thing_location tl "
            "  JOIN location loc ON loc.id = tl.location_id WHERE tl.thing_id = t.id "
            "  ORDER BY loc.id LIMIT 1) l ON true" + where
        ),
        {} if thing_codes is None else {"codes": list(thing_codes)},
    )
    return [
        DatastreamKey(
            datastream_id=r[0],
            thing_id=r[1],
            thing_code=r[2],
            metric=r[3],
            sensor_type=SensorType(r[4]),
            district_id=r[5],
            district_code=r[6],
            unit_symbol=r[7],
            valid_min=r[8],
            valid_max=r[9],
            lon=float(r[10] or 0.0),
            lat=float(r[11] or 0.0),
        )
        for r in rows
    ]


# Roll-ups are cut in UTC so that partitions, hours and days line up; local-day reports are
# computed from hourly rows.
_ROLLUP_HOURLY = text(
    "INSERT INTO observation_hourly (datastream_id, bucket, count, total, min, max) "
    "SELECT datastream_id, date_trunc('hour', phenomenon_time, 'UTC'), count(*), sum(result),"
    " min(result), max(result) FROM observation "
    "WHERE phenomenon_time >= :since GROUP BY 1, 2 "
    "ON CONFLICT (datastream_id, bucket) DO UPDATE SET count = EXCLUDED.count,"
    " total = EXCLUDED.total, min = EXCLUDED.min, max = EXCLUDED.max"
)
_ROLLUP_DAILY = text(
    "INSERT INTO observation_daily (datastream_id, bucket, count, total, min, max) "
    "SELECT datastream_id, date_trunc('day', bucket, 'UTC'), sum(count), sum(total),"
    " min(min), max(max) FROM observation_hourly "
    "WHERE bucket >= date_trunc('day', CAST(:since AS timestamptz), 'UTC') GROUP BY 1, 2 "
    "ON CONFLICT (datastream_id, bucket) DO UPDATE SET count = EXCLUDED.count,"
    " total = EXCLUDED.total, min = EXCLUDED.min, max = EXCLUDED.max"
)
ROLLUP_YEARS = 10


def roll_up(
    *, session: Session, lookback_hours: int, now: datetime | None = None
) -> dict[str, int]:
    """Recompute hourly and daily aggregates from `lookback_hours` ago; idempotent."""
    now = now or datetime.now(UTC)
    since = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=lookback_hours)
    hourly = session.execute(_ROLLUP_HOURLY, {"since": since}).rowcount
    daily = session.execute(_ROLLUP_DAILY, {"since": since}).rowcount
    return {"hourly": hourly, "daily": daily}


def apply_retention(
    *, session: Session, raw_days: int, now: datetime | None = None
) -> dict[str, int]:
    """Drop whole raw partitions older than raw_days, and roll-ups older than ten years."""
    now = now or datetime.now(UTC)
    cutoff = (now - timedelta(days=raw_days)).date()
    dropped = 0
    for name in list_observation_partitions(session=session):
        day = datetime.strptime(name.removeprefix("observation_p"), "%Y%m%d").date()
        if day < cutoff:
            # Dropping a partition is instant and leaves no dead tuples, unlike DELETE.
            session.execute(text(f'DROP TABLE "{name}"'))
            dropped += 1
    old = now.replace(year=now.year - ROLLUP_YEARS)
    hourly = session.execute(text("DELETE FROM observation_hourly WHERE bucket < :t"), {"t": old})
    daily = session.execute(text("DELETE FROM observation_daily WHERE bucket < :t"), {"t": old})
    return {"partitions_dropped": dropped, "hourly_deleted": hourly.rowcount,
            "daily_deleted": daily.rowcount}  # fmt: skip


# Minutes are kept this long past a marker's window: a rule evaluated a little after a minute
# left its window must not find it pruned early, and a window widened by an admin is rebuilt.
WINDOW_SUM_MARGIN_S = 3600


def set_window_sum_streams(*, session: Session, windows: Mapping[int, int]) -> dict[str, int]:
    """Make the datastreams with per-minute sums exactly `windows` (id -> longest window, s)."""
    existing: dict[int, int] = dict(
        session.execute(text("SELECT datastream_id, window_s FROM window_sum_stream")).all()
    )
    gone = [ds for ds in existing if ds not in windows]
    if gone:
        session.execute(
            text("DELETE FROM window_sum_stream WHERE datastream_id = ANY(:ids)"), {"ids": gone}
        )
        session.execute(
            text("DELETE FROM observation_minute WHERE datastream_id = ANY(:ids)"), {"ids": gone}
        )
    new = {ds: w for ds, w in windows.items() if ds not in existing}
    if new:
        session.execute(
            text(
                "INSERT INTO window_sum_stream (datastream_id, window_s, ready) "
                "SELECT id, w, false "
                "FROM unnest(CAST(:ids AS int[]), CAST(:ws AS int[])) AS u(id, w) "
                "ON CONFLICT (datastream_id) DO NOTHING"
            ),
            {"ids": list(new), "ws": list(new.values())},
        )
    changed = {ds: w for ds, w in windows.items() if ds in existing and existing[ds] != w}
    if changed:
        # A wider window needs minutes that may have been pruned already: rebuild it. A marker
        # that existed is armed already (batches add to it), so the rebuild can run at once.
        session.execute(
            text(
                "UPDATE window_sum_stream s "
                "SET window_s = u.w, ready = s.ready AND u.w <= s.window_s "
                "FROM unnest(CAST(:ids AS int[]), CAST(:ws AS int[])) AS u(id, w) "
                "WHERE s.datastream_id = u.id"
            ),
            {"ids": list(changed), "ws": list(changed.values())},
        )
    return {"added": len(new), "removed": len(gone), "changed": len(changed)}


def arm_window_sum_streams(*, session: Session) -> int:
    """Arm the markers added by an earlier, committed transaction; return how many."""
    # clock_timestamp(), not now(): the arming instant must follow the markers' commit.
    return session.execute(
        text("UPDATE window_sum_stream SET armed_at = clock_timestamp() WHERE armed_at IS NULL")
    ).rowcount


def rebuild_window_sums(
    *, session: Session, now: datetime | None = None, limit: int | None = None
) -> dict[str, int]:
    """Rebuild from raw rows the sums of armed markers once safe (at most `limit` datastreams:
    their batches wait meanwhile); return rebuilt/pending."""
    now = now or datetime.now(UTC)
    todo = session.execute(
        text(
            "SELECT datastream_id, window_s, armed_at FROM window_sum_stream "
            "WHERE NOT ready AND armed_at IS NOT NULL ORDER BY datastream_id"
        )
    ).all()
    pending = session.scalar(
        text("SELECT count(*) FROM window_sum_stream WHERE NOT ready AND armed_at IS NULL")
    )
    if not todo:
        return {"rebuilt": 0, "pending": int(pending or 0)}
    # A batch whose statement began before a marker was committed did not add to its sums. Such
    # a batch's transaction began before the marker was armed, so once no client transaction
    # that old remains, every later batch adds its readings and the rebuild below is exact.
    # pg_stat_activity is read once per transaction and then cached: clear it to see now.
    session.execute(text("SELECT pg_stat_clear_snapshot()"))
    oldest = session.scalar(
        text(
            "SELECT min(xact_start) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
            "AND datname = current_database() AND backend_type = 'client backend'"
        )
    )
    ids = [ds for ds, _w, armed in todo if oldest is None or oldest > armed][:limit]
    if not ids:
        return {"rebuilt": 0, "pending": int(pending or 0) + len(todo)}
    since = now - timedelta(seconds=max(w for _d, w, _a in todo) + WINDOW_SUM_MARGIN_S)
    # Lock the latest-state rows in id order, as a batch does: batches of these datastreams in
    # flight commit first (and are then in the raw rows); later ones wait and add to the result.
    session.execute(
        text(
            "SELECT 1 FROM datastream_latest WHERE datastream_id = ANY(:ids) "
            "ORDER BY datastream_id FOR UPDATE"
        ),
        {"ids": ids},
    )
    session.execute(
        text("DELETE FROM observation_minute WHERE datastream_id = ANY(:ids)"), {"ids": ids}
    )
    session.execute(
        text(
            "INSERT INTO observation_minute (datastream_id, minute, n, total) "
            "SELECT datastream_id, date_trunc('minute', phenomenon_time, 'UTC'), count(*), "
            "sum(result) FROM observation WHERE datastream_id = ANY(:ids) "
            "AND phenomenon_time >= :since GROUP BY 1, 2"
        ),
        {"ids": ids, "since": since},
    )
    session.execute(
        text("UPDATE window_sum_stream SET ready = true WHERE datastream_id = ANY(:ids)"),
        {"ids": ids},
    )
    return {"rebuilt": len(ids), "pending": int(pending or 0) + len(todo) - len(ids)}


def prune_window_sums(*, session: Session, now: datetime | None = None) -> int:
    """Delete per-minute sums past their marker's window plus the margin."""
    # Per marker, a range of the primary key (datastream_id, minute): no scan of the table.
    # Rows a batch added just as its marker was removed outlive it; they are never read (reads
    # join the marker) and a marker added again is rebuilt from scratch.
    return session.execute(
        text(
            "DELETE FROM observation_minute m USING window_sum_stream w "
            "WHERE m.datastream_id = w.datastream_id AND m.minute < "
            "CAST(:now AS timestamptz) - make_interval(secs => w.window_s + :margin)"
        ),
        {"now": now or datetime.now(UTC), "margin": WINDOW_SUM_MARGIN_S},
    ).rowcount


def raw_window_means(
    *, session: Session, ids: Sequence[int], window_s: int, now: datetime
) -> dict[int, float]:
    """Return each datastream's mean over the window from its raw rows (a scan of the window:
    only for datastreams without trusted per-minute sums)."""
    rows = session.execute(
        text(
            "SELECT datastream_id, avg(result) FROM observation "
            "WHERE datastream_id = ANY(:ids) AND phenomenon_time > :since "
            "GROUP BY datastream_id"
        ),
        {"ids": list(ids), "since": now - timedelta(seconds=window_s)},
    ).all()
    return {ds: float(mean) for ds, mean in rows}


def window_means(
    *, session: Session, ids: Sequence[int], window_s: int, now: datetime
) -> dict[int, float | None]:
    """Return each ready datastream's mean over the window from its per-minute sums.

    A datastream absent from the result has no trusted sums (not marked, or not rebuilt yet);
    None means it has no reading in the window. The window is whole UTC minutes: the minute
    holding `now - window_s` is left out, so a 24-h window spans 23 h 59 min to 24 h.
    """
    since = now - timedelta(seconds=window_s)
    rows = session.execute(
        text(
            "SELECT w.datastream_id, sum(m.total) / nullif(sum(m.n), 0) FROM window_sum_stream w "
            "LEFT JOIN observation_minute m ON m.datastream_id = w.datastream_id "
            "AND m.minute > :since WHERE w.datastream_id = ANY(:ids) AND w.ready "
            "AND w.window_s >= :window GROUP BY w.datastream_id"
        ),
        {"ids": list(ids), "since": since, "window": window_s},
    ).all()
    return {ds: (None if mean is None else float(mean)) for ds, mean in rows}


def _device_key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def issue_device_key(*, session: Session, thing_code: str) -> str:
    """Create a new HTTP-ingest key for a sensor and return it; it is never shown again."""
    thing = session.scalar(select(Thing).where(Thing.code == thing_code))
    if thing is None:
        raise LookupError(f"no sensor with code {thing_code!r}")
    key = "dev_" + secrets.token_urlsafe(32)
    cred = DeviceCredential(
        thing_id=thing.id, key_prefix=key[:12], key_hash=_device_key_hash(key),
        created_at=datetime.now(UTC),
    )  # fmt: skip
    session.add(cred)
    session.flush()
    return key


def authenticate_device(*, session: Session, key: str) -> Thing | None:
    """Return the sensor a device key belongs to, or None for an unknown or revoked key."""
    return session.scalar(
        select(Thing)
        .join(DeviceCredential, DeviceCredential.thing_id == Thing.id)
        .where(
            DeviceCredential.key_hash == _device_key_hash(key),
            DeviceCredential.revoked_at.is_(None),
        )
    )
