"""Versioned Webster signal plans from measured hourly flows: propose, diff, approve, push."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from shared.roads.models import Intersection, RoadSegment
from shared.traffic.service import (
    approve_signal_plan,
    current_signal_plan,
    diff_signal_plan,
    list_signal_plans,
    mark_signal_plan_pushed,
    propose_signal_plan,
    reject_signal_plan,
)
from tests.shared.traffic.detectors import Detector, detectors

HOUR = datetime(2026, 11, 30, 7, tzinfo=UTC)


def _busiest_junction(session: Session) -> tuple[int, list[Detector]]:
    """The signalised intersection with the most detector approaches (at least 3)."""
    by_node: dict[int, list[Detector]] = defaultdict(list)
    for d in detectors(session):
        by_node[d.intersection_id].append(d)
    node, dets = max(by_node.items(), key=lambda kv: (len(kv[1]), -kv[0]))
    assert len(dets) >= 3
    return node, dets


def _write_hour(session: Session, det: Detector, bucket: datetime, vehicles: float) -> None:
    session.execute(
        text(
            "INSERT INTO observation_hourly (datastream_id, bucket, count, total, min, max) "
            "VALUES (:d, :b, 60, :v, 0, :v) ON CONFLICT (datastream_id, bucket) DO UPDATE "
            "SET total = EXCLUDED.total"
        ),
        {"d": det.count_ds, "b": bucket, "v": vehicles},
    )


def _axis(session: Session, segment_id: int) -> float:
    """Bearing (degrees mod 180) of a segment's last piece, on a local flat projection."""
    coords = session.execute(
        text(
            "SELECT ST_X(ST_PointN(geom, -2)), ST_Y(ST_PointN(geom, -2)), "
            "ST_X(ST_PointN(geom, -1)), ST_Y(ST_PointN(geom, -1)) FROM road_segment WHERE id = :i"
        ),
        {"i": segment_id},
    ).one()
    x0, y0, x1, y1 = coords
    dx = (x1 - x0) * math.cos(math.radians(y0))
    return math.degrees(math.atan2(dx, y1 - y0)) % 180.0


def _gap(a: float, b: float) -> float:
    d = abs(a - b) % 180.0
    return min(d, 180.0 - d)


def test_plan_from_the_peak_hour_groups_opposing_approaches(db_session: Session) -> None:
    node, dets = _busiest_junction(db_session)
    for i, det in enumerate(dets):
        _write_hour(db_session, det, HOUR, 100.0 + 10 * i)  # off-peak
        _write_hour(db_session, det, HOUR + timedelta(hours=1), 300.0 + 100 * i)  # peak
    plan = propose_signal_plan(
        session=db_session, intersection_id=node, author="eng1",
        since=HOUR, until=HOUR + timedelta(hours=3),
    )  # fmt: skip
    assert (plan.version, plan.status, plan.author) == (1, "draft", "eng1")
    assert plan.basis["design_hour"] == (HOUR + timedelta(hours=1)).isoformat()
    flows = {d.segment_id: 300.0 + 100 * i for i, d in enumerate(dets)}
    assert plan.basis["approach_flows_vph"] == {str(k): v for k, v in sorted(flows.items())}

    lanes = dict(
        db_session.execute(
            select(RoadSegment.id, RoadSegment.lanes).where(RoadSegment.target == node)
        ).all()
    )
    grouped = [p for p in plan.phases if p["approaches"]]
    assert sorted(s for p in grouped for s in p["approaches"]) == sorted(lanes)
    axes = {s: _axis(db_session, s) for s in lanes}
    for phase in grouped:
        members = phase["approaches"]
        assert all(_gap(axes[a], axes[b]) < 50.0 for a in members for b in members)
        # The critical lane group: the highest q / s among the phase's approaches.
        ratios = [flows.get(a, 0.0) / (1800.0 * max(1, lanes[a])) for a in members]
        assert phase["flow_ratio"] == pytest.approx(max(ratios))
        assert phase["flow_vph"] / phase["saturation_vph"] == pytest.approx(max(ratios))
    if len(grouped) == 2:
        a, b = grouped
        assert all(_gap(axes[x], axes[y]) >= 40.0 for x in a["approaches"] for y in b["approaches"])

    # Webster's cycle from the stored ratios: L = 4 s per phase, C0 = (1.5 L + 5) / (1 - Y).
    y_sum = sum(p["flow_ratio"] for p in plan.phases)
    lost = 4.0 * len(plan.phases)
    assert plan.lost_time_s == lost
    assert plan.basis["optimum_cycle_s"] == pytest.approx((1.5 * lost + 5) / (1 - y_sum))
    assert sum(p["green_s"] for p in plan.phases) + lost == pytest.approx(plan.cycle_s)
    assert 30.0 <= plan.cycle_s <= 120.0 or any("minimum greens" in n for n in plan.notes)
    assert plan.expected_delay_s is not None and plan.expected_delay_s > 0
    assert all(p["green_s"] >= p["min_green_s"] - 1e-9 for p in plan.phases)


def test_versions_diff_approve_push_and_supersede(db_session: Session) -> None:
    node, dets = _busiest_junction(db_session)
    for det in dets:
        _write_hour(db_session, det, HOUR, 500.0)
    v1 = propose_signal_plan(
        session=db_session, intersection_id=node, author="eng1",
        since=HOUR, until=HOUR + timedelta(hours=1),
    )  # fmt: skip
    first = diff_signal_plan(session=db_session, plan_id=v1.id)
    assert first.current_plan_id is None and first.explanation.startswith("first plan")
    with pytest.raises(ValueError, match="only an approved plan can be pushed"):
        mark_signal_plan_pushed(session=db_session, plan_id=v1.id)
    approve_signal_plan(session=db_session, plan_id=v1.id, approver="op1")
    mark_signal_plan_pushed(session=db_session, plan_id=v1.id)
    assert (v1.status, v1.approver) == ("pushed", "op1") and v1.pushed_at is not None
    assert current_signal_plan(session=db_session, intersection_id=node) is v1

    # Demand shifts: phase A's approaches quieten, the others get much busier.
    a_members = set(v1.phases[0]["approaches"])
    later = HOUR + timedelta(days=1)
    for det in dets:
        _write_hour(db_session, det, later, 150.0 if det.segment_id in a_members else 900.0)
    v2 = propose_signal_plan(
        session=db_session, intersection_id=node, author="eng2",
        since=later, until=later + timedelta(hours=1),
    )  # fmt: skip
    assert v2.version == 2
    diff = diff_signal_plan(session=db_session, plan_id=v2.id)
    assert (diff.current_plan_id, diff.current_version) == (v1.id, 1)
    assert diff.old_cycle_s == v1.cycle_s and diff.new_cycle_s == v2.cycle_s
    by_name = {c.name: c for c in diff.phases}
    for old in v1.phases:
        assert by_name[old["name"]].old_green_s == pytest.approx(old["green_s"])
        assert by_name[old["name"]].old_split == pytest.approx(old["green_s"] / v1.cycle_s)
    for new in v2.phases:
        assert by_name[new["name"]].new_green_s == pytest.approx(new["green_s"])
    # The old splits at the new flows are worse than (or cannot serve) the new plan.
    assert diff.new_expected_delay_s is not None
    assert (
        diff.old_expected_delay_s is None or diff.new_expected_delay_s < diff.old_expected_delay_s
    )
    assert "cycle" in diff.explanation and "->" in diff.explanation

    approve_signal_plan(session=db_session, plan_id=v2.id, approver="op2")
    assert current_signal_plan(session=db_session, intersection_id=node) is v1  # still pushed
    mark_signal_plan_pushed(session=db_session, plan_id=v2.id)
    assert v1.status == "superseded" and v2.status == "pushed"
    assert [p.version for p in list_signal_plans(session=db_session, intersection_id=node)] == [
        2,
        1,
    ]
    with pytest.raises(ValueError, match="only a draft can be approved"):
        approve_signal_plan(session=db_session, plan_id=v2.id, approver="op2")

    v3 = propose_signal_plan(
        session=db_session, intersection_id=node, author="eng1",
        since=later, until=later + timedelta(hours=1),
    )  # fmt: skip
    reject_signal_plan(session=db_session, plan_id=v3.id, approver="op1")
    assert v3.status == "rejected"
    assert current_signal_plan(session=db_session, intersection_id=node) is v2


def test_bad_requests_are_explained(db_session: Session) -> None:
    plain = db_session.scalars(
        select(Intersection.id).where(Intersection.signalised.is_(False)).limit(1)
    ).one()
    with pytest.raises(ValueError, match="has no traffic signals"):
        propose_signal_plan(session=db_session, intersection_id=plain, author="eng1")
    with pytest.raises(LookupError, match="no intersection"):
        propose_signal_plan(session=db_session, intersection_id=10**8, author="eng1")
    node, _dets = _busiest_junction(db_session)
    with pytest.raises(ValueError, match="no hourly vehicle counts"):
        propose_signal_plan(
            session=db_session, intersection_id=node, author="eng1",
            since=HOUR - timedelta(days=300), until=HOUR - timedelta(days=299),
        )  # fmt: skip
    with pytest.raises(LookupError, match="no signal plan"):
        approve_signal_plan(session=db_session, plan_id=10**8, approver="op1")
