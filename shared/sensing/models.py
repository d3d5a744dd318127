"""SensorThings 1.1 entities and the narrow, day-partitioned observation table.

Deviation from the standard, on purpose: an Observation does not carry its own
FeatureOfInterest. At 1M+ readings a minute the row must stay narrow (datastream, time, result),
so the feature of interest belongs to the Datastream, which is what fixed city sensors need.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.db import Base

# OGC O&M observation type for a single numeric result.
OM_MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"
GEOJSON = "application/geo+json"


class SensorType(enum.StrEnum):
    """The kinds of city sensor; they appear in MQTT topics and drive alert defaults."""

    traffic = "traffic"
    air_quality = "air_quality"
    noise = "noise"
    weather = "weather"
    energy = "energy"
    infrastructure = "infrastructure"


sensor_type_enum = Enum(SensorType, name="sensor_type")

thing_location = Table(
    "thing_location",
    Base.metadata,
    Column("thing_id", ForeignKey("thing.id", ondelete="CASCADE"), primary_key=True),
    Column("location_id", ForeignKey("location.id", ondelete="CASCADE"), primary_key=True),
)

historical_location_location = Table(
    "historical_location_location",
    Base.metadata,
    Column(
        "historical_location_id",
        ForeignKey("historical_location.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("location_id", ForeignKey("location.id", ondelete="CASCADE"), primary_key=True),
)


class Thing(Base):
    """A physical station (a detector, an air-quality box) that hosts datastreams."""

    __tablename__ = "thing"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The <sensor_id> segment of MQTT topics; stable across re-seeding.
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    sensor_type: Mapped[SensorType] = mapped_column(sensor_type_enum, index=True)
    district_id: Mapped[int | None] = mapped_column(
        ForeignKey("district.id", ondelete="SET NULL"), index=True
    )
    properties: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)

    locations: Mapped[list[Location]] = relationship(secondary=thing_location)
    datastreams: Mapped[list[Datastream]] = relationship(back_populates="thing")


class Location(Base):
    """Where a Thing is (SensorThings Location)."""

    __tablename__ = "location"
    __table_args__ = (Index("ix_location_geom", "geom", postgresql_using="gist"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    encoding_type: Mapped[str] = mapped_column(String(100), default=GEOJSON)
    geom: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))


class HistoricalLocation(Base):
    """When a Thing was at its Locations (SensorThings HistoricalLocation)."""

    __tablename__ = "historical_location"

    id: Mapped[int] = mapped_column(primary_key=True)
    thing_id: Mapped[int] = mapped_column(ForeignKey("thing.id", ondelete="CASCADE"), index=True)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    locations: Mapped[list[Location]] = relationship(secondary=historical_location_location)


class Sensor(Base):
    """The instrument or procedure that produces observations (SensorThings Sensor)."""

    __tablename__ = "sensor"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    encoding_type: Mapped[str] = mapped_column(String(100), default="text/html")
    metadata_url: Mapped[str] = mapped_column(Text, default="")


class ObservedProperty(Base):
    """A phenomenon such as PM2.5 or vehicle speed (SensorThings ObservedProperty)."""

    __tablename__ = "observed_property"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The <metric> key used in reading payloads, e.g. "pm25", "speed".
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    definition: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")


class FeatureOfInterest(Base):
    """The feature an observation is about (a road approach, the air at a site)."""

    __tablename__ = "feature_of_interest"
    __table_args__ = (Index("ix_feature_of_interest_geom", "geom", postgresql_using="gist"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    encoding_type: Mapped[str] = mapped_column(String(100), default=GEOJSON)
    geom: Mapped[WKBElement] = mapped_column(Geometry("GEOMETRY", srid=4326, spatial_index=False))


class Datastream(Base):
    """One metric of one Thing: unit, observation type and sensor type (SensorThings Datastream)."""

    __tablename__ = "datastream"
    __table_args__ = (UniqueConstraint("thing_id", "observed_property_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    thing_id: Mapped[int] = mapped_column(ForeignKey("thing.id", ondelete="CASCADE"), index=True)
    sensor_id: Mapped[int] = mapped_column(ForeignKey("sensor.id"))
    observed_property_id: Mapped[int] = mapped_column(ForeignKey("observed_property.id"))
    feature_of_interest_id: Mapped[int | None] = mapped_column(
        ForeignKey("feature_of_interest.id", ondelete="SET NULL")
    )
    sensor_type: Mapped[SensorType] = mapped_column(sensor_type_enum)
    # unitOfMeasurement: UCUM code in `unit_symbol`, with a human name and a definition URI.
    unit_name: Mapped[str] = mapped_column(String(100))
    unit_symbol: Mapped[str] = mapped_column(String(32))
    unit_definition: Mapped[str] = mapped_column(Text, default="")
    observation_type: Mapped[str] = mapped_column(String(200), default=OM_MEASUREMENT)
    # Physically possible range, in the datastream's unit: outside it a reading is dead-lettered.
    valid_min: Mapped[float | None] = mapped_column(Float)
    valid_max: Mapped[float | None] = mapped_column(Float)

    thing: Mapped[Thing] = relationship(back_populates="datastreams")
    sensor: Mapped[Sensor] = relationship()
    observed_property: Mapped[ObservedProperty] = relationship()
    feature_of_interest: Mapped[FeatureOfInterest | None] = relationship()


class Observation(Base):
    """One reading. Range-partitioned by day on phenomenon_time; unique per datastream and time.

    No foreign key to datastream on purpose: the worker resolves datastreams before its COPY, and a
    per-row FK check would cost the write path more than it protects.
    """

    __tablename__ = "observation"
    __table_args__ = {"postgresql_partition_by": "RANGE (phenomenon_time)"}

    datastream_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phenomenon_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    result: Mapped[float] = mapped_column(Float)


class DatastreamLatest(Base):
    """The newest reading of each datastream, kept by the ingest worker in the batch transaction."""

    __tablename__ = "datastream_latest"

    datastream_id: Mapped[int] = mapped_column(
        ForeignKey("datastream.id", ondelete="CASCADE"), primary_key=True
    )
    phenomenon_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    result: Mapped[float] = mapped_column(Float)
    # When the worker stored it: the stale-sensor rule compares against the wall clock.
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DeadLetter(Base):
    """A refused reading or message, with its raw payload and a specific reason."""

    __tablename__ = "dead_letter"
    # (batch_id, seq) makes a redelivered batch write its dead letters only once.
    __table_args__ = (UniqueConstraint("batch_id", "seq"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    reason: Mapped[str] = mapped_column(String(32), index=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    topic: Mapped[str] = mapped_column(Text, default="")
    sensor_code: Mapped[str | None] = mapped_column(String(64), index=True)
    metric: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text, default="")


class _Rollup:
    """Columns shared by the hourly and daily aggregates (mean = total / count)."""

    datastream_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    total: Mapped[float] = mapped_column(Float)
    min: Mapped[float] = mapped_column(Float)
    max: Mapped[float] = mapped_column(Float)


class ObservationHourly(_Rollup, Base):
    """Hourly roll-up (UTC hours), kept for 10 years."""

    __tablename__ = "observation_hourly"


class ObservationDaily(_Rollup, Base):
    """Daily roll-up (UTC days), kept for 10 years."""

    __tablename__ = "observation_daily"


class WindowSumStream(Base):
    """A datastream whose per-minute sums the ingest worker keeps, for window-mean alert rules.

    The worker decides in SQL, by joining this table in the batch's own statement, so a marker is
    either seen by a batch (which then adds its new readings) or not. `armed_at` is set in a later
    transaction than the marker's insert; once no transaction older than it runs, every batch
    that could have missed the marker is over, and the sums can be rebuilt from the raw rows and
    trusted (`ready`). See shared/pipeline.sync_window_sums.
    """

    __tablename__ = "window_sum_stream"

    datastream_id: Mapped[int] = mapped_column(
        ForeignKey("datastream.id", ondelete="CASCADE"), primary_key=True
    )
    # The longest window (seconds) a rule needs of this datastream; minutes older are pruned.
    window_s: Mapped[int] = mapped_column(Integer)
    armed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ready: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")


class ObservationMinute(Base):
    """Count and sum of one datastream's stored readings per UTC minute (window-mean rules).

    Kept at write time from the rows a batch actually inserted, so a redelivered batch adds
    nothing. No foreign key, like `observation`: it is on the ingest write path.
    """

    __tablename__ = "observation_minute"

    datastream_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    minute: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)
    total: Mapped[float] = mapped_column(Float)


class DeviceCredential(Base):
    """A device's key for the HTTP ingest endpoint; only its SHA-256 is stored."""

    __tablename__ = "device_credential"

    id: Mapped[int] = mapped_column(primary_key=True)
    thing_id: Mapped[int] = mapped_column(ForeignKey("thing.id", ondelete="CASCADE"), index=True)
    key_prefix: Mapped[str] = mapped_column(String(12))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
