"""Tests for shared.environment.indices (NWS heat index, noise bands).

Regression values are worked out term by term from the coefficients published on the NWS
"Heat Index Equation" page, independently of the module.
"""

from __future__ import annotations

import math

import pytest

from shared.environment.indices import (
    HEAT_INDEX_CATEGORIES,
    NOISE_CATEGORIES,
    heat_index_c,
    heat_index_category,
    heat_index_f,
    noise_category,
)

# --------------------------------------------------------------------------------------------
# Heat index: simple formula branch
# --------------------------------------------------------------------------------------------


def test_simple_formula_below_threshold_80f_40pct() -> None:
    # simple = 0.5 * (80 + 61 + (80 - 68) * 1.2 + 40 * 0.094) = 0.5 * (80 + 61 + 14.4 + 3.76)
    #        = 0.5 * 159.16 = 79.58; (79.58 + 80) / 2 = 79.79 < 80 -> the simple value stands.
    # NWS chart: 80 °F / 40 % -> 80.
    assert heat_index_f(80, 40) == pytest.approx(79.58, abs=1e-9)


def test_simple_formula_cool_day() -> None:
    # 0.5 * (70 + 61 + 2.4 + 4.7) = 0.5 * 138.1 = 69.05
    assert heat_index_f(70, 50) == pytest.approx(69.05, abs=1e-9)


def test_simple_formula_cold_and_dry() -> None:
    # 0.5 * (40 + 61 + (40 - 68) * 1.2 + 0) = 0.5 * (101 - 33.6) = 33.7
    assert heat_index_f(40, 0) == pytest.approx(33.7, abs=1e-9)


# --------------------------------------------------------------------------------------------
# Heat index: Rothfusz regression branch
# --------------------------------------------------------------------------------------------


def test_regression_90f_70pct() -> None:
    # simple = 0.5 * (90 + 61 + 26.4 + 6.58) = 91.99; average with T = 90.995 >= 80 -> regression
    #   -42.379
    #   + 2.04901523 * 90             =   184.411371
    #   + 10.14333127 * 70            =   710.033189
    #   - 0.22475541 * 90 * 70        = -1415.959083
    #   - 0.00683783 * 90²            =   -55.386423
    #   - 0.05481717 * 70²            =  -268.604133
    #   + 0.00122874 * 90² * 70       =   696.695580
    #   + 0.00085282 * 90 * 70²       =   376.093620
    #   - 0.00000199 * 90² * 70²      =   -78.983100
    #   = 105.922021   (NWS chart: 106)
    assert heat_index_f(90, 70) == pytest.approx(105.922021, abs=1e-5)


def test_regression_starts_when_average_reaches_80() -> None:
    # 79 °F / 100 %: simple = 0.5 * (79 + 61 + 13.2 + 9.4) = 81.3, average 80.15 -> regression
    # (83.800528), although T < 80; no humidity adjustment because T is below 80.
    assert heat_index_f(79, 100) == pytest.approx(83.800528, abs=1e-5)


@pytest.mark.parametrize(
    ("temp_f", "rh", "chart"),
    [
        # NWS heat index chart values (rounded to whole °F)
        (80, 40, 80),
        (90, 40, 91),
        (96, 40, 101),
        (98, 40, 105),
        (100, 40, 109),
        (104, 40, 119),
        (86, 50, 88),
        (90, 50, 95),
        (92, 50, 99),
        (94, 50, 103),
        (100, 50, 118),
        (90, 70, 106),
    ],
)
def test_matches_nws_chart(temp_f: float, rh: float, chart: int) -> None:
    assert abs(heat_index_f(temp_f, rh) - chart) <= 0.6


# --------------------------------------------------------------------------------------------
# Heat index: adjustments
# --------------------------------------------------------------------------------------------


def test_low_humidity_adjustment_100f_10pct() -> None:
    # regression(100, 10):
    #   -42.379 + 204.901523 + 101.433313 - 224.75541 - 68.3783 - 5.481717 + 122.874
    #   + 8.5282 - 1.99 = 94.752609
    # RH < 13 and 80 <= T <= 112: subtract ((13 - 10) / 4) * sqrt((17 - |100 - 95|) / 17)
    #   = 0.75 * sqrt(12 / 17) = 0.75 * 0.840168 = 0.630126
    # -> 94.752609 - 0.630126 = 94.122483
    assert heat_index_f(100, 10) == pytest.approx(94.122483, abs=1e-5)


def test_low_humidity_adjustment_vanishes_at_112f() -> None:
    # sqrt((17 - |112 - 95|) / 17) = 0 -> plain regression value 103.650569
    assert heat_index_f(112, 5) == pytest.approx(103.650569, abs=1e-5)


def test_no_low_humidity_adjustment_at_13pct() -> None:
    # RH must be *below* 13 %: regression(100, 13) = 95.347153 unchanged.
    assert heat_index_f(100, 13) == pytest.approx(95.347153, abs=1e-5)


def test_low_humidity_adjustment_is_continuous_near_13pct() -> None:
    # The adjustment shrinks to 0 as RH -> 13, so the result must not jump there.
    assert heat_index_f(100, 12.999999) == pytest.approx(heat_index_f(100, 13), abs=1e-4)


def test_no_low_humidity_adjustment_above_112f() -> None:
    # Above 112 °F the square root would be of a negative number; the rule does not apply.
    hi = heat_index_f(113, 5)
    assert math.isfinite(hi)


def test_high_humidity_adjustment_85f_90pct() -> None:
    # regression(85, 90):
    #   -42.379 + 174.166295 + 912.899814 - 1719.378886 - 49.403322 - 444.019077
    #   + 798.988185 + 587.16657 - 116.459775 = 101.580804
    # RH > 85 and 80 <= T <= 87: add ((90 - 85) / 10) * ((87 - 85) / 5) = 0.5 * 0.4 = 0.2
    # -> 101.780804
    assert heat_index_f(85, 90) == pytest.approx(101.780804, abs=1e-5)


def test_high_humidity_adjustment_at_80f_is_applied() -> None:
    # regression(80, 90) = 85.641892; 80 °F is inside "80 to 87":
    # add (90 - 85) / 10 * (87 - 80) / 5 = 0.5 * 1.4 = 0.7 -> 86.341892
    assert heat_index_f(80, 90) == pytest.approx(86.341892, abs=1e-5)


def test_high_humidity_adjustment_vanishes_at_87f() -> None:
    # (87 - 87) / 5 = 0 -> regression(87, 90) = 109.183185
    assert heat_index_f(87, 90) == pytest.approx(109.183185, abs=1e-5)


def test_no_high_humidity_adjustment_at_85pct() -> None:
    # RH must be *above* 85 %: regression(86, 85) = 102.452333 unchanged.
    assert heat_index_f(86, 85) == pytest.approx(102.452333, abs=1e-5)


# --------------------------------------------------------------------------------------------
# Heat index: Celsius wrapper and validation
# --------------------------------------------------------------------------------------------


def test_heat_index_c_converts_both_ways() -> None:
    # 32.2222 °C = 90 °F; 105.922021 °F = (105.922021 - 32) * 5 / 9 = 41.067789 °C
    assert heat_index_c((90 - 32) * 5 / 9, 70) == pytest.approx(41.067789, abs=1e-5)


def test_heat_index_c_simple_branch() -> None:
    # 21.1111 °C = 70 °F -> 69.05 °F = 20.583333 °C
    assert heat_index_c((70 - 32) * 5 / 9, 50) == pytest.approx(20.583333, abs=1e-5)


@pytest.mark.parametrize(
    ("temp", "rh"),
    [(90, -1), (90, 100.1), (90, math.nan), (math.nan, 50), (math.inf, 50), (90, math.inf)],
)
def test_heat_index_invalid_input(temp: float, rh: float) -> None:
    with pytest.raises(ValueError):
        heat_index_f(temp, rh)


def test_heat_index_c_invalid_input() -> None:
    with pytest.raises(ValueError):
        heat_index_c(math.nan, 50)
    with pytest.raises(ValueError):
        heat_index_c(30, 101)


def test_heat_index_accepts_humidity_bounds() -> None:
    assert math.isfinite(heat_index_f(95, 0))
    assert math.isfinite(heat_index_f(95, 100))


# --------------------------------------------------------------------------------------------
# Heat index categories
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hi", "expected"),
    [
        (-10.0, "none"),
        (79.99, "none"),
        (80.0, "caution"),
        (89.99, "caution"),
        (90.0, "extreme_caution"),
        (102.99, "extreme_caution"),
        (103.0, "danger"),
        (124.0, "danger"),
        (124.99, "danger"),
        (125.0, "extreme_danger"),
        (150.0, "extreme_danger"),
    ],
)
def test_heat_index_category_edges(hi: float, expected: str) -> None:
    assert heat_index_category(hi) == expected


def test_heat_index_category_names() -> None:
    assert HEAT_INDEX_CATEGORIES == (
        "none",
        "caution",
        "extreme_caution",
        "danger",
        "extreme_danger",
    )


def test_heat_index_category_of_computed_value() -> None:
    # 105.92 °F -> danger
    assert heat_index_category(heat_index_f(90, 70)) == "danger"


def test_heat_index_category_rejects_nan() -> None:
    with pytest.raises(ValueError):
        heat_index_category(math.nan)


# --------------------------------------------------------------------------------------------
# Noise
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("laeq", "expected"),
    [
        (0.0, "quiet"),
        (30.0, "quiet"),
        (44.99, "quiet"),
        (45.0, "moderate"),
        (53.0, "moderate"),  # WHO 2018 road-traffic Lden guideline value
        (54.99, "moderate"),
        (55.0, "loud"),
        (64.99, "loud"),
        (65.0, "very_loud"),
        (74.99, "very_loud"),
        (75.0, "harmful"),
        (120.0, "harmful"),
    ],
)
def test_noise_category_edges(laeq: float, expected: str) -> None:
    assert noise_category(laeq) == expected


def test_noise_category_names() -> None:
    assert NOISE_CATEGORIES == ("quiet", "moderate", "loud", "very_loud", "harmful")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_noise_category_rejects_non_finite(bad: float) -> None:
    with pytest.raises(ValueError):
        noise_category(bad)
