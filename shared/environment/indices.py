"""Comfort and nuisance indices: NWS heat index and environmental noise bands."""

from __future__ import annotations

import math
from typing import Final

__all__ = [
    "HEAT_INDEX_CATEGORIES",
    "NOISE_CATEGORIES",
    "heat_index_c",
    "heat_index_category",
    "heat_index_f",
    "noise_category",
]


def _finite(name: str, value: float) -> float:
    as_float = float(value)
    if not math.isfinite(as_float):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return as_float


def _relative_humidity(rh_percent: float) -> float:
    rh = _finite("rh_percent", rh_percent)
    if not 0.0 <= rh <= 100.0:
        raise ValueError(f"rh_percent must be within 0..100, got {rh_percent!r}")
    return rh


# --- Heat index -------------------------------------------------------------------------------
# Source: NWS Weather Prediction Center, "The Heat Index Equation" (Rothfusz regression page,
# wpc.ncep.noaa.gov/html/heatindex_equation.shtml), after Rothfusz (1990), NWS Technical
# Attachment SR 90-23. The regression was fitted to Steadman's (1979) table, which is why it is
# only trusted once the simple estimate reaches about 80 °F.

# Rothfusz coefficients, °F and RH in percent.
_C1: Final[float] = -42.379
_C2: Final[float] = 2.04901523
_C3: Final[float] = 10.14333127
_C4: Final[float] = -0.22475541
_C5: Final[float] = -0.00683783
_C6: Final[float] = -0.05481717
_C7: Final[float] = 0.00122874
_C8: Final[float] = 0.00085282
_C9: Final[float] = -0.00000199

_REGRESSION_THRESHOLD_F: Final[float] = 80.0


def _simple_heat_index(t: float, rh: float) -> float:
    # Steadman-consistent simple formula from the same NWS page.
    return 0.5 * (t + 61.0 + (t - 68.0) * 1.2 + rh * 0.094)


def _rothfusz(t: float, rh: float) -> float:
    return (
        _C1
        + _C2 * t
        + _C3 * rh
        + _C4 * t * rh
        + _C5 * t * t
        + _C6 * rh * rh
        + _C7 * t * t * rh
        + _C8 * t * rh * rh
        + _C9 * t * t * rh * rh
    )


def heat_index_f(temp_f: float, rh_percent: float) -> float:
    """Return the NWS heat index (°F) for air temperature ``temp_f`` (°F) and RH (0-100 %).

    Procedure of the NWS heat index equation page:

    1. compute the simple formula HI = 0.5 * (T + 61 + (T - 68) * 1.2 + 0.094 * RH);
    2. average it with T; if that average is below 80 °F, the simple HI is the answer;
    3. otherwise use the Rothfusz regression, then
       * subtract ((13 - RH) / 4) * sqrt((17 - |T - 95|) / 17) if RH < 13 % and 80 <= T <= 112;
       * add ((RH - 85) / 10) * ((87 - T) / 5) if RH > 85 % and 80 <= T <= 87.

    The page says "between 80 and 112" / "between 80 and 87" without saying whether the ends are
    included. Both adjustments vanish at T = 112 and T = 87, and with RH < 13 % the regression
    is not reached below about 80.8 °F, so the choice only matters at T = 80 °F with RH > 85 %;
    the ends are treated as inside (at 80 °F, 90 % RH that adds 0.7 °F).

    Raises:
        ValueError: non-finite temperature, or RH outside 0..100 or not finite.
    """
    t = _finite("temp_f", temp_f)
    rh = _relative_humidity(rh_percent)
    simple = _simple_heat_index(t, rh)
    if (simple + t) / 2.0 < _REGRESSION_THRESHOLD_F:
        return simple
    hi = _rothfusz(t, rh)
    if rh < 13.0 and 80.0 <= t <= 112.0:
        hi -= ((13.0 - rh) / 4.0) * math.sqrt((17.0 - abs(t - 95.0)) / 17.0)
    elif rh > 85.0 and 80.0 <= t <= 87.0:
        hi += ((rh - 85.0) / 10.0) * ((87.0 - t) / 5.0)
    return hi


def heat_index_c(temp_c: float, rh_percent: float) -> float:
    """Return the NWS heat index in °C for a temperature in °C (the regression itself is in °F).

    Raises:
        ValueError: as :func:`heat_index_f`.
    """
    t_c = _finite("temp_c", temp_c)
    return (heat_index_f(t_c * 9.0 / 5.0 + 32.0, rh_percent) - 32.0) * 5.0 / 9.0


HEAT_INDEX_CATEGORIES: Final[tuple[str, ...]] = (
    "none",
    "caution",
    "extreme_caution",
    "danger",
    "extreme_danger",
)

# NWS heat index chart bands (°F): Caution 80-90, Extreme Caution 90-103, Danger 103-124,
# Extreme Danger 125+. The chart's whole-degree labels leave 124-125 unassigned; each band is
# taken as half-open [lower, next lower), so a value is in the band whose lower bound it reaches.
_HEAT_INDEX_LOWER_F: Final[tuple[float, ...]] = (80.0, 90.0, 103.0, 125.0)


def heat_index_category(hi_f: float) -> str:
    """Return the NWS risk band of a heat index in °F.

    none < 80 <= caution < 90 <= extreme_caution < 103 <= danger < 125 <= extreme_danger.

    Raises:
        ValueError: NaN or infinite heat index.
    """
    hi = _finite("hi_f", hi_f)
    name = HEAT_INDEX_CATEGORIES[0]
    for candidate, lower in zip(HEAT_INDEX_CATEGORIES[1:], _HEAT_INDEX_LOWER_F, strict=True):
        if hi >= lower:
            name = candidate
    return name


# --- Environmental noise ----------------------------------------------------------------------
NOISE_CATEGORIES: Final[tuple[str, ...]] = (
    "quiet",
    "moderate",
    "loud",
    "very_loud",
    "harmful",
)

# Lower bounds in dB(A) of every band after "quiet". Why these numbers:
# * 45 dB: WHO Environmental Noise Guidelines for the European Region (2018) recommend road
#   traffic Lnight below 45 dB and aircraft Lden below 45 dB; under it we call a place quiet.
# * 55 dB: WHO 2018 road traffic Lden guideline is 53 dB; 55 dB is the EU Environmental Noise
#   Directive (2002/49/EC) mapping threshold and the WHO 1999 "serious annoyance" daytime
#   level, so from 55 dB exposure is above the health guideline by any of those measures.
# * 65 dB: the level commonly used by municipal noise action plans to mark hot spots needing
#   mitigation (well above the WHO guideline, where annoyance and sleep effects are frequent).
# * 75 dB: sustained levels at which hearing-protection guidance applies (WHO 1999 hearing
#   impairment guidance is LAeq,24h 70 dB); we treat it as harmful.
# Caveat: the WHO figures are long-term Lden/Lnight averages; this classifies whatever LAeq the
# caller provides (e.g. a 15-minute sensor window) and is an indicative band, not a compliance
# assessment.
_NOISE_LOWER_DB: Final[tuple[float, ...]] = (45.0, 55.0, 65.0, 75.0)


def noise_category(laeq_db: float) -> str:
    """Return the band of an A-weighted equivalent level in dB(A).

    quiet < 45 <= moderate < 55 <= loud < 65 <= very_loud < 75 <= harmful.

    Raises:
        ValueError: NaN or infinite level.
    """
    level = _finite("laeq_db", laeq_db)
    name = NOISE_CATEGORIES[0]
    for candidate, lower in zip(NOISE_CATEGORIES[1:], _NOISE_LOWER_DB, strict=True):
        if level >= lower:
            name = candidate
    return name
