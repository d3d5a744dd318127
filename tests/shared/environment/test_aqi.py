"""Tests for shared.environment.aqi.

Every expected value below is written out by hand from the EPA documents (40 CFR Part 58
Appendix G Table 2 as revised by 89 FR 16202 for epa-2024; the September 2018 TAD,
EPA-454/B-18-007, for epa-2012; 64 FR 42530 for epa-1999). None is derived from the module's own
tables, so a typo in a table makes a test fail.
"""

from __future__ import annotations

import itertools
import math
from decimal import Decimal

import pytest

from shared.environment.aqi import (
    CATEGORIES,
    DEFAULT_TABLE,
    POLLUTANTS,
    TABLES,
    breakpoints,
    category,
    nowcast,
    overall,
    sub_index,
)

# --------------------------------------------------------------------------------------------
# Band edges: every BPLo and BPHi of every pollutant of every table, with ILo / IHi.
# --------------------------------------------------------------------------------------------

EDGES_2024: list[tuple[str, float, int]] = [
    # PM2.5 24-hour, µg/m³ (89 FR 16202: 9.0 good ceiling, 125.4 / 225.4 / 325.4 upper rows)
    ("pm25_24h", 0.0, 0),
    ("pm25_24h", 9.0, 50),
    ("pm25_24h", 9.1, 51),
    ("pm25_24h", 35.4, 100),
    ("pm25_24h", 35.5, 101),
    ("pm25_24h", 55.4, 150),
    ("pm25_24h", 55.5, 151),
    ("pm25_24h", 125.4, 200),
    ("pm25_24h", 125.5, 201),
    ("pm25_24h", 225.4, 300),
    ("pm25_24h", 225.5, 301),
    ("pm25_24h", 325.4, 500),
    # PM10 24-hour, µg/m³ (hazardous merged into 425-604 -> 301-500)
    ("pm10_24h", 0, 0),
    ("pm10_24h", 54, 50),
    ("pm10_24h", 55, 51),
    ("pm10_24h", 154, 100),
    ("pm10_24h", 155, 101),
    ("pm10_24h", 254, 150),
    ("pm10_24h", 255, 151),
    ("pm10_24h", 354, 200),
    ("pm10_24h", 355, 201),
    ("pm10_24h", 424, 300),
    ("pm10_24h", 425, 301),
    ("pm10_24h", 604, 500),
    # O3 8-hour, ppm
    ("o3_8h", 0.000, 0),
    ("o3_8h", 0.054, 50),
    ("o3_8h", 0.055, 51),
    ("o3_8h", 0.070, 100),
    ("o3_8h", 0.071, 101),
    ("o3_8h", 0.085, 150),
    ("o3_8h", 0.086, 151),
    ("o3_8h", 0.105, 200),
    ("o3_8h", 0.106, 201),
    ("o3_8h", 0.200, 300),
    # O3 1-hour, ppm (starts at AQI 101)
    ("o3_1h", 0.125, 101),
    ("o3_1h", 0.164, 150),
    ("o3_1h", 0.165, 151),
    ("o3_1h", 0.204, 200),
    ("o3_1h", 0.205, 201),
    ("o3_1h", 0.404, 300),
    ("o3_1h", 0.405, 301),
    ("o3_1h", 0.604, 500),
    # CO 8-hour, ppm (hazardous 30.5-50.4 -> 301-500)
    ("co_8h", 0.0, 0),
    ("co_8h", 4.4, 50),
    ("co_8h", 4.5, 51),
    ("co_8h", 9.4, 100),
    ("co_8h", 9.5, 101),
    ("co_8h", 12.4, 150),
    ("co_8h", 12.5, 151),
    ("co_8h", 15.4, 200),
    ("co_8h", 15.5, 201),
    ("co_8h", 30.4, 300),
    ("co_8h", 30.5, 301),
    ("co_8h", 50.4, 500),
    # SO2 1-hour, ppb (ends at AQI 200)
    ("so2_1h", 0, 0),
    ("so2_1h", 35, 50),
    ("so2_1h", 36, 51),
    ("so2_1h", 75, 100),
    ("so2_1h", 76, 101),
    ("so2_1h", 185, 150),
    ("so2_1h", 186, 151),
    ("so2_1h", 304, 200),
    # NO2 1-hour, ppb (hazardous 1250-2049 -> 301-500)
    ("no2_1h", 0, 0),
    ("no2_1h", 53, 50),
    ("no2_1h", 54, 51),
    ("no2_1h", 100, 100),
    ("no2_1h", 101, 101),
    ("no2_1h", 360, 150),
    ("no2_1h", 361, 151),
    ("no2_1h", 649, 200),
    ("no2_1h", 650, 201),
    ("no2_1h", 1249, 300),
    ("no2_1h", 1250, 301),
    ("no2_1h", 2049, 500),
]

EDGES_2012: list[tuple[str, float, int]] = [
    ("pm25_24h", 0.0, 0),
    ("pm25_24h", 12.0, 50),
    ("pm25_24h", 12.1, 51),
    ("pm25_24h", 35.4, 100),
    ("pm25_24h", 35.5, 101),
    ("pm25_24h", 55.4, 150),
    ("pm25_24h", 55.5, 151),
    ("pm25_24h", 150.4, 200),
    ("pm25_24h", 150.5, 201),
    ("pm25_24h", 250.4, 300),
    ("pm25_24h", 250.5, 301),
    ("pm25_24h", 350.4, 400),
    ("pm25_24h", 350.5, 401),
    ("pm25_24h", 500.4, 500),
    ("pm10_24h", 0, 0),
    ("pm10_24h", 54, 50),
    ("pm10_24h", 55, 51),
    ("pm10_24h", 154, 100),
    ("pm10_24h", 155, 101),
    ("pm10_24h", 254, 150),
    ("pm10_24h", 255, 151),
    ("pm10_24h", 354, 200),
    ("pm10_24h", 355, 201),
    ("pm10_24h", 424, 300),
    ("pm10_24h", 425, 301),
    ("pm10_24h", 504, 400),
    ("pm10_24h", 505, 401),
    ("pm10_24h", 604, 500),
    ("o3_8h", 0.000, 0),
    ("o3_8h", 0.054, 50),
    ("o3_8h", 0.055, 51),
    ("o3_8h", 0.070, 100),
    ("o3_8h", 0.071, 101),
    ("o3_8h", 0.085, 150),
    ("o3_8h", 0.086, 151),
    ("o3_8h", 0.105, 200),
    ("o3_8h", 0.106, 201),
    ("o3_8h", 0.200, 300),
    ("o3_1h", 0.125, 101),
    ("o3_1h", 0.164, 150),
    ("o3_1h", 0.165, 151),
    ("o3_1h", 0.204, 200),
    ("o3_1h", 0.205, 201),
    ("o3_1h", 0.404, 300),
    ("o3_1h", 0.405, 301),
    ("o3_1h", 0.504, 400),
    ("o3_1h", 0.505, 401),
    ("o3_1h", 0.604, 500),
    ("co_8h", 0.0, 0),
    ("co_8h", 4.4, 50),
    ("co_8h", 4.5, 51),
    ("co_8h", 9.4, 100),
    ("co_8h", 9.5, 101),
    ("co_8h", 12.4, 150),
    ("co_8h", 12.5, 151),
    ("co_8h", 15.4, 200),
    ("co_8h", 15.5, 201),
    ("co_8h", 30.4, 300),
    ("co_8h", 30.5, 301),
    ("co_8h", 40.4, 400),
    ("co_8h", 40.5, 401),
    ("co_8h", 50.4, 500),
    ("so2_1h", 0, 0),
    ("so2_1h", 35, 50),
    ("so2_1h", 36, 51),
    ("so2_1h", 75, 100),
    ("so2_1h", 76, 101),
    ("so2_1h", 185, 150),
    ("so2_1h", 186, 151),
    ("so2_1h", 304, 200),
    ("no2_1h", 0, 0),
    ("no2_1h", 53, 50),
    ("no2_1h", 54, 51),
    ("no2_1h", 100, 100),
    ("no2_1h", 101, 101),
    ("no2_1h", 360, 150),
    ("no2_1h", 361, 151),
    ("no2_1h", 649, 200),
    ("no2_1h", 650, 201),
    ("no2_1h", 1249, 300),
    ("no2_1h", 1250, 301),
    ("no2_1h", 1649, 400),
    ("no2_1h", 1650, 401),
    ("no2_1h", 2049, 500),
]

EDGES_1999: list[tuple[str, float, int]] = [
    ("pm25_24h", 0.0, 0),
    ("pm25_24h", 15.4, 50),
    ("pm25_24h", 15.5, 51),
    ("pm25_24h", 40.4, 100),
    ("pm25_24h", 40.5, 101),
    ("pm25_24h", 65.4, 150),
    ("pm25_24h", 65.5, 151),
    ("pm25_24h", 150.4, 200),
    ("pm25_24h", 150.5, 201),
    ("pm25_24h", 250.4, 300),
    ("pm25_24h", 250.5, 301),
    ("pm25_24h", 350.4, 400),
    ("pm25_24h", 350.5, 401),
    ("pm25_24h", 500.4, 500),
    ("pm10_24h", 0, 0),
    ("pm10_24h", 54, 50),
    ("pm10_24h", 55, 51),
    ("pm10_24h", 154, 100),
    ("pm10_24h", 155, 101),
    ("pm10_24h", 254, 150),
    ("pm10_24h", 255, 151),
    ("pm10_24h", 354, 200),
    ("pm10_24h", 355, 201),
    ("pm10_24h", 424, 300),
    ("pm10_24h", 425, 301),
    ("pm10_24h", 504, 400),
    ("pm10_24h", 505, 401),
    ("pm10_24h", 604, 500),
    # 1999 8-hour ozone (0.08 ppm NAAQS era)
    ("o3_8h", 0.000, 0),
    ("o3_8h", 0.064, 50),
    ("o3_8h", 0.065, 51),
    ("o3_8h", 0.084, 100),
    ("o3_8h", 0.085, 101),
    ("o3_8h", 0.104, 150),
    ("o3_8h", 0.105, 151),
    ("o3_8h", 0.124, 200),
    ("o3_8h", 0.125, 201),
    ("o3_8h", 0.374, 300),
    ("o3_1h", 0.125, 101),
    ("o3_1h", 0.164, 150),
    ("o3_1h", 0.165, 151),
    ("o3_1h", 0.204, 200),
    ("o3_1h", 0.205, 201),
    ("o3_1h", 0.404, 300),
    ("o3_1h", 0.405, 301),
    ("o3_1h", 0.504, 400),
    ("o3_1h", 0.505, 401),
    ("o3_1h", 0.604, 500),
    ("co_8h", 0.0, 0),
    ("co_8h", 4.4, 50),
    ("co_8h", 4.5, 51),
    ("co_8h", 9.4, 100),
    ("co_8h", 9.5, 101),
    ("co_8h", 12.4, 150),
    ("co_8h", 12.5, 151),
    ("co_8h", 15.4, 200),
    ("co_8h", 15.5, 201),
    ("co_8h", 30.4, 300),
    ("co_8h", 30.5, 301),
    ("co_8h", 40.4, 400),
    ("co_8h", 40.5, 401),
    ("co_8h", 50.4, 500),
]

ALL_EDGES: dict[str, list[tuple[str, float, int]]] = {
    "epa-2024": EDGES_2024,
    "epa-2012": EDGES_2012,
    "epa-1999": EDGES_1999,
}


@pytest.mark.parametrize(("pollutant", "concentration", "expected"), EDGES_2024)
def test_epa_2024_band_edges(pollutant: str, concentration: float, expected: int) -> None:
    assert sub_index(pollutant, concentration, table="epa-2024") == expected


@pytest.mark.parametrize(("pollutant", "concentration", "expected"), EDGES_2012)
def test_epa_2012_band_edges(pollutant: str, concentration: float, expected: int) -> None:
    assert sub_index(pollutant, concentration, table="epa-2012") == expected


@pytest.mark.parametrize(("pollutant", "concentration", "expected"), EDGES_1999)
def test_epa_1999_band_edges(pollutant: str, concentration: float, expected: int) -> None:
    assert sub_index(pollutant, concentration, table="epa-1999") == expected


@pytest.mark.parametrize("table", ["epa-2024", "epa-2012", "epa-1999"])
@pytest.mark.parametrize("pollutant", POLLUTANTS)
def test_edge_lists_cover_every_band(table: str, pollutant: str) -> None:
    # Guards the literal lists above against silently missing a band (or the module growing
    # one that nobody checked): each band contributes exactly its BPLo and BPHi.
    listed = [row for row in ALL_EDGES[table] if row[0] == pollutant]
    assert len(listed) == 2 * len(breakpoints(pollutant, table=table))


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("pollutant", POLLUTANTS)
def test_bands_are_contiguous_at_truncation_resolution(table: str, pollutant: str) -> None:
    step = {
        "pm25_24h": Decimal("0.1"),
        "pm10_24h": Decimal("1"),
        "o3_8h": Decimal("0.001"),
        "o3_1h": Decimal("0.001"),
        "co_8h": Decimal("0.1"),
        "so2_1h": Decimal("1"),
        "no2_1h": Decimal("1"),
    }[pollutant]
    bands = breakpoints(pollutant, table=table)
    for lower, upper in itertools.pairwise(bands):
        assert upper.c_lo == lower.c_hi + step
        assert upper.i_lo == lower.i_hi + 1
    for band in bands:
        assert band.c_lo < band.c_hi
        assert band.i_lo < band.i_hi


# --------------------------------------------------------------------------------------------
# No value: beyond the top breakpoint, and the rows EPA leaves blank.
# --------------------------------------------------------------------------------------------

NO_VALUE: list[tuple[str, str, float]] = [
    # one truncation step above each table's top breakpoint ("beyond the AQI")
    ("epa-2024", "pm25_24h", 325.5),
    ("epa-2024", "pm10_24h", 605),
    ("epa-2024", "o3_8h", 0.201),  # EPA: use 1-hour O3 above 0.200 ppm
    ("epa-2024", "o3_1h", 0.605),
    ("epa-2024", "co_8h", 50.5),
    ("epa-2024", "so2_1h", 305),  # EPA: use 24-hour SO2 above 304 ppb
    ("epa-2024", "no2_1h", 2050),
    ("epa-2012", "pm25_24h", 500.5),
    ("epa-2012", "pm10_24h", 605),
    ("epa-2012", "o3_8h", 0.201),
    ("epa-2012", "o3_1h", 0.605),
    ("epa-2012", "co_8h", 50.5),
    ("epa-2012", "so2_1h", 305),
    ("epa-2012", "no2_1h", 2050),
    ("epa-1999", "pm25_24h", 500.5),
    ("epa-1999", "pm10_24h", 605),
    ("epa-1999", "o3_8h", 0.375),
    ("epa-1999", "o3_1h", 0.605),
    ("epa-1999", "co_8h", 50.5),
    # 1-hour O3 is not defined below 0.125 ppm (AQI < 101)
    ("epa-2024", "o3_1h", 0.124),
    ("epa-2024", "o3_1h", 0.0),
    ("epa-2012", "o3_1h", 0.124),
    ("epa-1999", "o3_1h", 0.124),
    ("epa-2024", "o3_1h", 0.1249),  # truncates to 0.124
    # the 1999 table has no 1-hour SO2 / NO2 in ppb
    ("epa-1999", "so2_1h", 0),
    ("epa-1999", "so2_1h", 100),
    ("epa-1999", "no2_1h", 0),
    ("epa-1999", "no2_1h", 700),
    # far beyond the table, including values too large for naive decimal quantization
    ("epa-2024", "pm25_24h", 1e6),
    ("epa-2024", "pm25_24h", 1e300),
    ("epa-2024", "no2_1h", 10**40),
]


@pytest.mark.parametrize(("table", "pollutant", "concentration"), NO_VALUE)
def test_no_value_returns_none(table: str, pollutant: str, concentration: float) -> None:
    assert sub_index(pollutant, concentration, table=table) is None


# --------------------------------------------------------------------------------------------
# Truncation (TAD: truncate, never round, before interpolating).
# --------------------------------------------------------------------------------------------

TRUNCATION: list[tuple[str, str, float, int]] = [
    # 9.09 -> 9.0 -> 50 (rounding would give 9.1 -> 51)
    ("epa-2024", "pm25_24h", 9.09, 50),
    # 35.49 -> 35.4 -> 100
    ("epa-2024", "pm25_24h", 35.49, 100),
    # 9.19 -> 9.1 -> 51
    ("epa-2024", "pm25_24h", 9.19, 51),
    # 325.49 -> 325.4 -> 500: still inside the table after truncation
    ("epa-2024", "pm25_24h", 325.49, 500),
    # 0.09 -> 0.0 -> 0
    ("epa-2024", "pm25_24h", 0.09, 0),
    # 12.09 -> 12.0 -> 50 under the 2012 breakpoints
    ("epa-2012", "pm25_24h", 12.09, 50),
    # O3 to 3 decimals: 0.0549 -> 0.054 -> 50
    ("epa-2012", "o3_8h", 0.0549, 50),
    ("epa-2024", "o3_8h", 0.0549, 50),
    # 0.2009 -> 0.200 -> 300, not "use 1-hour O3"
    ("epa-2024", "o3_8h", 0.2009, 300),
    # 1-hour O3 0.1259 -> 0.125 -> 101
    ("epa-2024", "o3_1h", 0.1259, 101),
    # CO to 1 decimal: 4.49 -> 4.4 -> 50
    ("epa-2024", "co_8h", 4.49, 50),
    # NO2 to integer ppb: 53.9 -> 53 -> 50
    ("epa-2024", "no2_1h", 53.9, 50),
    # SO2 to integer ppb: 35.999 -> 35 -> 50; 304.9 -> 304 -> 200 (not None)
    ("epa-2024", "so2_1h", 35.999, 50),
    ("epa-2024", "so2_1h", 304.9, 200),
    # PM10 to integer: 54.99 -> 54 -> 50
    ("epa-2024", "pm10_24h", 54.99, 50),
    # float noise: 0.1 + 0.2 == 0.30000000000000004 -> 0.3 -> 50 * 0.3 / 9.0 = 1.67 -> 2
    ("epa-2024", "pm25_24h", 0.1 + 0.2, 2),
]


@pytest.mark.parametrize(("table", "pollutant", "concentration", "expected"), TRUNCATION)
def test_truncation(table: str, pollutant: str, concentration: float, expected: int) -> None:
    assert sub_index(pollutant, concentration, table=table) == expected


# --------------------------------------------------------------------------------------------
# Round half up, on values that are exactly k + 0.5 (float rounding or banker's rounding would
# give the lower integer for several of them).
# --------------------------------------------------------------------------------------------

HALF_UP: list[tuple[str, str, float, int]] = [
    # CO 1.1 ppm, band 0.0-4.4 -> 0-50: (50 - 0) / (4.4 - 0.0) * (1.1 - 0.0) + 0
    #   = 50 * 1.1 / 4.4 = 55 / 4.4 = 12.5 -> 13 (round-half-even would give 12)
    ("epa-2024", "co_8h", 1.1, 13),
    # PM2.5 0.6 under 2012, band 0.0-12.0 -> 0-50: 50 * 0.6 / 12.0 = 30 / 12 = 2.5 -> 3
    ("epa-2012", "pm25_24h", 0.6, 3),
    # SO2 245 ppb, band 186-304 -> 151-200: (200 - 151) / (304 - 186) * (245 - 186) + 151
    #   = 49 * 59 / 118 + 151 = 2891 / 118 + 151 = 24.5 + 151 = 175.5 -> 176
    ("epa-2024", "so2_1h", 245, 176),
    # NO2 77 ppb, band 54-100 -> 51-100: 49 * (77 - 54) / (100 - 54) + 51
    #   = 49 * 23 / 46 + 51 = 24.5 + 51 = 75.5 -> 76
    ("epa-2024", "no2_1h", 77, 76),
    # O3 0.072 ppm (8-hour), band 0.071-0.085 -> 101-150: 49 * 0.001 / 0.014 + 101
    #   = 3.5 + 101 = 104.5 -> 105
    ("epa-2024", "o3_8h", 0.072, 105),
    # Just below a half stays down: CO 1.0 ppm -> 50 * 1.0 / 4.4 = 11.36 -> 11
    ("epa-2024", "co_8h", 1.0, 11),
    # And just above goes up: CO 1.2 ppm -> 50 * 1.2 / 4.4 = 13.64 -> 14
    ("epa-2024", "co_8h", 1.2, 14),
]


@pytest.mark.parametrize(("table", "pollutant", "concentration", "expected"), HALF_UP)
def test_round_half_up(table: str, pollutant: str, concentration: float, expected: int) -> None:
    assert sub_index(pollutant, concentration, table=table) == expected


def test_half_up_does_not_depend_on_float_rounding() -> None:
    # Python's round() is half-even: the naive float formula gives 12, EPA's rule gives 13.
    assert round(50 / 4.4 * 1.1) == 12
    assert sub_index("co_8h", 1.1) == 13


# --------------------------------------------------------------------------------------------
# Published / worked examples.
# --------------------------------------------------------------------------------------------


def test_tad_example_pm25_35_9_under_2012_breakpoints() -> None:
    # TAD (EPA-454/B-18-007) worked example: 35.9 µg/m³ in band 35.5-55.4 -> 101-150:
    #   (150 - 101) / (55.4 - 35.5) * (35.9 - 35.5) + 101 = 49 / 19.9 * 0.4 + 101
    #   = 19.6 / 19.9 + 101 = 0.985 + 101 = 101.985 -> 102
    assert sub_index("pm25_24h", 35.9, table="epa-2012") == 102


def test_pm25_35_9_is_unchanged_by_the_2024_revision() -> None:
    # The 35.5-55.4 band is the same in 2024, so the same arithmetic gives 102.
    assert sub_index("pm25_24h", 35.9, table="epa-2024") == 102


def test_pm25_12_0_under_2024_breakpoints() -> None:
    # 12.0 µg/m³ is in 9.1-35.4 -> 51-100 since 2024:
    #   (100 - 51) / (35.4 - 9.1) * (12.0 - 9.1) + 51 = 49 / 26.3 * 2.9 + 51
    #   = 142.1 / 26.3 + 51 = 5.403 + 51 = 56.403 -> 56
    assert sub_index("pm25_24h", 12.0, table="epa-2024") == 56
    # ... while under 2012 it was the top of "good".
    assert sub_index("pm25_24h", 12.0, table="epa-2012") == 50


def test_ozone_worked_example_exact_half() -> None:
    # TAD-style ozone example: 8-hour 0.07853 ppm truncates to 0.078, band 0.071-0.085:
    #   (150 - 101) / (0.085 - 0.071) * (0.078 - 0.071) + 101 = 49 / 0.014 * 0.007 + 101
    #   = 24.5 + 101 = 125.5 -> 126
    assert sub_index("o3_8h", 0.07853, table="epa-2012") == 126
    assert sub_index("o3_8h", 0.07853, table="epa-2024") == 126


def test_1999_ozone_published_example() -> None:
    # k12science.org AQI tutorial (1999 breakpoints): 0.0874125 ppm 8-hour -> AQI 106.
    #   truncated 0.087 in 0.085-0.104 -> 101-150: 49 / 0.019 * 0.002 + 101 = 5.16 + 101 -> 106
    assert sub_index("o3_8h", 0.0874125, table="epa-1999") == 106


# Daily PM2.5 and the AQI EPA's AirData published for Durham, NC (AQS site 37-063-0015) in
# 2011, as distributed in the OpenIntro `pm25_2011_durham` data set. 2011 AQI values were
# computed with the 1999 PM2.5 breakpoints, which is what the epa-1999 table is for.
DURHAM_2011: list[tuple[float, int]] = [
    (5.9, 19),  # 50 * 5.9 / 15.4 = 19.16
    (10.4, 34),  # 50 * 10.4 / 15.4 = 33.77
    (3.7, 12),  # 50 * 3.7 / 15.4 = 12.01
    (12.0, 39),  # 50 * 12.0 / 15.4 = 38.96
    (15.2, 49),  # 50 * 15.2 / 15.4 = 49.35
    (15.8, 52),  # 49 * (15.8 - 15.5) / 24.9 + 51 = 51.59
    (17.2, 54),  # 49 * 1.7 / 24.9 + 51 = 54.35
    (18.6, 57),  # 49 * 3.1 / 24.9 + 51 = 57.10
    (20.0, 60),  # 49 * 4.5 / 24.9 + 51 = 59.86
    (22.5, 65),  # 49 * 7.0 / 24.9 + 51 = 64.78
]


@pytest.mark.parametrize(("concentration", "published_aqi"), DURHAM_2011)
def test_reproduces_published_2011_durham_aqi(concentration: float, published_aqi: int) -> None:
    assert sub_index("pm25_24h", concentration, table="epa-1999") == published_aqi


def test_durham_2011_values_differ_under_2012_breakpoints() -> None:
    # Shows why the historical table is needed: 50 * 5.9 / 12.0 = 24.58 -> 25, not 19.
    assert sub_index("pm25_24h", 5.9, table="epa-2012") == 25


# --------------------------------------------------------------------------------------------
# Inputs and errors.
# --------------------------------------------------------------------------------------------


def test_default_table_is_2024() -> None:
    assert DEFAULT_TABLE == "epa-2024"
    assert sub_index("pm25_24h", 9.0) == 50
    assert sub_index("pm25_24h", 12.0) == 56


def test_public_constants() -> None:
    assert TABLES == ("epa-2024", "epa-2012", "epa-1999")
    assert POLLUTANTS == ("pm25_24h", "pm10_24h", "o3_8h", "o3_1h", "co_8h", "so2_1h", "no2_1h")


def test_accepts_int_and_decimal_concentrations() -> None:
    assert sub_index("pm10_24h", 100) == 73  # 49 * 45 / 99 + 51 = 73.27
    assert sub_index("pm25_24h", Decimal("35.9")) == 102
    assert sub_index("pm25_24h", Decimal("9.09")) == 50


def test_negative_zero_is_zero() -> None:
    assert sub_index("pm25_24h", -0.0) == 0


@pytest.mark.parametrize(
    "bad",
    [-0.1, -1, -1e-9, math.nan, math.inf, -math.inf, Decimal("NaN"), Decimal("-1")],
)
def test_invalid_concentration_raises(bad: float) -> None:
    with pytest.raises(ValueError):
        sub_index("pm25_24h", bad)


def test_bool_concentration_rejected() -> None:
    with pytest.raises(TypeError):
        sub_index("pm25_24h", True)


def test_unknown_pollutant_raises() -> None:
    with pytest.raises(ValueError, match="unknown pollutant"):
        sub_index("pm25", 10.0)


def test_unknown_table_raises() -> None:
    with pytest.raises(ValueError, match="unknown AQI table"):
        sub_index("pm25_24h", 10.0, table="epa-2030")


def test_invalid_value_raises_even_if_table_lacks_pollutant() -> None:
    with pytest.raises(ValueError):
        sub_index("so2_1h", -5, table="epa-1999")


def test_tables_are_immutable() -> None:
    bands = breakpoints("pm25_24h")
    assert isinstance(bands, tuple)
    with pytest.raises(AttributeError):
        bands[0].c_hi = Decimal("99")  # type: ignore[misc]


def test_breakpoints_of_missing_pollutant_is_empty() -> None:
    assert breakpoints("no2_1h", table="epa-1999") == ()


# --------------------------------------------------------------------------------------------
# Categories.
# --------------------------------------------------------------------------------------------

CATEGORY_EDGES: list[tuple[int, str]] = [
    (0, "good"),
    (50, "good"),
    (51, "moderate"),
    (100, "moderate"),
    (101, "unhealthy_for_sensitive_groups"),
    (150, "unhealthy_for_sensitive_groups"),
    (151, "unhealthy"),
    (200, "unhealthy"),
    (201, "very_unhealthy"),
    (300, "very_unhealthy"),
    (301, "hazardous"),
    (400, "hazardous"),
    (401, "hazardous"),
    (500, "hazardous"),
    (501, "hazardous"),
    (10_000, "hazardous"),
]


@pytest.mark.parametrize(("aqi", "expected"), CATEGORY_EDGES)
def test_category_edges(aqi: int, expected: str) -> None:
    assert category(aqi) == expected


def test_category_names() -> None:
    assert CATEGORIES == (
        "good",
        "moderate",
        "unhealthy_for_sensitive_groups",
        "unhealthy",
        "very_unhealthy",
        "hazardous",
    )


def test_category_negative_raises() -> None:
    with pytest.raises(ValueError):
        category(-1)


def test_category_rejects_non_integers() -> None:
    with pytest.raises(TypeError):
        category(50.5)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# overall()
# --------------------------------------------------------------------------------------------


def test_overall_tad_example_reports_the_maximum() -> None:
    # Ozone 0.07853 ppm -> 126 and PM2.5 35.9 µg/m³ -> 102: the AQI is 126, ozone responsible.
    result = overall({"pm25_24h": 35.9, "o3_8h": 0.07853}, table="epa-2012")
    assert result == (126, "o3_8h")


def test_overall_single_pollutant() -> None:
    assert overall({"pm25_24h": 12.0}) == (56, "pm25_24h")


def test_overall_empty_is_none() -> None:
    assert overall({}) is None


def test_overall_all_undefined_is_none() -> None:
    # 1-hour O3 below 0.125 ppm and 1999 NO2 have no index.
    assert overall({"o3_1h": 0.05}) is None
    assert overall({"no2_1h": 50, "so2_1h": 10}, table="epa-1999") is None


def test_overall_skips_undefined_pollutants() -> None:
    # 8-hour O3 0.25 ppm is beyond its table; 1-hour O3 0.25 ppm gives
    # 99 * (0.250 - 0.205) / (0.404 - 0.205) + 201 = 4.455 / 0.199 + 201 = 223.39 -> 223
    assert overall({"o3_8h": 0.25, "o3_1h": 0.25}) == (223, "o3_1h")


def test_overall_takes_larger_of_8h_and_1h_ozone() -> None:
    assert overall({"o3_8h": 0.200, "o3_1h": 0.405}) == (301, "o3_1h")
    assert overall({"o3_8h": 0.200, "o3_1h": 0.125}) == (300, "o3_8h")


def test_overall_tie_is_resolved_by_pollutant_order_not_mapping_order() -> None:
    # PM2.5 9.0 -> 50 and PM10 54 -> 50: PM2.5 comes first in POLLUTANTS.
    assert overall({"pm10_24h": 54, "pm25_24h": 9.0}) == (50, "pm25_24h")
    assert overall({"pm25_24h": 9.0, "pm10_24h": 54}) == (50, "pm25_24h")


def test_overall_uses_requested_table() -> None:
    assert overall({"pm25_24h": 5.9}, table="epa-1999") == (19, "pm25_24h")


def test_overall_unknown_pollutant_raises() -> None:
    with pytest.raises(ValueError):
        overall({"pm25_24h": 5.0, "temperature": 20.0})


def test_overall_invalid_concentration_raises() -> None:
    with pytest.raises(ValueError):
        overall({"pm25_24h": -3.0})


def test_overall_unknown_table_raises() -> None:
    with pytest.raises(ValueError):
        overall({"pm25_24h": 5.0}, table="nope")


# --------------------------------------------------------------------------------------------
# NowCast
# --------------------------------------------------------------------------------------------


def test_nowcast_epa_published_example() -> None:
    # EPA/AirNow training example "Computing the NowCast", hours oldest -> newest:
    #   50 80 75 90 82 53 64 74 21 10 16 13, NowCast = 17.4 µg/m³.
    # Newest first: 13 16 10 21 74 64 53 82 90 75 80 50. min 10, max 90, w* = 10/90 = 0.11
    # < 0.5, so w = 0.5.
    #   numerator = 13 + 16/2 + 10/4 + 21/8 + 74/16 + 64/32 + 53/64 + 82/128 + 90/256
    #             + 75/512 + 80/1024 + 50/2048
    #             = 13 + 8 + 2.5 + 2.625 + 4.625 + 2 + 0.828125 + 0.640625 + 0.3515625
    #             + 0.146484375 + 0.078125 + 0.0244140625 = 34.8193359375
    #   denominator = 1 + 1/2 + ... + 1/2048 = 2 - 1/2048 = 1.99951171875
    #   NowCast = 34.8193359375 / 1.99951171875 = 17.4139... -> truncated 17.4
    hourly = [13, 16, 10, 21, 74, 64, 53, 82, 90, 75, 80, 50]
    assert nowcast(hourly) == 17.4
    # 17.4 µg/m³ -> 2024 AQI: 49 * (17.4 - 9.1) / 26.3 + 51 = 406.7 / 26.3 + 51 = 66.46 -> 66
    assert sub_index("pm25_24h", nowcast(hourly)) == 66


def test_nowcast_unfloored_weight() -> None:
    # 30, 20, 30 (newest first): w = 20/30 = 2/3 >= 0.5
    #   numerator = 30 + (2/3) * 20 + (4/9) * 30 = 30 + 40/3 + 40/3 = 510/9
    #   denominator = 1 + 2/3 + 4/9 = 19/9
    #   NowCast = 510/19 = 26.842... -> 26.8
    assert nowcast([30, 20, 30]) == 26.8


def test_nowcast_two_hours_exact() -> None:
    # 30, 20: w = 2/3; (30 + 2/3 * 20) / (1 + 2/3) = (130/3) / (5/3) = 26.0
    assert nowcast([30, 20]) == 26.0


def test_nowcast_constant_series_is_the_mean() -> None:
    assert nowcast([10.0] * 12) == 10.0


def test_nowcast_result_is_truncated_exactly() -> None:
    # A float weighted mean of 12.3s can come out as 12.299999...; EPA's value is 12.3.
    assert nowcast([12.3] * 12) == 12.3
    assert nowcast([0.3, 0.3, 0.3]) == 0.3


def test_nowcast_uses_only_the_12_most_recent_hours() -> None:
    assert nowcast([10.0] * 12 + [1000.0]) == 10.0


def test_nowcast_missing_hours_keep_their_age() -> None:
    # 5, missing, 7: w = 5/7; numerator = 5 + (5/7)**2 * 7 = 5 + 25/7 = 60/7;
    # denominator = 1 + 25/49 = 74/49; NowCast = 60/7 * 49/74 = 420/74 = 5.6756... -> 5.6
    assert nowcast([5, None, 7]) == 5.6
    # NaN is treated as missing in the same way.
    assert nowcast([5, math.nan, 7]) == 5.6


def test_nowcast_needs_two_of_the_three_latest_hours() -> None:
    assert nowcast([None, None, 5.0, 5.0, 5.0]) is None
    assert nowcast([5.0, None, None, 5.0, 5.0]) is None
    assert nowcast([None, 5.0, None, 5.0]) is None
    assert nowcast([5.0]) is None
    assert nowcast([]) is None
    assert nowcast([None, 5.0, 5.0]) == 5.0


def test_nowcast_all_zero() -> None:
    assert nowcast([0.0, 0.0, 0.0]) == 0.0


def test_nowcast_pm10_truncates_to_integer() -> None:
    assert nowcast([55.9, 55.9, 55.9], pollutant="pm10") == 55.0
    # EPA example values again, as PM10: 17.4139... -> 17
    assert nowcast([13, 16, 10, 21, 74, 64, 53, 82, 90, 75, 80, 50], pollutant="pm10") == 17.0


def test_nowcast_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        nowcast([5.0, -1.0, 5.0])
    with pytest.raises(ValueError):
        nowcast([5.0, math.inf, 5.0])
    with pytest.raises(ValueError):
        nowcast([5.0, 5.0], pollutant="o3")
