"""Alert rules and the alert state machine: evaluate readings, open, escalate, resolve, audit."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from geoalchemy2.shape import to_shape
from shapely import wkt
from shapely.geometry import MultiPolygon, Point
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from shared.accounts.models import StaffUser
from shared.alerts.models import (
    Alert,
    AlertEvent,
    AlertRule,
    AlertStatus,
    Direction,
    RuleKind,
    Severity,
)
from shared.alerts.schemas import AlertChange, AlertRead, RuleCreate
from shared.geo import to_db
from shared.ingest.urgent import UrgentLevel
from shared.sensing.models import SensorType
from shared.sensing.schemas import DatastreamKey
from shared.sensing.service import raw_window_means, window_means

SYSTEM = "system"

# Defaults for a new city, in each datastream's unit. Air-quality levels follow the EPA AQI
# "unhealthy for sensitive groups" / "unhealthy" breakpoints (89 FR 16202) used as 1-h screening
# levels; noise follows WHO 2018 road-traffic guidance (night 45, day 53 dB Lden) loosened for
# kerbside monitors; traffic speed is low-is-bad (congestion levels HEAVY < 15, SEVERE < 5 km/h).
DEFAULT_RULES: tuple[RuleCreate, ...] = (
    RuleCreate(name="PM2.5 high", kind=RuleKind.threshold, sensor_type=SensorType.air_quality,
               metric="pm25", warning=35.5, critical=55.5, hysteresis=2.0),
    RuleCreate(name="PM2.5 24-h mean high", kind=RuleKind.sustained,
               sensor_type=SensorType.air_quality, metric="pm25", warning=35.5, critical=55.5,
               window_s=86_400, hysteresis=1.0),
    RuleCreate(name="PM10 high", kind=RuleKind.threshold, sensor_type=SensorType.air_quality,
               metric="pm10", warning=155, critical=255, hysteresis=5.0),
    RuleCreate(name="NO2 high", kind=RuleKind.threshold, sensor_type=SensorType.air_quality,
               metric="no2", warning=101, critical=361, hysteresis=5.0),
    RuleCreate(name="Ozone high", kind=RuleKind.threshold, sensor_type=SensorType.air_quality,
               metric="o3", warning=0.071, critical=0.086, hysteresis=0.003),
    RuleCreate(name="CO high", kind=RuleKind.threshold, sensor_type=SensorType.air_quality,
               metric="co", warning=9.5, critical=12.5, hysteresis=0.5),
    RuleCreate(name="Noise loud", kind=RuleKind.threshold, sensor_type=SensorType.noise,
               metric="laeq", warning=70, critical=80, hysteresis=2.0),
    RuleCreate(name="Noise jump", kind=RuleKind.rate_of_change, sensor_type=SensorType.noise,
               metric="laeq", warning=15, critical=30),
    RuleCreate(name="Traffic congested", kind=RuleKind.threshold, sensor_type=SensorType.traffic,
               metric="speed", direction=Direction.below, warning=15, critical=5, hysteresis=5.0),
    RuleCreate(name="Detector occupancy high", kind=RuleKind.threshold,
               sensor_type=SensorType.traffic, metric="occupancy", warning=60, critical=85,
               hysteresis=5.0),
    RuleCreate(name="Heat", kind=RuleKind.threshold, sensor_type=SensorType.weather,
               metric="temperature", warning=32, critical=38, hysteresis=1.0),
    RuleCreate(name="Storm wind", kind=RuleKind.threshold, sensor_type=SensorType.weather,
               metric="wind_speed", warning=17.2, critical=24.5, hysteresis=1.0),
    *(
        RuleCreate(name=f"{st.value.replace('_', ' ').capitalize()} sensor silent",
                   kind=RuleKind.stale, sensor_type=st, stale_after_s=900)
        for st in (SensorType.traffic, SensorType.air_quality, SensorType.noise,
                   SensorType.weather)
    ),
)  # fmt: skip


@dataclass(frozen=True)
class RuleSpec:
    """An enabled rule held in memory by the worker."""

    id: int
    name: str
    kind: RuleKind
    sensor_type: SensorType
    metric: str
    direction: Direction
    warning: float | None
    critical: float | None
    hysteresis: float
    window_s: int | None
    stale_after_s: int | None
    district_ids: frozenset[int] | None
    area: BaseGeometry | None

    def applies_to(self, key: DatastreamKey) -> bool:
        """Return True if the rule watches this datastream (type, metric and geofence)."""
        if key.sensor_type != self.sensor_type:
            return False
        if self.kind != RuleKind.stale and key.metric != self.metric:
            return False
        return self.covers(key)

    def covers(self, key: DatastreamKey) -> bool:
        """Return True if the sensor lies inside the rule's geofence (or there is none)."""
        if self.district_ids and key.district_id not in self.district_ids:
            return False
        return self.area is None or self.area.covers(Point(key.lon, key.lat))

    def classify(self, value: float) -> Severity | None:
        """Return the severity `value` deserves under this rule, or None."""
        crit, warn = self.critical, self.warning
        if self.direction == Direction.above:
            if crit is not None and value >= crit:
                return Severity.critical
            if warn is not None and value >= warn:
                return Severity.warning
            return None
        if crit is not None and value <= crit:
            return Severity.critical
        if warn is not None and value <= warn:
            return Severity.warning
        return None

    def clears(self, value: float) -> bool:
        """Return True if `value` is far enough on the good side to resolve (hysteresis)."""
        level = self.warning if self.warning is not None else self.critical
        assert level is not None
        if self.direction == Direction.above:
            return value < level - self.hysteresis
        return value > level + self.hysteresis


def create_rule(*, session: Session, data: RuleCreate, actor: str = SYSTEM) -> AlertRule:
    """Create an alert rule."""
    fields: dict[str, Any] = data.model_dump(exclude={"area_wkt"})
    rule = AlertRule(**fields, updated_by=actor)
    if data.area_wkt:
        shape = wkt.loads(data.area_wkt)
        rule.area = to_db(shape if isinstance(shape, MultiPolygon) else MultiPolygon([shape]))
    session.add(rule)
    session.flush()
    return rule


def ensure_default_rules(*, session: Session) -> int:
    """Create the default rules that do not exist yet; return how many were created."""
    existing = set(session.scalars(select(AlertRule.name)))
    created = 0
    for data in DEFAULT_RULES:
        if data.name not in existing:
            create_rule(session=session, data=data)
            created += 1
    return created


def load_rules(*, session: Session) -> list[RuleSpec]:
    """Return the enabled rules as in-memory specs."""
    rules = session.scalars(select(AlertRule).where(AlertRule.enabled.is_(True)))
    return [
        RuleSpec(
            id=r.id,
            name=r.name,
            kind=r.kind,
            sensor_type=r.sensor_type,
            metric=r.metric,
            direction=r.direction,
            warning=r.warning,
            critical=r.critical,
            hysteresis=r.hysteresis,
            window_s=r.window_s,
            stale_after_s=r.stale_after_s,
            district_ids=frozenset(r.district_ids) if r.district_ids else None,
            area=to_shape(r.area) if r.area is not None else None,
        )
        for r in rules
    ]


def list_urgent_levels(*, rules: Sequence[RuleSpec]) -> list[UrgentLevel]:
    """Return the threshold rules' levels for the bridges' urgent lane (shared.ingest.urgent)."""
    return [
        UrgentLevel(
            sensor_type=r.sensor_type.value,
            metric=r.metric,
            above=r.direction == Direction.above,
            warning=r.warning,
            critical=r.critical,
            hysteresis=r.hysteresis,
        )
        for r in rules
        if r.kind == RuleKind.threshold and (r.warning is not None or r.critical is not None)
    ]


@dataclass
class Observed:
    """What a rule saw for one sensor: the value it judged and the sensor it belongs to."""

    rule: RuleSpec
    key: DatastreamKey
    value: float


# A window mean moves slowly; recomputing it for every batch would read up to 1,440 per-minute
# sums per datastream (a day of raw rows where the sums are not ready) each time, so it is
# re-evaluated at most this often per rule and datastream.
SUSTAINED_EVERY_S = 60.0


def _transitions(rule: RuleSpec, values: Sequence[float]) -> list[float]:
    """The readings a threshold rule must judge in turn: each one whose verdict (severity, clears)
    differs from the reading before it, and the last one (the alert's latest value).

    A repeated verdict changes no alert (open, escalate and resolve each need a new one), so
    the rest can be skipped: a batch of 1,000 steady readings costs one judgement, not 1,000.
    """
    # Most series sit wholly on the good side, past the hysteresis band: every verdict is
    # (None, clears), so the loop would keep the first and the last reading. The worst reading
    # (min/max, no Python loop) decides that for all of them.
    if len(values) > 2:
        worst = max(values) if rule.direction == Direction.above else min(values)
        if rule.classify(worst) is None and rule.clears(worst):
            return [values[0], values[-1]]
    return _transitions_by_loop(rule, values)


def _transitions_by_loop(rule: RuleSpec, values: Sequence[float]) -> list[float]:
    """`_transitions` reading by reading (any series)."""
    kept: list[float] = []
    last: tuple[Severity | None, bool] | None = None
    for i, v in enumerate(values):
        verdict = (rule.classify(v), rule.clears(v))
        if verdict != last or i == len(values) - 1:
            kept.append(v)
            last = verdict
    return kept


def observe_batch(
    *,
    session: Session,
    rules: list[RuleSpec],
    newest: dict[int, tuple[DatastreamKey, datetime, float]],
    previous: dict[int, tuple[datetime, float]],
    now: datetime,
    sustained_seen: dict[tuple[int, int], float] | None = None,
    series: Mapping[int, Sequence[float]] | None = None,
) -> list[Observed]:
    """Return what each applicable rule sees for the datastreams a batch touched.

    `sustained_seen` maps (rule id, datastream id) to when its window mean was last computed
    (monotonic seconds); pass the same dict across batches to throttle those queries.
    `series` holds, per datastream, the batch's new readings in time order (the newest last):
    threshold rules judge each of them, so a spike that clears within one batch still opens
    (and then resolves) its alert; without it they judge the newest reading alone.
    """
    clock = time.monotonic()
    out: list[Observed] = []
    sustained: dict[int, list[tuple[RuleSpec, DatastreamKey]]] = defaultdict(list)
    # The rules by what they watch, so that each datastream meets only its own few rather than
    # every rule (2,000 applies_to calls for a batch of 170 readings).
    watching: dict[tuple[SensorType, str], list[RuleSpec]] = defaultdict(list)
    for rule in rules:
        if rule.kind != RuleKind.stale:
            watching[(rule.sensor_type, rule.metric)].append(rule)
    for key, ts, value in newest.values():
        for rule in watching.get((key.sensor_type, key.metric), ()):
            if not rule.covers(key):
                continue
            if rule.kind == RuleKind.threshold:
                values = series.get(key.datastream_id) if series else None
                for v in _transitions(rule, values) if values else (value,):
                    out.append(Observed(rule, key, v))
            elif rule.kind == RuleKind.rate_of_change:
                prev = previous.get(key.datastream_id)
                if prev is not None and ts > prev[0]:
                    # Change per minute, over at least a minute: a sensor sampling every few
                    # seconds would otherwise turn ordinary jitter into a steep "rate".
                    minutes = max((ts - prev[0]).total_seconds() / 60.0, 1.0)
                    out.append(Observed(rule, key, abs(value - prev[1]) / minutes))
            elif rule.kind == RuleKind.sustained and rule.window_s:
                if sustained_seen is not None:
                    seen_at = sustained_seen.get((rule.id, key.datastream_id))
                    if seen_at is not None and clock - seen_at < SUSTAINED_EVERY_S:
                        continue
                    sustained_seen[(rule.id, key.datastream_id)] = clock
                sustained[rule.window_s].append((rule, key))
    for window_s, pairs in sustained.items():
        ids = sorted({k.datastream_id for _, k in pairs})
        means = window_means(session=session, ids=ids, window_s=window_s, now=now)
        raw = [ds for ds in ids if ds not in means]
        if raw:
            # No trusted per-minute sums yet (a rule added within the last minute or so, before
            # sync_window_sums ran): average the raw rows, which costs a scan of the window.
            means.update(raw_window_means(session=session, ids=raw, window_s=window_s, now=now))
        for rule, key in pairs:
            mean = means.get(key.datastream_id)
            if mean is not None:
                out.append(Observed(rule, key, float(mean)))
    return out


def window_sum_targets(
    *, rules: Sequence[RuleSpec], keys: Iterable[DatastreamKey]
) -> dict[int, int]:
    """Return the datastreams window-mean rules watch, each with the longest window (s)."""
    windows: dict[int, int] = {}
    sustained = [r for r in rules if r.kind == RuleKind.sustained and r.window_s]
    for key in keys:
        for rule in sustained:
            if rule.applies_to(key):
                windows[key.datastream_id] = max(windows.get(key.datastream_id, 0),
                                                 int(rule.window_s or 0))  # fmt: skip
    return windows


def apply_observations(
    *, session: Session, observed: list[Observed], now: datetime
) -> list[AlertChange]:
    """Open, escalate or resolve alerts for what the rules saw; one alert per rule and sensor."""
    if not observed:
        return []
    pairs = {(o.rule.id, o.key.thing_id) for o in observed}
    active = _active_alerts(session, pairs)
    changes: list[AlertChange] = []
    values: dict[int, float] = {}  # alert id -> latest value, for alerts that stay as they are
    for o in observed:
        severity = o.rule.classify(o.value)
        pair = (o.rule.id, o.key.thing_id)
        current = active.get(pair)
        if current is None:
            if severity is None:
                continue
            opened = _open(session, o, severity, now)
            if opened is not None:
                active[pair] = _ActiveAlert(opened.id, opened.severity, opened.value)
                changes.append(_change("alert.raised", "opened", opened, o.rule, o.key))
                continue
            # Another worker opened it meanwhile (the unique index made us wait for its
            # commit): judge this value against that alert, or an escalation would be lost.
            current = _unresolved_for(session, pair)
            if current is None:
                continue  # and it was resolved already: the next reading opens a new one
            active[pair] = current
        escalate = severity == Severity.critical and current.severity == Severity.warning
        resolve = severity is None and o.rule.clears(o.value)
        if not escalate and not resolve:
            if current.value != o.value:
                values[current.id] = o.value
            continue
        # Only the alert that changes is written, and its UPDATE decides again on the row's
        # latest state: another worker may have changed it since the unlocked read above.
        alert = _system_transition(session, current.id, now, value=o.value, escalate=escalate)
        if alert is None:
            # Resolved, or escalated already, by another worker or by hand: follow that.
            latest = _unresolved_for(session, pair)
            if latest is None:
                del active[pair]
                continue
            active[pair] = latest
            if latest.value != o.value:
                values[latest.id] = o.value
            continue
        values.pop(alert.id, None)
        if escalate:
            active[pair] = _ActiveAlert(alert.id, alert.severity, alert.value)
            changes.append(_change("alert.updated", "escalated", alert, o.rule, o.key))
        else:
            del active[pair]
            changes.append(_change("alert.updated", "resolved", alert, o.rule, o.key))
    if values:
        # One statement for every open alert whose latest value moved (most of them, every
        # batch): loading and flushing them through the ORM cost ~10 ms a batch.
        session.execute(
            text(
                "UPDATE alert SET value = v.value FROM unnest(:ids, :vals) AS v(id, value) "
                "WHERE alert.id = v.id AND alert.status <> 'resolved'"
            ),
            {"ids": list(values), "vals": list(values.values())},
        )
    return changes


def check_stale(
    *,
    session: Session,
    rules: list[RuleSpec],
    things: dict[int, DatastreamKey],
    now: datetime,
) -> list[AlertChange]:
    """Open alerts for sensors silent longer than their rule allows; resolve the recovered ones.

    A sensor that never reported is not stale: it is not commissioned yet, and alerting on
    every new sensor would flood the console.
    """
    stale_rules = [r for r in rules if r.kind == RuleKind.stale and r.stale_after_s]
    if not stale_rules:
        return []
    last_seen = dict(
        session.execute(
            text(
                "SELECT d.thing_id, max(l.updated_at) FROM datastream_latest l "
                "JOIN datastream d ON d.id = l.datastream_id GROUP BY d.thing_id"
            )
        ).all()
    )
    observed: list[tuple[RuleSpec, DatastreamKey, datetime]] = []
    for thing_id, seen in last_seen.items():
        key = things.get(thing_id)
        if key is None:
            continue
        for rule in stale_rules:
            if rule.sensor_type == key.sensor_type and rule.covers(key):
                observed.append((rule, key, seen))
    pairs = {(r.id, k.thing_id) for r, k, _ in observed}
    active = _active_alerts(session, pairs)
    changes: list[AlertChange] = []
    for rule, key, seen in observed:
        silent_s = (now - seen).total_seconds()
        alert = active.get((rule.id, key.thing_id))
        assert rule.stale_after_s is not None
        if silent_s > rule.stale_after_s and alert is None:
            o = Observed(rule, key, silent_s)
            opened = _open(session, o, Severity.warning, now, stale_since=seen)
            if opened is not None:
                changes.append(_change("alert.raised", "opened", opened, rule, key))
        elif silent_s <= rule.stale_after_s and alert is not None:
            resolved = _system_transition(
                session, alert.id, now, value=silent_s, escalate=False,
                note="sensor reporting again",
            )  # fmt: skip
            if resolved is None:
                continue  # resolved meanwhile (by hand or by another worker)
            changes.append(_change("alert.updated", "resolved", resolved, rule, key))
    return changes


def acknowledge_alert(*, session: Session, alert_id: int, actor: str, note: str = "") -> Alert:
    """Acknowledge an open alert (audited)."""
    alert = _get_for_update(session, alert_id)
    if alert.status != AlertStatus.open:
        raise ValueError(f"alert {alert_id} is {alert.status.value}, not open")
    now = datetime.now(UTC)
    alert.acknowledged_at, alert.acknowledged_by = now, actor
    _transition(session, alert, now, action="acknowledged", actor=actor,
                status=AlertStatus.acknowledged, note=note)  # fmt: skip
    return alert


def resolve_alert(*, session: Session, alert_id: int, actor: str, reason: str) -> Alert:
    """Resolve an alert by hand with a reason (audited)."""
    if not reason.strip():
        raise ValueError("a reason is required to resolve an alert")
    alert = _get_for_update(session, alert_id)
    if alert.status == AlertStatus.resolved:
        raise ValueError(f"alert {alert_id} is already resolved")
    _transition(session, alert, datetime.now(UTC), action="resolved", actor=actor,
                status=AlertStatus.resolved, note=reason)  # fmt: skip
    return alert


def assign_alert(*, session: Session, alert_id: int, actor: str, assignee: str) -> Alert:
    """Assign an unresolved alert to an active staff user (audited); the status is unchanged."""
    assignee = assignee.strip()
    user = session.scalar(select(StaffUser).where(StaffUser.username == assignee))
    if user is None or not user.is_active:
        raise ValueError(f"no active staff user {assignee!r}")
    alert = _get_for_update(session, alert_id)
    if alert.status == AlertStatus.resolved:
        raise ValueError(f"alert {alert_id} is already resolved")
    now = datetime.now(UTC)
    alert.assigned_to, alert.assigned_at = user.username, now
    _transition(session, alert, now, action="assigned", actor=actor, note=f"to {user.username}")
    return alert


# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ActiveAlert:
    """What apply_observations needs of an unresolved alert, read without locking it."""

    id: int
    severity: Severity
    value: float | None


def _active_alerts(
    session: Session, pairs: set[tuple[int, int]]
) -> dict[tuple[int, int], _ActiveAlert]:
    if not pairs:
        return {}
    # Arrays, not IN lists: one statement text whatever the batch touched, so SQLAlchemy's and
    # psycopg's caches and the server's prepared statement serve every batch (an IN list was
    # rendered, parsed and planned anew for each).
    rows = session.execute(
        text(
            "SELECT id, rule_id, thing_id, severity, value FROM alert "
            "WHERE status <> 'resolved' AND rule_id = ANY(:rules) AND thing_id = ANY(:things)"
        ),
        {"rules": sorted({p[0] for p in pairs}), "things": sorted({p[1] for p in pairs})},
    )
    return {
        (rule_id, thing_id): _ActiveAlert(alert_id, Severity(severity), value)
        for alert_id, rule_id, thing_id, severity, value in rows
        if (rule_id, thing_id) in pairs
    }


def _unresolved_for(session: Session, pair: tuple[int, int]) -> _ActiveAlert | None:
    row = session.execute(
        select(Alert.id, Alert.severity, Alert.value).where(
            Alert.rule_id == pair[0],
            Alert.thing_id == pair[1],
            Alert.status != AlertStatus.resolved,
        )
    ).first()
    return _ActiveAlert(row.id, row.severity, row.value) if row is not None else None


def _message(o: Observed, severity: Severity) -> str:
    r, k = o.rule, o.key
    if r.kind == RuleKind.stale:
        return f"{k.thing_code} silent for {o.value / 60:.0f} min"
    level = r.critical if severity == Severity.critical else r.warning
    sign = ">=" if r.direction == Direction.above else "<="
    unit = f"{k.unit_symbol}/min" if r.kind == RuleKind.rate_of_change else k.unit_symbol
    what = {RuleKind.sustained: f"{(r.window_s or 0) // 3600} h mean "}.get(r.kind, "")
    return f"{k.thing_code} {what}{r.metric} {o.value:.4g} {unit} {sign} {level:g}"


def _open(
    session: Session,
    o: Observed,
    severity: Severity,
    now: datetime,
    *,
    stale_since: datetime | None = None,
) -> Alert | None:
    # The partial unique index arbitrates between concurrent workers: the loser inserts nothing.
    # The alert, its "opened" audit event and the row read back are one statement: this runs
    # on the urgent lane's path, where every round trip waits for a core under load.
    alert = session.scalars(
        select(Alert)
        .from_statement(
            text(
                "WITH a AS (INSERT INTO alert (rule_id, thing_id, datastream_id, district_id,"
                " severity, status, value, message, opened_at, updated_at) VALUES (:rule,"
                " :thing, :ds, :district, :sev, 'open', :value, :msg, :now, :now)"
                " ON CONFLICT (rule_id, thing_id) WHERE status <> 'resolved' DO NOTHING"
                " RETURNING *), e AS (INSERT INTO alert_event (alert_id, at, actor, action,"
                " severity, status, value, note) SELECT id, :now, :actor, 'opened', severity,"
                " status, value, :note FROM a) SELECT * FROM a"
            )
        )
        .params(
            rule=o.rule.id,
            thing=o.key.thing_id,
            ds=None if o.rule.kind == RuleKind.stale else o.key.datastream_id,
            district=o.key.district_id,
            sev=severity.value,
            value=o.value,
            msg=_message(o, severity),
            now=now,
            actor=SYSTEM,
            note=f"silent since {stale_since.isoformat()}" if stale_since else "",
        )
    ).first()
    return alert


def _system_transition(
    session: Session,
    alert_id: int,
    now: datetime,
    *,
    value: float,
    escalate: bool,
    note: str = "value cleared",
) -> Alert | None:
    """Escalate a warning to critical, or resolve (with `note`), with its audit event.

    One statement, as in `_open`. It changes nothing, and returns None, if the alert is
    resolved already or, to escalate, is no longer a warning: the UPDATE re-checks its WHERE
    on the row's newest version once it holds the row lock (READ COMMITTED).
    """
    return session.scalars(
        select(Alert)
        .from_statement(
            text(
                "WITH a AS (UPDATE alert SET value = :value, updated_at = :now,"
                " severity = CASE WHEN :escalate THEN 'critical'::alert_severity"
                " ELSE severity END,"
                " status = CASE WHEN :escalate THEN status ELSE 'resolved'::alert_status END,"
                " resolved_at = CASE WHEN :escalate THEN resolved_at ELSE :now END,"
                " resolved_by = CASE WHEN :escalate THEN resolved_by ELSE :actor END,"
                " resolve_reason = CASE WHEN :escalate THEN resolve_reason ELSE :note END"
                " WHERE id = :id AND status <> 'resolved'"
                " AND (NOT :escalate OR severity = 'warning') RETURNING *),"
                " e AS (INSERT INTO alert_event (alert_id, at, actor, action, severity, status,"
                " value, note) SELECT id, :now, :actor, :action, severity, status, value,"
                " :note FROM a) SELECT * FROM a"
            )
        )
        .params(
            id=alert_id,
            value=value,
            now=now,
            escalate=escalate,
            actor=SYSTEM,
            action="escalated" if escalate else "resolved",
            note="" if escalate else note,
        )
        .execution_options(populate_existing=True)
    ).first()


def _transition(
    session: Session,
    alert: Alert,
    now: datetime,
    *,
    action: str,
    actor: str = SYSTEM,
    value: float | None = None,
    severity: Severity | None = None,
    status: AlertStatus | None = None,
    note: str = "",
) -> None:
    if severity is not None:
        alert.severity = severity
    if status is not None:
        alert.status = status
    if value is not None:
        alert.value = value
    if status == AlertStatus.resolved:
        alert.resolved_at, alert.resolved_by, alert.resolve_reason = now, actor, note
    alert.updated_at = now
    session.add(AlertEvent(alert_id=alert.id, at=now, actor=actor, action=action,
                           severity=alert.severity, status=alert.status, value=alert.value,
                           note=note))  # fmt: skip
    session.flush()


def _get_for_update(session: Session, alert_id: int) -> Alert:
    alert = session.scalar(select(Alert).where(Alert.id == alert_id).with_for_update())
    if alert is None:
        raise LookupError(f"no alert {alert_id}")
    return alert


def _change(
    event: str, action: str, alert: Alert, rule: RuleSpec, key: DatastreamKey
) -> AlertChange:
    return AlertChange(
        event=event,
        action=action,
        alert=AlertRead(
            id=alert.id,
            rule_id=rule.id,
            rule_name=rule.name,
            thing_id=key.thing_id,
            thing_code=key.thing_code,
            datastream_id=alert.datastream_id,
            district_id=key.district_id,
            district_code=key.district_code,
            sensor_type=key.sensor_type,
            metric=rule.metric or key.metric,
            severity=alert.severity,
            status=alert.status,
            value=alert.value,
            message=alert.message,
            opened_at=alert.opened_at,
            updated_at=alert.updated_at,
            lon=key.lon,
            lat=key.lat,
        ),
    )


def update_rule(
    *,
    session: Session,
    rule_id: int,
    actor: str,
    warning: float | None = None,
    critical: float | None = None,
    enabled: bool | None = None,
) -> AlertRule:
    """Change a rule's levels or enabled flag, keeping it consistent with its direction."""
    rule = session.get(AlertRule, rule_id)
    if rule is None:
        raise LookupError(f"no alert rule {rule_id}")
    data = RuleCreate(
        name=rule.name,
        kind=rule.kind,
        sensor_type=rule.sensor_type,
        metric=rule.metric,
        direction=rule.direction,
        hysteresis=rule.hysteresis,
        window_s=rule.window_s,
        stale_after_s=rule.stale_after_s,
        warning=warning if warning is not None else rule.warning,
        critical=critical if critical is not None else rule.critical,
    )  # fmt: skip  (validates the new levels)
    rule.warning, rule.critical = data.warning, data.critical
    if enabled is not None:
        rule.enabled = enabled
    rule.updated_by = actor
    rule.updated_at = datetime.now(UTC)
    session.flush()
    return rule
