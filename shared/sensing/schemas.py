"""Input and output shapes for sensing."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from shared.sensing.models import SensorType


class ThingRead(BaseModel):
    """A sensor station as lists and maps show it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    sensor_type: SensorType
    district_id: int | None


class MetricSpec(BaseModel):
    """How one metric is measured: its ObservedProperty code, unit and valid range."""

    code: str
    name: str
    unit_name: str
    unit_symbol: str
    definition: str = ""
    valid_min: float | None = None
    valid_max: float | None = None


class DatastreamKey(BaseModel):
    """What the ingest worker needs to know about a datastream, cached per process."""

    model_config = ConfigDict(frozen=True)

    datastream_id: int
    thing_id: int
    thing_code: str
    metric: str
    sensor_type: SensorType
    district_id: int | None
    district_code: str
    unit_symbol: str
    valid_min: float | None
    valid_max: float | None
    lon: float
    lat: float


class IngestResult(BaseModel):
    """What one batch did: counts by outcome and the datastreams it touched."""

    batch_id: str
    stored: int = 0
    redelivered: int = 0  # already stored with the same value: a redelivery, not an error
    dead_lettered: int = 0
    reasons: dict[str, int] = {}
