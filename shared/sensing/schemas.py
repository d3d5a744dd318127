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
