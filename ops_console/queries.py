"""Read queries the console needs that shared/ does not offer yet (candidates to move there).

Every function is keyword-only, `verb_noun(*, session, ...)`, and returns plain typed rows so
that views never touch ORM objects after the session closes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from shared.accounts.models import StaffUser
from shared.alerts.models import AlertRule, RuleKind
from shared.alerts.schemas import AlertRead
from shared.environment.aqi import sub_index
from shared.sensing.models import SensorType
from shared.traffic.derived import congestion_level

# A sensor silent this long is shown as stale, matching the default stale rules (900 s).
STALE_AFTER = timedelta(minutes=15)
SENSOR_STATUSES = ("ok", "warning", "critical", "stale")


@dataclass(frozen=True)
class SensorPoint:
    """One sensor on the map with its status and latest values."""

    id: int
    code: str
    name: str
    sensor_type: str
    district_code: str
    lon: float
    lat: float
    status: str
    last_seen: datetime | None
    latest: list[tuple[str, float, str]]  # (metric, value, unit)


@dataclass(frozen=True)
class DistrictKpi:
    """Key figures of one district."""

    id: int
    code: str
    name: str
    aqi_now: int | None
    aqi_24h: int | None
    mean_speed_kmh: float | None
    congestion: str | None
    open_alerts: int
    open_critical: int
    sensors: int
    # Citizen requests not closed yet whose point lies in the district (None: not counted).
    open_requests: int | None = None


@dataclass(frozen=True)
class SensorHealth:
    """A sensor's liveness and the readings it had refused."""

    code: str
    sensor_type: str
    district_code: str
    last_seen: datetime | None
    status: str
    dead_letters_24h: int
    dead_letters_total: int


@dataclass(frozen=True)
class AuditEvent:
    """One line of an alert's audit trail."""

    alert_id: int
    at: datetime
    actor: str
    action: str
    note: str


@dataclass(frozen=True)
class SensorDetail:
    """A sensor with its datastreams (id, metric, unit)."""

    id: int
    code: str
    name: str
    sensor_type: str
    district_code: str
    lon: float
    lat: float
    datastreams: list[tuple[int, str, str]] = field(default_factory=list)


_SENSORS_SQL = """
    WITH latest AS (
      SELECT d.thing_id, max(l.updated_at) AS seen,
             json_agg(json_build_array(op.code, l.result, d.unit_symbol) ORDER BY op.code)
               FILTER (WHERE l.datastream_id IS NOT NULL) AS vals
      FROM datastream d
      JOIN observed_property op ON op.id = d.observed_property_id
      LEFT JOIN datastream_latest l ON l.datastream_id = d.id
      GROUP BY d.thing_id),
    open_alerts AS (
      SELECT a.thing_id,
             bool_or(a.severity = 'critical' AND r.kind <> 'stale') AS crit,
             bool_or(r.kind <> 'stale') AS warn,
             bool_or(r.kind = 'stale') AS stale
      FROM alert a JOIN alert_rule r ON r.id = a.rule_id
      WHERE a.status <> 'resolved' GROUP BY a.thing_id)
    SELECT t.id, t.code, t.name, t.sensor_type, coalesce(di.code, ''),
           ST_X(loc.geom), ST_Y(loc.geom), latest.seen, latest.vals,
           coalesce(oa.crit, false), coalesce(oa.warn, false), coalesce(oa.stale, false)
    FROM thing t
    LEFT JOIN district di ON di.id = t.district_id
    LEFT JOIN latest ON latest.thing_id = t.id
    LEFT JOIN open_alerts oa ON oa.thing_id = t.id
    JOIN LATERAL (SELECT l.geom FROM thing_location tl JOIN location l ON l.id = tl.location_id
                  WHERE tl.thing_id = t.id ORDER BY l.id LIMIT 1) loc ON true
"""


def _status(seen: datetime | None, crit: bool, warn: bool, stale: bool, now: datetime) -> str:
    if crit:
        return "critical"
    if warn:
        return "warning"
    # A sensor that never reported shows as stale too: the map must not claim it is fine.
    if stale or seen is None or now - seen > STALE_AFTER:
        return "stale"
    return "ok"


def list_sensor_points(*, session: Session, now: datetime | None = None) -> list[SensorPoint]:
    """Return every sensor with a real location, with its status and latest values."""
    # A digital-twin detector of a scenario without a map projection has no place in the city
    # (stored at 0°, 0° with properties.geo = false): keep it off the map.
    where = " WHERE coalesce(t.properties ->> 'geo', 'true') <> 'false'"
    return _sensor_points(session, text(_SENSORS_SQL + where + " ORDER BY t.code"), {}, now)


def get_sensor_point(
    *, session: Session, code: str, now: datetime | None = None
) -> SensorPoint | None:
    """Return one sensor with its location, status and latest values, or None."""
    found = _sensor_points(session, text(_SENSORS_SQL + " WHERE t.code = :code"),
                           {"code": code}, now)  # fmt: skip
    return found[0] if found else None


def _sensor_points(
    session: Session, stmt: Any, params: dict[str, Any], now: datetime | None
) -> list[SensorPoint]:
    now = now or datetime.now(UTC)
    out = []
    for r in session.execute(stmt, params):
        vals = r[8] if isinstance(r[8], list) else orjson.loads(r[8]) if r[8] else []
        out.append(
            SensorPoint(
                id=r[0],
                code=r[1],
                name=r[2],
                sensor_type=str(r[3]),
                district_code=r[4],
                lon=float(r[5]),
                lat=float(r[6]),
                status=_status(r[7], r[9], r[10], r[11], now),
                last_seen=r[7],
                latest=[(v[0], float(v[1]), v[2]) for v in vals],
            )
        )
    return out


_ROADS_SQL = text(
    """
    SELECT s.id, s.name, s.road_class, ST_AsGeoJSON(s.geom, 6), spd.speed
    FROM road_segment s
    LEFT JOIN LATERAL (
      SELECT avg(l.result) AS speed FROM thing t
      JOIN datastream d ON d.thing_id = t.id
      JOIN observed_property op ON op.id = d.observed_property_id AND op.code = 'speed'
      JOIN datastream_latest l ON l.datastream_id = d.id
      WHERE t.sensor_type = 'traffic' AND t.properties->>'edge_id' = s.external_id
        AND l.updated_at > :since) spd ON true
    """
)


def list_road_features(*, session: Session, now: datetime | None = None) -> list[dict[str, Any]]:
    """Return road segments as GeoJSON features with the congestion of their latest speed."""
    since = (now or datetime.now(UTC)) - STALE_AFTER
    feats = []
    for sid, name, road_class, geojson, speed in session.execute(_ROADS_SQL, {"since": since}):
        level = congestion_level(float(speed)) if speed is not None else "UNKNOWN"
        feats.append(
            {
                "type": "Feature",
                "geometry": orjson.loads(geojson),
                "properties": {"id": sid, "name": name, "class": road_class, "congestion": level},
            }
        )
    return feats


_DISTRICT_KPI_SQL = text(
    """
    SELECT di.id, di.code, di.name,
      (SELECT avg(l.result) FROM thing t JOIN datastream d ON d.thing_id = t.id
         JOIN observed_property op ON op.id = d.observed_property_id AND op.code = :pm
         JOIN datastream_latest l ON l.datastream_id = d.id
         WHERE t.district_id = di.id AND l.updated_at > :stale) AS pm_now,
      (SELECT sum(h.total) / nullif(sum(h.count), 0) FROM thing t
         JOIN datastream d ON d.thing_id = t.id
         JOIN observed_property op ON op.id = d.observed_property_id AND op.code = :pm
         JOIN observation_hourly h ON h.datastream_id = d.id
         WHERE t.district_id = di.id AND h.bucket > :day) AS pm_24h,
      (SELECT avg(l.result) FROM thing t JOIN datastream d ON d.thing_id = t.id
         JOIN observed_property op ON op.id = d.observed_property_id AND op.code = 'speed'
         JOIN datastream_latest l ON l.datastream_id = d.id
         WHERE t.district_id = di.id AND l.updated_at > :stale) AS speed,
      (SELECT count(*) FROM alert a WHERE a.district_id = di.id AND a.status <> 'resolved'),
      (SELECT count(*) FROM alert a WHERE a.district_id = di.id AND a.status <> 'resolved'
         AND a.severity = 'critical'),
      (SELECT count(*) FROM thing t WHERE t.district_id = di.id),
      (SELECT count(*) FROM service_request sr
         WHERE sr.status <> 'closed' AND ST_Covers(di.geom, sr.geom))
    FROM district di ORDER BY di.code
    """
)


def _aqi(pm25: float | None) -> int | None:
    # PM2.5 drives the AQI in almost every European city; the 24-h breakpoints are applied to
    # the latest reading as a screening value (a NowCast needs 12 complete hours).
    return sub_index("pm25_24h", float(pm25)) if pm25 is not None else None


def list_district_kpis(*, session: Session, now: datetime | None = None) -> list[DistrictKpi]:
    """Return AQI (now and 24 h), congestion, open alerts, open citizen requests (spatially:
    not closed, point covered by the district) and sensor counts per district."""
    now = now or datetime.now(UTC)
    params = {"pm": "pm25", "stale": now - STALE_AFTER, "day": now - timedelta(hours=24)}
    out = []
    for r in session.execute(_DISTRICT_KPI_SQL, params):
        speed = float(r[5]) if r[5] is not None else None
        out.append(
            DistrictKpi(
                id=r[0],
                code=r[1],
                name=r[2],
                aqi_now=_aqi(r[3]),
                aqi_24h=_aqi(r[4]),
                mean_speed_kmh=speed,
                congestion=congestion_level(speed) if speed is not None else None,
                open_alerts=r[6],
                open_critical=r[7],
                sensors=r[8],
                open_requests=r[9],
            )
        )
    return out


def list_district_features(*, session: Session) -> list[dict[str, Any]]:
    """Return district boundaries as GeoJSON features carrying their KPIs."""
    kpis = {k.id: k for k in list_district_kpis(session=session)}
    feats = []
    for did, geojson in session.execute(text("SELECT id, ST_AsGeoJSON(geom, 6) FROM district")):
        k = kpis[did]
        feats.append(
            {
                "type": "Feature",
                "geometry": orjson.loads(geojson),
                "properties": {
                    "id": did,
                    "code": k.code,
                    "name": k.name,
                    "aqi": k.aqi_now,
                    "congestion": k.congestion or "UNKNOWN",
                    "open_alerts": k.open_alerts,
                    "open_requests": k.open_requests,
                },
            }
        )
    return feats


_ALERT_READ_SQL = """
    SELECT a.id, a.rule_id, r.name, a.thing_id, t.code, a.datastream_id, a.district_id,
           coalesce(di.code, ''), t.sensor_type, coalesce(op.code, r.metric), a.severity,
           a.status, a.value, a.message, a.opened_at, a.updated_at,
           ST_X(loc.geom), ST_Y(loc.geom), a.assigned_to, a.assigned_at
    FROM alert a
    JOIN alert_rule r ON r.id = a.rule_id
    JOIN thing t ON t.id = a.thing_id
    LEFT JOIN district di ON di.id = a.district_id
    LEFT JOIN datastream d ON d.id = a.datastream_id
    LEFT JOIN observed_property op ON op.id = d.observed_property_id
    LEFT JOIN LATERAL (SELECT l.geom FROM thing_location tl JOIN location l
                       ON l.id = tl.location_id WHERE tl.thing_id = t.id
                       ORDER BY l.id LIMIT 1) loc ON true
"""


def _alert_read(r: Any) -> AlertRead:
    return AlertRead(
        id=r[0],
        rule_id=r[1],
        rule_name=r[2],
        thing_id=r[3],
        thing_code=r[4],
        datastream_id=r[5],
        district_id=r[6],
        district_code=r[7],
        sensor_type=r[8],
        metric=r[9] or "",
        severity=r[10],
        status=r[11],
        value=r[12],
        message=r[13],
        opened_at=r[14],
        updated_at=r[15],
        lon=float(r[16] or 0.0),
        lat=float(r[17] or 0.0),
        assigned_to=r[18],
        assigned_at=r[19],
    )


def get_alert_read(*, session: Session, alert_id: int) -> AlertRead | None:
    """Return one alert in the shape the live feed carries, or None."""
    row = session.execute(text(_ALERT_READ_SQL + " WHERE a.id = :id"), {"id": alert_id}).first()
    return _alert_read(row) if row is not None else None


def list_feed_alerts(
    *, session: Session, limit: int = 100, resolved_within: timedelta = timedelta(hours=1)
) -> list[AlertRead]:
    """Return unresolved alerts plus recently resolved ones, newest first."""
    since = datetime.now(UTC) - resolved_within
    rows = session.execute(
        text(
            _ALERT_READ_SQL + " WHERE a.status <> 'resolved' OR a.resolved_at > :since "
            "ORDER BY a.updated_at DESC, a.id DESC LIMIT :limit"
        ),
        {"since": since, "limit": limit},
    )
    return [_alert_read(r) for r in rows]


def list_sensor_alerts(*, session: Session, thing_id: int, limit: int = 50) -> list[AlertRead]:
    """Return a sensor's alerts, newest first."""
    rows = session.execute(
        text(_ALERT_READ_SQL + " WHERE a.thing_id = :t ORDER BY a.opened_at DESC LIMIT :n"),
        {"t": thing_id, "n": limit},
    )
    return [_alert_read(r) for r in rows]


def list_alert_events(*, session: Session, alert_ids: list[int]) -> list[AuditEvent]:
    """Return the audit trail of the given alerts, oldest first."""
    if not alert_ids:
        return []
    rows = session.execute(
        text(
            "SELECT alert_id, at, actor, action, note FROM alert_event "
            "WHERE alert_id = ANY(:ids) ORDER BY at, id"
        ),
        {"ids": alert_ids},
    )
    return [AuditEvent(alert_id=r[0], at=r[1], actor=r[2], action=r[3], note=r[4]) for r in rows]


def get_sensor_detail(*, session: Session, code: str) -> SensorDetail | None:
    """Return a sensor and its datastreams by code, or None."""
    row = session.execute(
        text(
            "SELECT t.id, t.code, t.name, t.sensor_type, coalesce(di.code, ''), "
            "ST_X(loc.geom), ST_Y(loc.geom) FROM thing t "
            "LEFT JOIN district di ON di.id = t.district_id "
            "LEFT JOIN LATERAL (SELECT l.geom FROM thing_location tl JOIN location l "
            "  ON l.id = tl.location_id WHERE tl.thing_id = t.id ORDER BY l.id LIMIT 1) loc "
            "ON true WHERE t.code = :code"
        ),
        {"code": code},
    ).first()
    if row is None:
        return None
    streams = session.execute(
        text(
            "SELECT d.id, op.code, d.unit_symbol FROM datastream d "
            "JOIN observed_property op ON op.id = d.observed_property_id "
            "WHERE d.thing_id = :t ORDER BY op.code"
        ),
        {"t": row[0]},
    )
    return SensorDetail(
        id=row[0],
        code=row[1],
        name=row[2],
        sensor_type=str(row[3]),
        district_code=row[4],
        lon=float(row[5] or 0),
        lat=float(row[6] or 0),
        datastreams=[(s[0], s[1], s[2]) for s in streams],
    )


def list_observations(
    *, session: Session, datastream_id: int, since: datetime
) -> list[tuple[datetime, float]]:
    """Return raw readings of a datastream since a time, oldest first (at most 5,000)."""
    rows = session.execute(
        text(
            "SELECT phenomenon_time, result FROM (SELECT phenomenon_time, result FROM observation "
            "WHERE datastream_id = :d AND phenomenon_time > :since "
            "ORDER BY phenomenon_time DESC LIMIT 5000) x ORDER BY phenomenon_time"
        ),
        {"d": datastream_id, "since": since},
    )
    return [(r[0], float(r[1])) for r in rows]


def list_hourly(
    *, session: Session, datastream_id: int, since: datetime
) -> list[tuple[datetime, float, float, float]]:
    """Return hourly (bucket, mean, min, max) of a datastream since a time, oldest first."""
    rows = session.execute(
        text(
            "SELECT bucket, total / nullif(count, 0), min, max FROM observation_hourly "
            "WHERE datastream_id = :d AND bucket > :since ORDER BY bucket"
        ),
        {"d": datastream_id, "since": since},
    )
    return [(r[0], float(r[1] or 0), float(r[2]), float(r[3])) for r in rows]


def find_threshold_rule(*, session: Session, sensor_type: str, metric: str) -> AlertRule | None:
    """Return the enabled threshold rule for a sensor type and metric, if any."""
    return session.scalar(
        select(AlertRule)
        .where(AlertRule.sensor_type == SensorType(sensor_type), AlertRule.metric == metric)
        .where(AlertRule.kind == RuleKind.threshold, AlertRule.enabled.is_(True))
        .order_by(AlertRule.id)
        .limit(1)
    )


def list_sensor_health(*, session: Session, now: datetime | None = None) -> list[SensorHealth]:
    """Return every sensor's last-seen time, status and dead-letter counts, worst first."""
    now = now or datetime.now(UTC)
    dead = {
        r[0]: (r[1], r[2])
        for r in session.execute(
            text(
                "SELECT sensor_code, count(*) FILTER (WHERE received_at > :day), count(*) "
                "FROM dead_letter WHERE sensor_code IS NOT NULL GROUP BY sensor_code"
            ),
            {"day": now - timedelta(hours=24)},
        )
    }
    out = [
        SensorHealth(
            code=p.code,
            sensor_type=p.sensor_type,
            district_code=p.district_code,
            last_seen=p.last_seen,
            status=p.status,
            dead_letters_24h=dead.get(p.code, (0, 0))[0],
            dead_letters_total=dead.get(p.code, (0, 0))[1],
        )
        for p in list_sensor_points(session=session, now=now)
    ]
    rank = {"critical": 0, "stale": 1, "warning": 2, "ok": 3}
    return sorted(out, key=lambda h: (rank[h.status], -h.dead_letters_24h, h.code))


def count_dead_letters_by_reason(*, session: Session, since: datetime) -> list[tuple[str, int]]:
    """Return (reason, count) of dead letters received since a time, most frequent first."""
    rows = session.execute(
        text(
            "SELECT reason, count(*) FROM dead_letter WHERE received_at > :since "
            "GROUP BY reason ORDER BY count(*) DESC, reason"
        ),
        {"since": since},
    )
    return [(r[0], int(r[1])) for r in rows]


def list_district_choices(*, session: Session) -> list[tuple[int, str, str]]:
    """Return (id, code, name) of every district, by code."""
    rows = session.execute(text("SELECT id, code, name FROM district ORDER BY code"))
    return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]


def get_staff_user(*, session: Session, username: str) -> StaffUser | None:
    """Return the staff user with this username, or None."""
    return session.scalar(select(StaffUser).where(StaffUser.username == username))


def list_active_staff(*, session: Session) -> list[tuple[str, str]]:
    """Return (username, display name) of every active staff user, by username."""
    rows = session.execute(
        select(StaffUser.username, StaffUser.display_name)
        .where(StaffUser.is_active.is_(True))
        .order_by(StaffUser.username)
    )
    return [(str(r[0]), str(r[1])) for r in rows]


def list_alert_assignees(*, session: Session, alert_ids: list[int]) -> dict[int, str]:
    """Return {alert id: assigned staff username} for those of the given alerts assigned."""
    if not alert_ids:
        return {}
    rows = session.execute(
        text("SELECT id, assigned_to FROM alert WHERE id = ANY(:ids) AND assigned_to IS NOT NULL"),
        {"ids": alert_ids},
    )
    return {int(r[0]): str(r[1]) for r in rows}


def get_city_bounds(*, session: Session) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """Return ((south, west), (north, east)) around every district, or None if there are none."""
    row = session.execute(
        text(
            "SELECT ST_YMin(e), ST_XMin(e), ST_YMax(e), ST_XMax(e) "
            "FROM (SELECT ST_Extent(geom) AS e FROM district) x"
        )
    ).first()
    if row is None or row[0] is None:
        return None
    return (float(row[0]), float(row[1])), (float(row[2]), float(row[3]))
