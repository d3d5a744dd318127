"""The twin's sensors in the platform: registering a scenario's detectors, reading them back."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from geoalchemy2.shape import from_shape
from shapely.geometry import Point
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.districts.models import District
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
from shared.twin.scenario import Detector, Network

__all__ = [
    "LatestReading",
    "TwinSensor",
    "latest_readings",
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
