"""US EPA Air Quality Index (AQI): pollutant sub-indices, categories and the PM NowCast.

Units by pollutant code (the units the EPA breakpoint tables are written in):

=========  ==========================  ===========================
code       averaging period            unit
=========  ==========================  ===========================
pm25_24h   24-hour mean PM2.5          µg/m³ (local conditions)
pm10_24h   24-hour mean PM10           µg/m³
o3_8h      8-hour running mean ozone   ppm
o3_1h      1-hour ozone                ppm
co_8h      8-hour running mean CO      ppm
so2_1h     1-hour SO2                  ppb
no2_1h     1-hour NO2                  ppb
=========  ==========================  ===========================

Computation (EPA-454/B-24-002, "Technical Assistance Document for the Reporting of Daily Air
Quality - the Air Quality Index (AQI)", May 2024, section IV; same rule in the 2018 TAD):

1. truncate the concentration (O3 to 0.001 ppm, PM2.5 and CO to 0.1, PM10, SO2 and NO2 to 1);
2. find the band with BPLo <= Cp <= BPHi;
3. Ip = (IHi - ILo) / (BPHi - BPLo) * (Cp - BPLo) + ILo, rounded to the nearest integer.

The arithmetic is done in :mod:`decimal` so that a value that lands exactly on .5 (for example
CO 1.1 ppm -> 12.5) rounds up as EPA intends, instead of falling either side by float error.

Errors versus "no value": an invalid *measurement* (negative, NaN, infinite) raises
:class:`ValueError`, as does an unknown pollutant code or table name. A valid measurement for
which the chosen table simply defines no index (beyond the AQI, 8-hour O3 above 0.200 ppm,
1-hour O3 below 0.125 ppm, 1-hour SO2 above 304 ppb, or a pollutant the table lacks) returns
``None`` so callers can fall back to another averaging period or report "beyond the AQI".
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Context, Decimal, localcontext
from fractions import Fraction
from types import MappingProxyType
from typing import Final

__all__ = [
    "CATEGORIES",
    "DEFAULT_TABLE",
    "POLLUTANTS",
    "TABLES",
    "Breakpoint",
    "breakpoints",
    "category",
    "nowcast",
    "overall",
    "sub_index",
]


@dataclass(frozen=True, slots=True)
class Breakpoint:
    """One row of an AQI breakpoint table: concentrations [c_lo, c_hi] map onto [i_lo, i_hi]."""

    c_lo: Decimal
    c_hi: Decimal
    i_lo: int
    i_hi: int


Table = Mapping[str, tuple[Breakpoint, ...]]


def _bands(*rows: tuple[str, str, int, int]) -> tuple[Breakpoint, ...]:
    # Breakpoints are written as strings so the Decimal values are exactly the published ones.
    return tuple(Breakpoint(Decimal(lo), Decimal(hi), ilo, ihi) for lo, hi, ilo, ihi in rows)


POLLUTANTS: Final[tuple[str, ...]] = (
    "pm25_24h",
    "pm10_24h",
    "o3_8h",
    "o3_1h",
    "co_8h",
    "so2_1h",
    "no2_1h",
)

# The TAD truncation steps; a band's BPLo is always the previous BPHi plus exactly this step, so
# after truncation every concentration falls in exactly one band.
_STEP: Final[Mapping[str, Decimal]] = MappingProxyType(
    {
        "pm25_24h": Decimal("0.1"),
        "pm10_24h": Decimal("1"),
        "o3_8h": Decimal("0.001"),
        "o3_1h": Decimal("0.001"),
        "co_8h": Decimal("0.1"),
        "so2_1h": Decimal("1"),
        "no2_1h": Decimal("1"),
    }
)

# --- epa-2024 ---------------------------------------------------------------------------------
# Source: 40 CFR Part 58 Appendix G, Table 2, as revised by the PM NAAQS final rule,
# 89 FR 16202 (March 6, 2024), effective May 6, 2024; reproduced as Table 6 of EPA-454/B-24-002.
# The rule merged the former 301-400 and 401-500 rows into one Hazardous row (AQI 301-500).
# The regulation prints that row open-ended ("225.5+", "30.5+", ...); the TAD gives the
# concentrations that pin AQI 500 (PM2.5 325.4, PM10 604, CO 50.4, NO2 2049, 1-hr O3 0.604),
# which are what interpolation inside the merged band needs.
# 1-hour SO2 stops at 304 ppb (AQI 200): EPA computes higher SO2 AQI values from 24-hour
# averages, a different averaging period that is not a pollutant code here.
# 8-hour O3 stops at 0.200 ppm (AQI 300): above that EPA uses the 1-hour O3 rows.
_EPA_2024: Final[Table] = MappingProxyType(
    {
        "pm25_24h": _bands(
            ("0.0", "9.0", 0, 50),
            ("9.1", "35.4", 51, 100),
            ("35.5", "55.4", 101, 150),
            ("55.5", "125.4", 151, 200),
            ("125.5", "225.4", 201, 300),
            ("225.5", "325.4", 301, 500),
        ),
        "pm10_24h": _bands(
            ("0", "54", 0, 50),
            ("55", "154", 51, 100),
            ("155", "254", 101, 150),
            ("255", "354", 151, 200),
            ("355", "424", 201, 300),
            ("425", "604", 301, 500),
        ),
        "o3_8h": _bands(
            ("0.000", "0.054", 0, 50),
            ("0.055", "0.070", 51, 100),
            ("0.071", "0.085", 101, 150),
            ("0.086", "0.105", 151, 200),
            ("0.106", "0.200", 201, 300),
        ),
        # 1-hour O3 has no rows below AQI 101: the 8-hour rows are the index there.
        "o3_1h": _bands(
            ("0.125", "0.164", 101, 150),
            ("0.165", "0.204", 151, 200),
            ("0.205", "0.404", 201, 300),
            ("0.405", "0.604", 301, 500),
        ),
        "co_8h": _bands(
            ("0.0", "4.4", 0, 50),
            ("4.5", "9.4", 51, 100),
            ("9.5", "12.4", 101, 150),
            ("12.5", "15.4", 151, 200),
            ("15.5", "30.4", 201, 300),
            ("30.5", "50.4", 301, 500),
        ),
        "so2_1h": _bands(
            ("0", "35", 0, 50),
            ("36", "75", 51, 100),
            ("76", "185", 101, 150),
            ("186", "304", 151, 200),
        ),
        "no2_1h": _bands(
            ("0", "53", 0, 50),
            ("54", "100", 51, 100),
            ("101", "360", 101, 150),
            ("361", "649", 151, 200),
            ("650", "1249", 201, 300),
            ("1250", "2049", 301, 500),
        ),
    }
)

# --- epa-2012 ---------------------------------------------------------------------------------
# Source: 40 CFR Part 58 Appendix G, Table 2, as in force from the 2012 PM NAAQS revision
# (78 FR 3086, January 15, 2013) until May 6, 2024, i.e. Table 5 of EPA-454/B-18-007
# (September 2018 TAD). It therefore carries the later 2015 ozone breakpoints (80 FR 65292,
# October 26, 2015: 0.055-0.070 ppm for "moderate") and the 2010 1-hour NO2/SO2 rows in ppb,
# because that is the table AirNow used for PM2.5 2012-breakpoint AQI values.
# Pre-2015 8-hour ozone values (0.000-0.059, 0.060-0.075, ...) are NOT reproduced here.
_EPA_2012: Final[Table] = MappingProxyType(
    {
        "pm25_24h": _bands(
            ("0.0", "12.0", 0, 50),
            ("12.1", "35.4", 51, 100),
            ("35.5", "55.4", 101, 150),
            ("55.5", "150.4", 151, 200),
            ("150.5", "250.4", 201, 300),
            ("250.5", "350.4", 301, 400),
            ("350.5", "500.4", 401, 500),
        ),
        "pm10_24h": _bands(
            ("0", "54", 0, 50),
            ("55", "154", 51, 100),
            ("155", "254", 101, 150),
            ("255", "354", 151, 200),
            ("355", "424", 201, 300),
            ("425", "504", 301, 400),
            ("505", "604", 401, 500),
        ),
        "o3_8h": _bands(
            ("0.000", "0.054", 0, 50),
            ("0.055", "0.070", 51, 100),
            ("0.071", "0.085", 101, 150),
            ("0.086", "0.105", 151, 200),
            ("0.106", "0.200", 201, 300),
        ),
        "o3_1h": _bands(
            ("0.125", "0.164", 101, 150),
            ("0.165", "0.204", 151, 200),
            ("0.205", "0.404", 201, 300),
            ("0.405", "0.504", 301, 400),
            ("0.505", "0.604", 401, 500),
        ),
        "co_8h": _bands(
            ("0.0", "4.4", 0, 50),
            ("4.5", "9.4", 51, 100),
            ("9.5", "12.4", 101, 150),
            ("12.5", "15.4", 151, 200),
            ("15.5", "30.4", 201, 300),
            ("30.5", "40.4", 301, 400),
            ("40.5", "50.4", 401, 500),
        ),
        # The published 305-1004 ppb SO2 rows are 24-hour values (see the 2024 note above).
        "so2_1h": _bands(
            ("0", "35", 0, 50),
            ("36", "75", 51, 100),
            ("76", "185", 101, 150),
            ("186", "304", 151, 200),
        ),
        "no2_1h": _bands(
            ("0", "53", 0, 50),
            ("54", "100", 51, 100),
            ("101", "360", 101, 150),
            ("361", "649", 151, 200),
            ("650", "1249", 201, 300),
            ("1250", "1649", 301, 400),
            ("1650", "2049", 401, 500),
        ),
    }
)

# --- epa-1999 ---------------------------------------------------------------------------------
# Source: 40 CFR Part 58 Appendix G, Table 2, as promulgated by "Air Quality Index Reporting",
# 64 FR 42530 (August 4, 1999); guideline EPA-454/R-99-010 (July 1999). These are the
# breakpoints behind PM2.5 AQI values published before the 2012 revision took effect.
# 8-hour O3 uses the 1999 rows (0.08 ppm NAAQS), not the 2008 ones (0.000-0.059, ...).
# Omitted on purpose: SO2 was then a 24-hour index in ppm and NO2 a 1-hour index in ppm defined
# only from AQI 201 with 0.01 ppm resolution; neither fits the so2_1h / no2_1h codes, so both
# return None for this table.
_EPA_1999: Final[Table] = MappingProxyType(
    {
        "pm25_24h": _bands(
            ("0.0", "15.4", 0, 50),
            ("15.5", "40.4", 51, 100),
            ("40.5", "65.4", 101, 150),
            ("65.5", "150.4", 151, 200),
            ("150.5", "250.4", 201, 300),
            ("250.5", "350.4", 301, 400),
            ("350.5", "500.4", 401, 500),
        ),
        "pm10_24h": _bands(
            ("0", "54", 0, 50),
            ("55", "154", 51, 100),
            ("155", "254", 101, 150),
            ("255", "354", 151, 200),
            ("355", "424", 201, 300),
            ("425", "504", 301, 400),
            ("505", "604", 401, 500),
        ),
        "o3_8h": _bands(
            ("0.000", "0.064", 0, 50),
            ("0.065", "0.084", 51, 100),
            ("0.085", "0.104", 101, 150),
            ("0.105", "0.124", 151, 200),
            ("0.125", "0.374", 201, 300),
        ),
        "o3_1h": _bands(
            ("0.125", "0.164", 101, 150),
            ("0.165", "0.204", 151, 200),
            ("0.205", "0.404", 201, 300),
            ("0.405", "0.504", 301, 400),
            ("0.505", "0.604", 401, 500),
        ),
        "co_8h": _bands(
            ("0.0", "4.4", 0, 50),
            ("4.5", "9.4", 51, 100),
            ("9.5", "12.4", 101, 150),
            ("12.5", "15.4", 151, 200),
            ("15.5", "30.4", 201, 300),
            ("30.5", "40.4", 301, 400),
            ("40.5", "50.4", 401, 500),
        ),
    }
)

_TABLES: Final[Mapping[str, Table]] = MappingProxyType(
    {"epa-2024": _EPA_2024, "epa-2012": _EPA_2012, "epa-1999": _EPA_1999}
)

TABLES: Final[tuple[str, ...]] = tuple(_TABLES)

# The breakpoints in force today; historical tables must be asked for by name.
DEFAULT_TABLE: Final[str] = "epa-2024"

CATEGORIES: Final[tuple[str, ...]] = (
    "good",
    "moderate",
    "unhealthy_for_sensitive_groups",
    "unhealthy",
    "very_unhealthy",
    "hazardous",
)

# Upper AQI bound of each category but the last (40 CFR 58 App. G Table 2, "AQI" column).
_CATEGORY_UPPER: Final[tuple[int, ...]] = (50, 100, 150, 200, 300)

# Enough digits that an exact .5 is never produced (or hidden) by the division's own rounding:
# every Ip is a ratio with a denominator below 10**6, far from 34 significant digits.
_DECIMAL_CONTEXT: Final[Context] = Context(prec=34, rounding=ROUND_HALF_UP)


def _check_table(table: str) -> Table:
    try:
        return _TABLES[table]
    except KeyError:
        raise ValueError(f"unknown AQI table {table!r}; expected one of {TABLES}") from None


def _check_pollutant(pollutant: str) -> None:
    if pollutant not in _STEP:
        raise ValueError(f"unknown pollutant code {pollutant!r}; expected one of {POLLUTANTS}")


def _as_decimal(concentration: float) -> Decimal:
    # The shortest repr is the number the reading "is" (9.09, not 9.0899999999999998579...),
    # so truncating it never loses a step because of binary representation error.
    if isinstance(concentration, bool):
        raise TypeError("concentration must be a number, not bool")
    if isinstance(concentration, Decimal):
        value = concentration
    elif isinstance(concentration, int):
        value = Decimal(concentration)
    else:
        as_float = float(concentration)
        if math.isnan(as_float):
            raise ValueError("concentration is NaN")
        if math.isinf(as_float):
            raise ValueError("concentration is infinite")
        value = Decimal(repr(as_float))
    if value.is_nan():
        raise ValueError("concentration is NaN")
    if value.is_infinite():
        raise ValueError("concentration is infinite")
    if value < 0:
        raise ValueError(f"concentration must not be negative, got {concentration!r}")
    return value


def breakpoints(pollutant: str, *, table: str = DEFAULT_TABLE) -> tuple[Breakpoint, ...]:
    """Return the bands of ``pollutant`` in ``table`` (empty if the table does not define it).

    Raises:
        ValueError: unknown pollutant code or table name.
    """
    rows = _check_table(table)
    _check_pollutant(pollutant)
    return rows.get(pollutant, ())


def sub_index(pollutant: str, concentration: float, *, table: str = DEFAULT_TABLE) -> int | None:
    """Return the AQI sub-index of one pollutant concentration, or None where none is defined.

    ``concentration`` is in the unit of the pollutant code (see the module docstring) and is
    truncated per the EPA TAD before interpolation; the result is rounded half up.

    Returns None when the table defines no index for the value: above the top breakpoint
    ("beyond the AQI"), 8-hour O3 above 0.200 ppm, 1-hour O3 below 0.125 ppm, 1-hour SO2 above
    304 ppb, or a pollutant that ``table`` does not include.

    Raises:
        ValueError: negative, NaN or infinite concentration; unknown pollutant or table.
        TypeError: a bool was given as the concentration.
    """
    rows = _check_table(table)
    _check_pollutant(pollutant)
    value = _as_decimal(concentration)
    bands = rows.get(pollutant)
    if not bands:
        return None
    step = _STEP[pollutant]
    with localcontext(_DECIMAL_CONTEXT):
        # Checked before quantize(): huge values would overflow the quantize precision, and no
        # truncation can bring a value this far above the top breakpoint back into the table.
        if value >= bands[-1].c_hi + step:
            return None
        truncated = value.quantize(step, rounding=ROUND_DOWN)
        for band in bands:
            if band.c_lo <= truncated <= band.c_hi:
                # Multiply before dividing: when the exact result is k + 0.5 the quotient is
                # then exact too, so ROUND_HALF_UP sees the true half.
                numerator = Decimal(band.i_hi - band.i_lo) * (truncated - band.c_lo)
                index = numerator / (band.c_hi - band.c_lo) + band.i_lo
                return int(index.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return None


def category(aqi: int) -> str:
    """Return the AQI category name of an index value.

    good 0-50, moderate 51-100, unhealthy_for_sensitive_groups 101-150, unhealthy 151-200,
    very_unhealthy 201-300, hazardous 301 and above (including "beyond the AQI" values > 500).

    Raises:
        ValueError: negative index.
        TypeError: not an integer (AQI values are reported as integers).
    """
    value = operator.index(aqi)
    if value < 0:
        raise ValueError(f"AQI must not be negative, got {value}")
    for name, upper in zip(CATEGORIES, _CATEGORY_UPPER, strict=False):
        if value <= upper:
            return name
    return CATEGORIES[-1]


def overall(
    concentrations: Mapping[str, float], *, table: str = DEFAULT_TABLE
) -> tuple[int, str] | None:
    """Return (AQI, responsible pollutant): the highest sub-index among ``concentrations``.

    Per the TAD the reported AQI is the maximum of the pollutant sub-indices; where 8-hour and
    1-hour ozone are both given the larger counts, as EPA prescribes for the areas that report
    both. Ties go to the pollutant listed first in :data:`POLLUTANTS`, so the answer does not
    depend on the mapping's order. Returns None if no pollutant has a defined sub-index.

    Raises:
        ValueError: as :func:`sub_index` (unknown code or table, invalid concentration).
    """
    _check_table(table)
    for code in concentrations:
        _check_pollutant(code)
    best: tuple[int, str] | None = None
    for code in POLLUTANTS:
        if code not in concentrations:
            continue
        index = sub_index(code, concentrations[code], table=table)
        if index is not None and (best is None or index > best[0]):
            best = (index, code)
    return best


# NowCast parameters for particulate matter (AirNow "The NowCast for PM2.5 and PM10"; TAD 2024
# section IV "How the NowCast is calculated").
_NOWCAST_HOURS: Final[int] = 12
# A weight floor of 0.5 makes the NowCast behave roughly like a 3-hour average at the fastest.
_NOWCAST_MIN_WEIGHT: Final[Fraction] = Fraction(1, 2)
_NOWCAST_STEP: Final[Mapping[str, Fraction]] = MappingProxyType(
    {"pm25": Fraction(1, 10), "pm10": Fraction(1)}
)


def _hour_value(value: float | None) -> Fraction | None:
    # Missing hours arrive as None, or as NaN from dataframe-style sources; both mean "invalid".
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError("hourly values must be numbers, not bool")
    as_float = float(value)
    if math.isnan(as_float):
        return None
    if math.isinf(as_float):
        raise ValueError("hourly concentration is infinite")
    if as_float < 0:
        raise ValueError(f"hourly concentration must not be negative, got {value!r}")
    return Fraction(repr(as_float))


def nowcast(hourly: Sequence[float | None], *, pollutant: str = "pm25") -> float | None:
    """Return the EPA NowCast concentration for PM2.5 (``"pm25"``) or PM10 (``"pm10"``).

    ``hourly`` holds hourly mean concentrations in µg/m³, **newest first**; only the first 12
    are used and ``None`` (or NaN) marks a missing hour. Following EPA:

    * at least 2 of the 3 most recent hours must be valid, otherwise None;
    * weight w = min/max of the valid hours, raised to at least 0.5;
    * NowCast = sum(w**i * c_i) / sum(w**i) over valid hours, i = hours ago (0 = newest);
    * raw hourly values are used untruncated; the result is truncated to 0.1 µg/m³ for PM2.5
      and to 1 µg/m³ for PM10 (ready for :func:`sub_index` with ``pm25_24h`` / ``pm10_24h``).

    The weighted mean is computed with exact fractions so the truncation cannot be tipped by
    float error.

    Raises:
        ValueError: unknown pollutant, or a negative or infinite hourly value.
    """
    try:
        step = _NOWCAST_STEP[pollutant]
    except KeyError:
        raise ValueError(f"nowcast pollutant must be 'pm25' or 'pm10', got {pollutant!r}") from None
    values = [_hour_value(v) for v in list(hourly)[:_NOWCAST_HOURS]]
    recent_valid = sum(1 for v in values[:3] if v is not None)
    if recent_valid < 2:
        return None
    valid = [(age, v) for age, v in enumerate(values) if v is not None]
    c_max = max(v for _, v in valid)
    c_min = min(v for _, v in valid)
    # All-zero hours: any weight gives 0; 1 avoids dividing by the zero maximum.
    weight = Fraction(1) if c_max == 0 else max(c_min / c_max, _NOWCAST_MIN_WEIGHT)
    numerator = sum((weight**age * v for age, v in valid), Fraction(0))
    denominator = sum((weight**age for age, _ in valid), Fraction(0))
    mean = numerator / denominator
    truncated = math.floor(mean / step) * step
    return float(truncated)
