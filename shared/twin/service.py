"""The twin's sensors in the platform: registering a scenario's detectors, reading them back."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from geoalchemy2.shape import from_shape, to_shape
from redis import Redis
from shapely.geometry import Point
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.districts.models import District
from shared.incidents.models import PlanStatus, PreemptionPlan, Unit
from shared.roads.models import RoadSegment
from shared.sensing.catalogue import METRICS, METRICS_BY_TYPE, SENSOR_MODELS, unit_definition
from shared.sensing.models import (
    Datastream,
    DatastreamLatest,
    FeatureOfInterest,
    Location,
    ObservedProperty,
    Sensor,
    SensorType,
    Thing,
)
from shared.traffic.models import SignalPlan, SignalPlanStatus
from shared.twin.scenario import Detector, Network

__all__ = [
    "LatestReading",
    "LivePlan",
    "LiveStep",
    "PushedPlan",
    "TwinSensor",
    "dispatched_preemption_plans",
    "latest_readings",
    "note_signal_plan_applied",
    "preemption_plan_statuses",
    "pushed_signal_plans",
    "register_twin_sensors",
    "sensor_prefix",
]

# Twin sensors publish on city/twin/traffic/<code>. They are deliberately kept out of the
# districts (the district they lie in is only noted in their properties): the simulator replays
# real series into every districted sensor, and must not write into the twin's detectors.
TWIN_DISTRICT = "twin"


@dataclass(frozen=True)
class TwinSensor:
    """A registered twin detector: its sensor code and its topic's district segment."""

    code: str
    district: str
    detector: Detector


@dataclass(frozen=True)
class LatestReading:
    """The stored latest value of one metric of one sensor."""

    code: str
    metric: str
    value: float
    time: datetime


def sensor_prefix(scenario_name: str) -> str:
    """Return the sensor-code prefix of a scenario: TW-<6 hex digits of its name>."""
    return "TW-" + hashlib.sha1(scenario_name.encode()).hexdigest()[:6].upper()


def _sensor_row(session: Session) -> Sensor:
    name, description = SENSOR_MODELS[SensorType.traffic]
    row = session.scalar(select(Sensor).where(Sensor.name == name))
    if row is None:
        row = Sensor(name=name, description=description)
        session.add(row)
    return row


def _property(session: Session, code: str) -> ObservedProperty:
    row = session.scalar(select(ObservedProperty).where(ObservedProperty.code == code))
    if row is None:
        spec = METRICS[code]
        row = ObservedProperty(code=code, name=spec.name, definition=spec.definition)
        session.add(row)
    return row


def _district(session: Session, lonlat: tuple[float, float] | None) -> District | None:
    if lonlat is None:
        return None
    point = func.ST_SetSRID(func.ST_MakePoint(lonlat[0], lonlat[1]), 4326)
    return session.scalar(select(District).where(func.ST_Covers(District.geom, point)).limit(1))


def register_twin_sensors(
    *, session: Session, scenario_name: str, net: Network, detectors: list[Detector]
) -> tuple[list[TwinSensor], int]:
    """Register each detector as a traffic sensor (idempotent); return them and how many are new.

    Codes are ``TW-<scenario hash>-<n>`` in detector order. Detectors of a network without a
    map projection are placed at 0°, 0° and flagged ``"geo": false``.
    """
    prefix = sensor_prefix(scenario_name)
    codes = [f"{prefix}-{n:04d}" for n in range(1, len(detectors) + 1)]
    existing = {
        t.code: t for t in session.scalars(select(Thing).where(Thing.code.in_(codes))).all()
    }
    sensor = _sensor_row(session)
    props = {m: _property(session, m) for m in METRICS_BY_TYPE[SensorType.traffic]}
    out: list[TwinSensor] = []
    created = 0
    for code, det in zip(codes, detectors, strict=True):
        thing = existing.get(code)
        if thing is None:
            xy = net.position(det.lane, det.pos + det.length)
            lonlat = net.to_lonlat(xy) if xy is not None else None
            district = _district(session, lonlat)
            geom = from_shape(Point(lonlat or (0.0, 0.0)), srid=4326)
            kind = "queue zone" if det.kind == "e2" else "loop"
            thing = Thing(
                code=code,
                name=f"Twin {kind} {det.lane} ({det.role})",
                description=f"SUMO detector {det.id} of scenario {scenario_name}",
                sensor_type=SensorType.traffic,
                district_id=None,
                properties={
                    "twin_scenario": scenario_name, "sumo_detector": det.id,
                    "signal": det.tls_id, "lane": det.lane, "role": det.role,
                    "zone_length_m": round(det.length, 2), "geo": lonlat is not None,
                    "district_code": district.code if district else None,
                },
                locations=[Location(name=f"{code} site", geom=geom)],
            )  # fmt: skip
            foi = FeatureOfInterest(name=f"Lane {det.lane}", geom=geom)
            for metric in METRICS_BY_TYPE[SensorType.traffic]:
                spec = METRICS[metric]
                thing.datastreams.append(
                    Datastream(
                        name=f"{code} {spec.name}", sensor=sensor, observed_property=props[metric],
                        feature_of_interest=foi, sensor_type=SensorType.traffic,
                        unit_name=spec.unit_name, unit_symbol=spec.unit_symbol,
                        unit_definition=unit_definition(spec), valid_min=spec.valid_min,
                        valid_max=spec.valid_max,
                    )
                )  # fmt: skip
            session.add(thing)
            created += 1
        out.append(TwinSensor(code=code, district=TWIN_DISTRICT, detector=det))
    session.flush()
    return out, created


def latest_readings(*, session: Session, prefix: str) -> list[LatestReading]:
    """Return the stored latest value of every metric of the sensors whose code has ``prefix``."""
    rows = session.execute(
        select(Thing.code, ObservedProperty.code, DatastreamLatest.result,
               DatastreamLatest.phenomenon_time)
        .join(Datastream, Datastream.thing_id == Thing.id)
        .join(ObservedProperty, ObservedProperty.id == Datastream.observed_property_id)
        .join(DatastreamLatest, DatastreamLatest.datastream_id == Datastream.id)
        .where(Thing.code.startswith(prefix))
    ).all()  # fmt: skip
    return [LatestReading(code=c, metric=m, value=v, time=t) for c, m, v, t in rows]


# ---------------------------------------------------------------------------------------------
# what the twin follows: pre-emption runs and pushed signal plans


@dataclass(frozen=True)
class LiveStep:
    """One signalised stop of a pre-emption plan, with its approach as a network edge id."""

    seq: int
    intersection_id: int
    tls_id: str | None
    approach_edge: str
    eta_s: float
    green_from_s: float
    green_until_s: float


@dataclass(frozen=True)
class LivePlan:
    """An approved or active pre-emption plan, its route as network edges (road_segment ids)."""

    plan_id: int
    status: str
    unit_id: int
    unit_code: str
    incident_id: int
    eta_s: float
    length_m: float
    edges: tuple[str, ...]
    # Each edge's line in WGS84 (lon, lat), for reporting the unit's position on the map.
    shapes: dict[str, list[tuple[float, float]]]
    steps: tuple[LiveStep, ...]


@dataclass(frozen=True)
class PushedPlan:
    """A pushed fixed-time signal plan: phases as (name, approach edge ids, green seconds)."""

    plan_id: int
    intersection_id: int
    tls_id: str
    version: int
    cycle_s: float
    phases: tuple[tuple[str, tuple[str, ...], float], ...]
    pushed_at: datetime


def dispatched_preemption_plans(*, session: Session, since: datetime) -> list[LivePlan]:
    """Return approved or active plans approved at or after ``since``, oldest first."""
    plans = session.scalars(
        select(PreemptionPlan)
        .where(
            PreemptionPlan.status.in_([PlanStatus.approved.value, PlanStatus.active.value]),
            PreemptionPlan.approved_at >= since,
        )
        .order_by(PreemptionPlan.approved_at, PreemptionPlan.id)
    ).all()
    out: list[LivePlan] = []
    for plan in plans:
        ids = [int(i) for i in plan.segment_ids]
        segments = {
            s.id: s for s in session.scalars(select(RoadSegment).where(RoadSegment.id.in_(ids)))
        }
        edges = tuple(segments[i].external_id for i in ids if i in segments)
        shapes = {
            s.external_id: [(float(x), float(y)) for x, y, *_ in to_shape(s.geom).coords]
            for s in segments.values()
        }
        approach = {s.approach_segment_id for s in plan.steps} - set(segments)
        if approach:
            segments |= {
                s.id: s
                for s in session.scalars(select(RoadSegment).where(RoadSegment.id.in_(approach)))
            }
        unit = session.get(Unit, plan.unit_id)
        out.append(
            LivePlan(
                plan_id=plan.id, status=plan.status, unit_id=plan.unit_id,
                unit_code=unit.code if unit else str(plan.unit_id),
                incident_id=plan.incident_id, eta_s=plan.eta_s, length_m=plan.length_m,
                edges=edges, shapes=shapes,
                steps=tuple(
                    LiveStep(
                        seq=s.seq, intersection_id=s.intersection_id, tls_id=s.tls_id,
                        approach_edge=segments[s.approach_segment_id].external_id,
                        eta_s=s.eta_s, green_from_s=s.green_from_s,
                        green_until_s=s.green_until_s,
                    )
                    for s in plan.steps
                    if s.approach_segment_id in segments
                ),
            )
        )  # fmt: skip
    return out


def preemption_plan_statuses(*, session: Session, plan_ids: list[int]) -> dict[int, str]:
    """Return the status of each plan (plans that no longer exist are left out)."""
    if not plan_ids:
        return {}
    rows = session.execute(
        select(PreemptionPlan.id, PreemptionPlan.status).where(PreemptionPlan.id.in_(plan_ids))
    ).all()
    return {int(i): str(s) for i, s in rows}


def pushed_signal_plans(*, session: Session) -> list[PushedPlan]:
    """Return the plan in force per traffic light: the newest pushed plan naming that tls."""
    rows = session.scalars(
        select(SignalPlan)
        .where(SignalPlan.status == SignalPlanStatus.pushed.value, SignalPlan.tls_id.is_not(None))
        .order_by(SignalPlan.pushed_at.desc(), SignalPlan.id.desc())
    ).all()
    seg_ids = {int(a) for plan in rows for ph in plan.phases for a in ph.get("approaches", [])}
    edge_of = dict(
        session.execute(
            select(RoadSegment.id, RoadSegment.external_id).where(RoadSegment.id.in_(seg_ids))
        ).all()
    )
    out: dict[str, PushedPlan] = {}
    for plan in rows:
        if plan.tls_id is None or plan.tls_id in out or plan.pushed_at is None:
            continue
        out[plan.tls_id] = PushedPlan(
            plan_id=plan.id, intersection_id=plan.intersection_id, tls_id=plan.tls_id,
            version=plan.version, cycle_s=float(plan.cycle_s),
            phases=tuple(
                (str(ph["name"]),
                 tuple(edge_of[int(a)] for a in ph.get("approaches", []) if int(a) in edge_of),
                 float(ph["green_s"]))
                for ph in plan.phases
            ),
            pushed_at=plan.pushed_at,
        )  # fmt: skip
    return sorted(out.values(), key=lambda p: p.plan_id)


def note_signal_plan_applied(*, session: Session, plan_id: int, note: str) -> None:
    """Append a line to a signal plan's notes (the twin says it runs the plan, and how)."""
    plan = session.get(SignalPlan, plan_id)
    if plan is None:
        raise LookupError(f"no signal plan {plan_id}")
    # A new list: JSONB columns track assignment, not in-place mutation.
    plan.notes = [*(plan.notes or []), note]
    session.flush()


# The consoles' memory of the runs the twin drives: each run's latest `unit.progress` report, so
# that a console opened (or reloaded) mid-run shows the run at once instead of an empty table
# until the next report. Reports older than this are dropped (a finished run stays that long).
RUN_REPORTS_KEY = "twin:run_reports"
RUN_REPORT_MAX_AGE_S = 900.0


def remember_run_report(
    *, redis: Redis, report: Mapping[str, Any], now: float | None = None
) -> None:
    """Keep a run's latest progress report (by plan id) for consoles that open later."""
    at = time.time() if now is None else now
    pipe = redis.pipeline(transaction=False)
    pipe.hset(RUN_REPORTS_KEY, str(report["plan_id"]), orjson.dumps({"at": at, "report": report}))
    pipe.expire(RUN_REPORTS_KEY, int(RUN_REPORT_MAX_AGE_S))
    pipe.execute()


def recent_run_reports(
    *, redis: Redis, max_age_s: float = RUN_REPORT_MAX_AGE_S, now: float | None = None
) -> dict[str, dict[str, Any]]:
    """Return each run's latest report from the last ``max_age_s`` seconds, by plan id."""
    at = time.time() if now is None else now
    found: dict[str, dict[str, Any]] = {}
    stale: list[bytes] = []
    for field, raw in redis.hgetall(RUN_REPORTS_KEY).items():
        item = orjson.loads(raw)
        if at - float(item["at"]) > max_age_s:
            stale.append(field)
        else:
            found[field.decode() if isinstance(field, bytes) else str(field)] = item["report"]
    if stale:
        redis.hdel(RUN_REPORTS_KEY, *stale)
    return found
