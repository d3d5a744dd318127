"""Stored pre-emption plans: timings from the route's ETAs, the approve/abort state machine,
dispatch side effects and the after-action report."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.geo import lonlat
from shared.incidents.flows import DISPATCHED, dispatch_with_preemption, propose_dispatch
from shared.incidents.models import Incident, PreemptionPlan, Unit
from shared.incidents.schemas import IncidentCreate, PreemptionParameters
from shared.incidents.service import (
    abort_plan,
    activate_plan,
    approve_plan,
    complete_plan,
    create_incident,
    expected_red_wait_s,
    report_after_action,
)
from shared.roads.models import Intersection
from shared.traffic.models import SignalPlan


def _setup(session: Session) -> tuple[Unit, Incident]:
    unit = session.scalar(select(Unit).where(Unit.code == "HLF-1"))
    assert unit is not None
    far = session.scalars(
        select(Intersection)
        .where(Intersection.signalised.is_(True))
        .order_by(Intersection.geom.op("<->")(unit.position).desc())
        .limit(1)
    ).one()
    lon, lat = lonlat(far.geom)
    incident = create_incident(
        session=session,
        data=IncidentCreate(type="fire", priority=1, lon=lon, lat=lat, created_by="calltaker"),
    )
    return unit, incident


def _proposed(session: Session, **kw: Any) -> PreemptionPlan:
    unit, incident = _setup(session)
    proposal = propose_dispatch(
        session=session, unit_id=unit.id, incident_id=incident.id, created_by="op1", **kw
    )
    assert proposal.plan.steps, "the route crosses signalised junctions"
    return proposal.plan


def test_plan_windows_follow_from_the_route_etas(db_session: Session) -> None:
    unit, incident = _setup(db_session)
    proposal = propose_dispatch(
        session=db_session, unit_id=unit.id, incident_id=incident.id, created_by="op1"
    )
    plan, route = proposal.plan, proposal.route.best
    assert plan.status == "proposed" and plan.created_by == "op1"
    assert plan.eta_s == pytest.approx(route.eta_s)
    assert plan.segment_ids == route.segment_ids
    assert [s.intersection_id for s in plan.steps] == [s.intersection_id for s in route.signals]
    for step, stop in zip(plan.steps, route.signals, strict=True):
        assert step.approach_segment_id == stop.approach_segment_id
        assert step.eta_s == pytest.approx(stop.eta_s)
        # Defaults: clearance 5 s + queue flush 8 s + 15 % of the ETA; hold 6 s.
        lead = 5.0 + 8.0 + 0.15 * stop.eta_s
        assert step.green_from_s == pytest.approx(max(0.0, stop.eta_s - lead))
        assert step.green_until_s == pytest.approx(stop.eta_s + 6.0)
    assert [s.seq for s in plan.steps] == list(range(1, len(plan.steps) + 1))


def test_custom_parameters_are_stored_and_used(db_session: Session) -> None:
    params = PreemptionParameters(clearance_s=3.0, queue_flush_s=0.0, hold_s=10.0,
                                  eta_uncertainty=0.0)  # fmt: skip
    plan = _proposed(db_session, parameters=params)
    assert plan.parameters == params.model_dump()
    for step in plan.steps:
        assert step.green_from_s == pytest.approx(max(0.0, step.eta_s - 3.0))
        assert step.green_until_s == pytest.approx(step.eta_s + 10.0)


def test_approve_activate_complete(db_session: Session) -> None:
    plan = _proposed(db_session)
    approve_plan(session=db_session, plan_id=plan.id, approved_by="disp1")
    assert plan.status == "approved" and plan.approved_by == "disp1" and plan.approved_at
    with pytest.raises(ValueError, match="is approved; it must be proposed"):
        approve_plan(session=db_session, plan_id=plan.id, approved_by="disp1")
    activate_plan(session=db_session, plan_id=plan.id)
    unit = db_session.get(Unit, plan.unit_id)
    incident = db_session.get(Incident, plan.incident_id)
    assert plan.status == "active" and plan.activated_at is not None
    assert unit is not None and unit.status == "dispatched"
    assert incident is not None and incident.status == "dispatched"
    complete_plan(session=db_session, plan_id=plan.id)
    assert plan.status == "completed" and unit.status == "on_scene"
    assert incident.status == "on_scene"
    with pytest.raises(ValueError, match="is completed; it must be proposed or approved or active"):
        abort_plan(session=db_session, plan_id=plan.id, aborted_by="disp1", reason="too late")


@pytest.mark.parametrize("stage", ["proposed", "approved", "active"])
def test_abort_records_who_and_why(db_session: Session, stage: str) -> None:
    plan = _proposed(db_session)
    if stage in ("approved", "active"):
        approve_plan(session=db_session, plan_id=plan.id, approved_by="disp1")
    if stage == "active":
        activate_plan(session=db_session, plan_id=plan.id)
    with pytest.raises(ValueError, match="reason"):
        abort_plan(session=db_session, plan_id=plan.id, aborted_by="disp1", reason=" ")
    abort_plan(session=db_session, plan_id=plan.id, aborted_by="disp2", reason="unit diverted")
    assert plan.status == "aborted"
    assert (plan.aborted_by, plan.abort_reason) == ("disp2", "unit diverted")
    assert plan.aborted_at is not None
    with pytest.raises(ValueError, match="is aborted"):
        approve_plan(session=db_session, plan_id=plan.id, approved_by="disp1")
    with pytest.raises(ValueError, match="is aborted"):
        activate_plan(session=db_session, plan_id=plan.id)


def test_unknown_plan(db_session: Session) -> None:
    with pytest.raises(LookupError, match="no pre-emption plan 424242"):
        approve_plan(session=db_session, plan_id=424242, approved_by="x")


def test_dispatch_emits_after_commit_only(db_session: Session) -> None:
    plan = _proposed(db_session)
    sent: list[tuple[str, dict[str, Any]]] = []
    dispatch_with_preemption(
        session=db_session, plan_id=plan.id, approved_by="disp1",
        emit=lambda e, p: sent.append((e, p)),
    )  # fmt: skip
    assert plan.status == "active"
    assert sent == []  # nothing before the commit
    db_session.commit()  # a savepoint here; the session's after_commit still fires
    assert [e for e, _ in sent] == [DISPATCHED]
    payload = sent[0][1]
    assert payload["plan_id"] == plan.id
    assert [s["intersection_id"] for s in payload["steps"]] == [
        s.intersection_id for s in plan.steps
    ]


def test_after_action_report(db_session: Session) -> None:
    plan = _proposed(db_session)
    with pytest.raises(ValueError, match="only an active or completed run"):
        report_after_action(session=db_session, plan_id=plan.id)
    dispatch_with_preemption(session=db_session, plan_id=plan.id, approved_by="disp1")
    steps = plan.steps
    # The unit ran 2 s late at every stop but the last, which it missed by 30 s (after the hold).
    arrivals = {s.intersection_id: s.eta_s + 2.0 for s in steps}
    arrivals[steps[-1].intersection_id] = steps[-1].eta_s + 30.0
    with pytest.raises(ValueError, match="not on pre-emption plan"):
        report_after_action(session=db_session, plan_id=plan.id, actual_arrivals={-5: 1.0})
    with pytest.raises(ValueError, match="must be >= 0 s"):
        report_after_action(
            session=db_session, plan_id=plan.id, actual_arrivals={steps[0].intersection_id: -1}
        )
    report = report_after_action(session=db_session, plan_id=plan.id, actual_arrivals=arrivals)
    assert report.status == "completed"
    assert report.stops_recorded == len(steps)
    assert report.stops_in_green == len(steps) - 1
    assert [s.deviation_s for s in report.steps[:-1]] == pytest.approx([2.0] * (len(steps) - 1))
    assert report.steps[-1].arrived_in_green is False
    # No signal plans stored: every red wait is the default r^2 / 2C = 49.5^2 / 180 = 13.6125 s.
    assert all(s.no_preemption_delay_s == pytest.approx(13.6125) for s in report.steps)
    estimate = steps[-1].eta_s + 13.6125 * len(steps)
    assert report.estimated_without_preemption_s == pytest.approx(estimate)
    assert report.actual_travel_s == pytest.approx(steps[-1].eta_s + 30.0)
    assert report.delay_saved_s == pytest.approx(estimate - (steps[-1].eta_s + 30.0))
    # Arrivals are stored on the steps.
    assert steps[0].actual_arrival_s == pytest.approx(steps[0].eta_s + 2.0)


def test_expected_red_wait_uses_the_current_signal_plan(db_session: Session) -> None:
    node = db_session.scalars(
        select(Intersection.id).where(Intersection.signalised.is_(True)).limit(1)
    ).one()
    db_session.add(
        SignalPlan(
            intersection_id=node, version=1, status="pushed", cycle_s=60.0, lost_time_s=8.0,
            phases=[{"name": "A", "approaches": [11], "green_s": 36.0},
                    {"name": "B", "approaches": [12], "green_s": 16.0}],
            author="op1", created_at=datetime.now(UTC),
        )
    )  # fmt: skip
    db_session.flush()
    # Approach 11 is in phase A: r = 24 s -> 24^2 / 120 = 4.8 s; phase B: r = 44 -> 32.27 s.
    wait_a = expected_red_wait_s(session=db_session, intersection_id=node, approach_segment_id=11)
    wait_b = expected_red_wait_s(session=db_session, intersection_id=node, approach_segment_id=12)
    assert wait_a == pytest.approx(4.8)
    assert wait_b == pytest.approx(44.0**2 / 120.0)
