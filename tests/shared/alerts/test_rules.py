"""Rules: validation, admin edits, and geofences (districts or a polygon)."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError
from shapely.geometry import box
from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.alerts.models import AlertRule, Direction, RuleKind
from shared.alerts.schemas import RuleCreate
from shared.alerts.service import (
    RuleSpec,
    _transitions,
    _transitions_by_loop,
    create_rule,
    list_urgent_levels,
    load_rules,
    update_rule,
)
from shared.ingest.urgent import UrgentLevel
from shared.sensing.flows import DatastreamIndex
from shared.sensing.models import SensorType


def test_rules_must_be_consistent() -> None:
    with pytest.raises(ValidationError, match="needs a metric"):
        RuleCreate(name="x", kind=RuleKind.threshold, sensor_type=SensorType.noise, warning=1)
    with pytest.raises(ValidationError, match="beyond warning"):
        RuleCreate(name="x", kind=RuleKind.threshold, sensor_type=SensorType.noise,
                   metric="laeq", warning=80, critical=70)  # fmt: skip
    with pytest.raises(ValidationError, match="beyond warning"):
        RuleCreate(name="x", kind=RuleKind.threshold, sensor_type=SensorType.traffic,
                   metric="speed", direction=Direction.below, warning=5, critical=15)  # fmt: skip
    with pytest.raises(ValidationError, match="stale_after_s"):
        RuleCreate(name="x", kind=RuleKind.stale, sensor_type=SensorType.noise)


def test_admin_edits_levels_and_the_change_is_attributed(db_session: Session) -> None:
    rule = db_session.scalar(select(AlertRule).where(AlertRule.name == "PM2.5 high"))
    assert rule is not None
    update_rule(session=db_session, rule_id=rule.id, warning=30, critical=50, actor="admin")
    assert (rule.warning, rule.critical, rule.updated_by) == (30, 50, "admin")
    with pytest.raises(ValidationError):
        update_rule(session=db_session, rule_id=rule.id, critical=10, actor="admin")
    update_rule(session=db_session, rule_id=rule.id, enabled=False, actor="admin")
    assert rule.id not in {r.id for r in load_rules(session=db_session)}


def test_geofences_scope_rules_to_districts_or_a_polygon(db_session: Session) -> None:
    keys = DatastreamIndex()
    keys.refresh_if_needed(session=db_session)
    nw = keys.get(session=db_session, sensor="AQ-01", metric="pm25")
    se = keys.get(session=db_session, sensor="AQ-11", metric="pm25")
    assert nw is not None and se is not None and nw.district_id != se.district_id
    by_district = create_rule(session=db_session, data=RuleCreate(
        name="NW only", kind=RuleKind.threshold, sensor_type=SensorType.air_quality,
        metric="pm25", warning=10, district_ids=[nw.district_id]))  # fmt: skip
    lon, lat = se.lon, se.lat
    square = box(lon - 0.001, lat - 0.001, lon + 0.001, lat + 0.001).wkt
    by_polygon = create_rule(session=db_session, data=RuleCreate(
        name="Around AQ-11", kind=RuleKind.threshold, sensor_type=SensorType.air_quality,
        metric="pm25", warning=10, area_wkt=square))  # fmt: skip
    specs = {r.id: r for r in load_rules(session=db_session)}
    assert specs[by_district.id].applies_to(nw) and not specs[by_district.id].applies_to(se)
    assert specs[by_polygon.id].applies_to(se) and not specs[by_polygon.id].applies_to(nw)


def test_the_urgent_lane_gets_the_threshold_rules_levels(db_session: Session) -> None:
    create_rule(session=db_session, data=RuleCreate(
        name="Cold snap", kind=RuleKind.threshold, sensor_type=SensorType.weather,
        metric="temperature", direction=Direction.below, warning=-10, critical=-20, hysteresis=2,
    ))  # fmt: skip
    create_rule(session=db_session, data=RuleCreate(
        name="Mean NO2", kind=RuleKind.sustained, sensor_type=SensorType.air_quality,
        metric="no2", warning=40, critical=60, window_s=3600,
    ))  # fmt: skip
    levels = list_urgent_levels(rules=load_rules(session=db_session))
    assert UrgentLevel("weather", "temperature", False, -10.0, -20.0, 2.0) in levels
    kinds = {r.kind for r in load_rules(session=db_session) if r.metric == "no2"}
    assert RuleKind.sustained in kinds
    # Only threshold rules: a window mean or a rate cannot be told from one reading.
    thresholds = [
        r for r in load_rules(session=db_session)
        if r.kind == RuleKind.threshold and (r.warning is not None or r.critical is not None)
    ]  # fmt: skip
    assert len(levels) == len(thresholds)
    assert all(lv.metric != "no2" or lv.warning != 40 for lv in levels)


@pytest.mark.parametrize("direction", [Direction.above, Direction.below])
def test_judged_readings_match_the_plain_loop(direction: Direction) -> None:
    rng = random.Random(7)
    above = direction == Direction.above
    rule = RuleSpec(
        id=1, name="r", kind=RuleKind.threshold, sensor_type=SensorType.air_quality,
        metric="pm25", direction=direction, warning=35.5 if above else 15.0,
        critical=55.5 if above else 5.0, hysteresis=2.0, window_s=None, stale_after_s=None,
        district_ids=None, area=None,
    )  # fmt: skip
    fast = 0
    for _ in range(2000):
        # Series wholly on the good side (the fast path), inside the hysteresis band, and
        # crossing the levels, of 1 to 12 readings.
        centre = rng.choice([10.0, 34.0, 40.0, 60.0] if above else [30.0, 16.0, 10.0, 3.0])
        values = [centre + rng.uniform(-8, 8) for _ in range(rng.randint(1, 12))]
        got = _transitions(rule, values)
        assert got == _transitions_by_loop(rule, values), values
        fast += len(values) > 2 and all(rule.classify(v) is None and rule.clears(v)
                                        for v in values)  # fmt: skip
    assert fast > 200  # series the fast path answers were among them
