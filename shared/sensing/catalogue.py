"""The metrics each kind of city sensor reports, with UCUM units and physically valid ranges.

Ranges are what the instrument can physically report, not alert thresholds: a value outside them
is a fault (dead-lettered), not an event.
"""

from __future__ import annotations

from shared.sensing.models import SensorType
from shared.sensing.schemas import MetricSpec

_UCUM = "http://unitsofmeasure.org/ucum.html#"
_UG_M3 = "microgram per cubic metre"

METRICS: dict[str, MetricSpec] = {
    m.code: m
    for m in (
        # Traffic: counts per reporting interval, spot-mean speed, loop occupancy.
        MetricSpec(code="vehicle_count", name="Vehicle count", unit_name="vehicles",
                   unit_symbol="{vehicle}", valid_min=0, valid_max=10_000),
        MetricSpec(code="speed", name="Mean vehicle speed", unit_name="kilometre per hour",
                   unit_symbol="km/h", valid_min=0, valid_max=250),
        MetricSpec(code="occupancy", name="Detector occupancy", unit_name="percent",
                   unit_symbol="%", valid_min=0, valid_max=100),
        # Air quality: units as the EPA AQI expects them (µg/m³ for PM, ppb/ppm for gases).
        MetricSpec(code="pm25", name="PM2.5 mass concentration", unit_name=_UG_M3,
                   unit_symbol="ug/m3", valid_min=0, valid_max=2_000),
        MetricSpec(code="pm10", name="PM10 mass concentration", unit_name=_UG_M3,
                   unit_symbol="ug/m3", valid_min=0, valid_max=5_000),
        MetricSpec(code="no2", name="Nitrogen dioxide", unit_name="parts per billion",
                   unit_symbol="[ppb]", valid_min=0, valid_max=5_000),
        MetricSpec(code="o3", name="Ozone", unit_name="parts per million",
                   unit_symbol="[ppm]", valid_min=0, valid_max=1),
        MetricSpec(code="co", name="Carbon monoxide", unit_name="parts per million",
                   unit_symbol="[ppm]", valid_min=0, valid_max=1_000),
        # Noise: A-weighted equivalent continuous level over the reporting interval.
        MetricSpec(code="laeq", name="A-weighted sound level (LAeq)", unit_name="decibel",
                   unit_symbol="dB", valid_min=0, valid_max=160),
        # Weather.
        MetricSpec(code="temperature", name="Air temperature", unit_name="degree Celsius",
                   unit_symbol="Cel", valid_min=-60, valid_max=60),
        MetricSpec(code="humidity", name="Relative humidity", unit_name="percent",
                   unit_symbol="%", valid_min=0, valid_max=100),
        MetricSpec(code="wind_speed", name="Wind speed", unit_name="metre per second",
                   unit_symbol="m/s", valid_min=0, valid_max=100),
        MetricSpec(code="precipitation", name="Precipitation", unit_name="millimetre",
                   unit_symbol="mm", valid_min=0, valid_max=500),
    )
}  # fmt: skip

METRICS_BY_TYPE: dict[SensorType, tuple[str, ...]] = {
    SensorType.traffic: ("vehicle_count", "speed", "occupancy"),
    SensorType.air_quality: ("pm25", "pm10", "no2", "o3", "co"),
    SensorType.noise: ("laeq",),
    SensorType.weather: ("temperature", "humidity", "wind_speed", "precipitation"),
}

SENSOR_MODELS: dict[SensorType, tuple[str, str]] = {
    SensorType.traffic: ("Inductive loop detector", "Dual-loop detector on a signal approach."),
    SensorType.air_quality: (
        "Air-quality station",
        "Optical particle counter (PM2.5, PM10) with electrochemical NO2, O3 and CO cells.",
    ),
    SensorType.noise: ("Class 1 sound level meter", "IEC 61672-1 class 1 noise monitor."),
    SensorType.weather: ("Compact weather station", "Temperature, humidity, wind and rain."),
}


def unit_definition(spec: MetricSpec) -> str:
    """Return the UCUM definition URI for a metric's unit."""
    return _UCUM + spec.unit_symbol
