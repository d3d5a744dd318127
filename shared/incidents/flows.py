"""Dispatch as multi-step work: route -> propose plan; approve -> activate -> tell the console."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from shared.incidents.models import PreemptionPlan
from shared.incidents.schemas import PreemptionParameters, UnitRoute
from shared.incidents.service import activate_plan, approve_plan, create_preemption_plan, route_unit

# Socket.IO events the console's emergency page listens to.
DISPATCHED = "incident.dispatched"

log = logging.getLogger(__name__)
Emit = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class Proposal:
    """A unit's routes to an incident and the proposed pre-emption plan for the best one."""

    route: UnitRoute
    plan: PreemptionPlan


def propose_dispatch(
    *,
    session: Session,
    unit_id: int,
    incident_id: int,
    created_by: str,
    alternatives: int = 3,
    route_index: int = 0,
    parameters: PreemptionParameters | None = None,
    as_of: datetime | None = None,
) -> Proposal:
    """Route the unit and store a proposed pre-emption plan for the chosen route (0: best)."""
    routes = route_unit(
        session=session,
        unit_id=unit_id,
        incident_id=incident_id,
        alternatives=alternatives,
        as_of=as_of,
    )
    options = [routes.best, *routes.alternatives]
    if not 0 <= route_index < len(options):
        raise ValueError(f"route_index must be 0..{len(options) - 1}, got {route_index}")
    plan = create_preemption_plan(
        session=session,
        unit_id=unit_id,
        incident_id=incident_id,
        route=options[route_index],
        created_by=created_by,
        parameters=parameters,
    )
    return Proposal(route=routes, plan=plan)


def dispatch_with_preemption(
    *,
    session: Session,
    plan_id: int,
    approved_by: str,
    emit: Emit | None = None,
) -> PreemptionPlan:
    """Approve and start a proposed plan; the console hears of it once the commit succeeds."""
    approve_plan(session=session, plan_id=plan_id, approved_by=approved_by)
    plan = activate_plan(session=session, plan_id=plan_id)
    if emit is not None:
        payload = {
            "plan_id": plan.id,
            "incident_id": plan.incident_id,
            "unit_id": plan.unit_id,
            "eta_s": plan.eta_s,
            "activated_at": plan.activated_at.isoformat() if plan.activated_at else None,
            "steps": [
                {
                    "intersection_id": s.intersection_id,
                    "tls_id": s.tls_id,
                    "approach_segment_id": s.approach_segment_id,
                    "green_from_s": s.green_from_s,
                    "green_until_s": s.green_until_s,
                }
                for s in plan.steps
            ],
        }

        def send() -> None:
            # The plan is stored either way; the console reloads plans from the database.
            try:
                emit(DISPATCHED, payload)
            except Exception:
                log.exception("could not emit %s for plan %s", DISPATCHED, plan_id)

        event.listen(session, "after_commit", lambda _s: send(), once=True)
    return plan
