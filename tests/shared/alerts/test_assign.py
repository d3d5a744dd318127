"""Assigning alerts to staff: who may be assigned, what is written, and the audit trail."""

from __future__ import annotations

import time
from uuid import uuid4

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.accounts.models import StaffUser
from shared.alerts.models import Alert, AlertEvent, AlertStatus
from shared.alerts.service import acknowledge_alert, assign_alert, resolve_alert
from shared.ingest.schemas import Batch, Reading
from shared.pipeline import RuleCache, process_batch
from shared.sensing.flows import DatastreamIndex


def _noise_alert(session: Session, code: str = "NS-03") -> int:
    """Open a "Noise loud" alert the way the worker does: one reading through the pipeline."""
    batch = Batch(
        batch_id=uuid4().hex,
        received_at=time.time(),
        readings=[Reading(code, "laeq", time.time(), 85.0)],
    )
    _result, changes = process_batch(
        batch=batch, engine=session.get_bind(), index=DatastreamIndex(), rules=RuleCache()
    )
    return next(c.alert.id for c in changes if c.alert.rule_name == "Noise loud")


def _events(session: Session, alert_id: int) -> list[tuple[str, str, str, AlertStatus]]:
    rows = session.scalars(
        select(AlertEvent).where(AlertEvent.alert_id == alert_id).order_by(AlertEvent.id)
    )
    return [(e.action, e.actor, e.note, e.status) for e in rows]


def test_assigning_writes_the_alert_and_an_audited_event(db_session: Session) -> None:
    alert_id = _noise_alert(db_session)
    alert = assign_alert(
        session=db_session, alert_id=alert_id, actor="operator", assignee="dispatcher"
    )
    assert alert.assigned_to == "dispatcher"
    assert alert.assigned_at is not None and alert.assigned_at.tzinfo is not None
    assert alert.status == AlertStatus.open  # assignment does not acknowledge
    db_session.expire_all()
    stored = db_session.get(Alert, alert_id)
    assert stored is not None and stored.assigned_to == "dispatcher"
    assert _events(db_session, alert_id) == [
        ("opened", "system", "", AlertStatus.open),
        ("assigned", "operator", "to dispatcher", AlertStatus.open),
    ]


def test_reassign_then_acknowledge_and_resolve(db_session: Session) -> None:
    alert_id = _noise_alert(db_session)
    assign_alert(session=db_session, alert_id=alert_id, actor="operator", assignee="dispatcher")
    acknowledge_alert(session=db_session, alert_id=alert_id, actor="dispatcher")
    # An acknowledged alert can still be handed over.
    alert = assign_alert(session=db_session, alert_id=alert_id, actor="admin", assignee="operator")
    assert alert.assigned_to == "operator" and alert.status == AlertStatus.acknowledged
    resolve_alert(session=db_session, alert_id=alert_id, actor="operator", reason="fixed")
    assert [(a, who, note) for a, who, note, _s in _events(db_session, alert_id)] == [
        ("opened", "system", ""),
        ("assigned", "operator", "to dispatcher"),
        ("acknowledged", "dispatcher", ""),
        ("assigned", "admin", "to operator"),
        ("resolved", "operator", "fixed"),
    ]
    with pytest.raises(ValueError, match="already resolved"):
        assign_alert(session=db_session, alert_id=alert_id, actor="admin", assignee="dispatcher")


def test_assignee_must_be_an_existing_active_staff_user(db_session: Session) -> None:
    alert_id = _noise_alert(db_session)
    with pytest.raises(ValueError, match="no active staff user"):
        assign_alert(session=db_session, alert_id=alert_id, actor="operator", assignee="nobody")
    db_session.execute(
        update(StaffUser).where(StaffUser.username == "dispatcher").values(is_active=False)
    )
    with pytest.raises(ValueError, match="no active staff user"):
        assign_alert(session=db_session, alert_id=alert_id, actor="operator", assignee="dispatcher")
    db_session.expire_all()
    alert = db_session.get(Alert, alert_id)
    assert alert is not None and alert.assigned_to is None and alert.assigned_at is None
    assert [e[0] for e in _events(db_session, alert_id)] == ["opened"]


def test_unknown_alert(db_session: Session) -> None:
    with pytest.raises(LookupError):
        assign_alert(session=db_session, alert_id=-1, actor="operator", assignee="dispatcher")
