"""Traffic: congestion per detector segment (map and table), and the signal plans with their
review and approval flow (propose from measured flows, read the change, approve or reject, push
an approved plan to its signal),
and the incidents that automatic detection (shared/traffic/aid.py) currently sees.

Plan changes re-check the user's role in the database (operators and above). The tables carry
everything the map shows, so the page works by keyboard.
"""

from __future__ import annotations

from typing import Any

import dash
import dash_leaflet as dl
from dash import Input, Output, State, callback, ctx, dcc, html
from flask_babel import gettext as _

from ops_console.auth import acting_username, may_act
from ops_console.components.labels import congestion_label
from ops_console.components.tables import data_table
from ops_console.i18n import page_title
from shared.accounts.models import Role
from shared.config import get_settings
from shared.db import session_scope
from shared.traffic.aid import IncidentDetection, detect_incidents
from shared.traffic.models import SignalPlan
from shared.traffic.service import (
    approve_signal_plan,
    diff_signal_plan,
    list_signal_plans,
    mark_signal_plan_pushed,
    propose_signal_plan,
    reject_signal_plan,
    segment_congestion,
    signalised_intersections,
)

dash.register_page(__name__, path="/traffic", title=page_title(lambda: _("Traffic")), order=5)

REQUIRED_ROLE = Role.operator
ATTRIBUTION = (
    '© <a href="https://www.openstreetmap.org/copyright">OpenStreetMap contributors</a> (ODbL)'
)
FALLBACK_CENTER = (52.43, 13.54)
# The live map's congestion colours (assets/console.js).
LEVEL_COLOUR = {"FREE_FLOW": "#2e7d32", "LIGHT": "#7cb342", "MODERATE": "#f9a825",
                "HEAVY": "#ef6c00", "SEVERE": "#b71c1c"}  # fmt: skip


def _status_label(status: str) -> str:
    return {
        "draft": _("draft"),
        "approved": _("approved"),
        "pushed": _("pushed"),
        "superseded": _("superseded"),
        "rejected": _("rejected"),
    }.get(status, status)


def can_act() -> bool:
    """Return True if the logged-in user may change signal plans (re-checked on the server)."""
    return may_act(REQUIRED_ROLE)


def _actor() -> str:
    """Return the username allowed to act now, or raise PermissionError with a message."""
    return acting_username(
        required=REQUIRED_ROLE,
        refusal=lambda role: _(
            "Refused: your role (%(role)s) may not change signal plans.", role=role
        ),
    )


def _table(head: list[str], rows: list[html.Tr], caption: str) -> html.Div:
    return data_table(head, rows, caption)


def _incidents() -> list[IncidentDetection]:
    """Detections over the last 15 minutes of detector readings (California #7 + speed drop)."""
    with session_scope() as session:
        return detect_incidents(session=session)


def _incident_state(state: str) -> str:
    return _("Incident (confirmed)") if state == "incident" else _("Possible incident")


def _incidents_table(found: list[IncidentDetection]) -> Any:
    if not found:
        return html.P(_("No incident detected in the last 15 minutes."), className="feed-empty")
    rows = [
        html.Tr(
            [
                html.Th(d.road_name or "—", scope="row"),
                html.Td(f"{d.upstream_code} → {d.downstream_code}"),
                html.Td(_incident_state(d.state)),
                html.Td(
                    f"{d.up_occupancy_pct:.0f} % / {d.down_occupancy_pct:.0f} %", className="num"
                ),
                html.Td(
                    "—" if d.up_speed_kmh is None else f"{d.up_speed_kmh:.0f}", className="num"
                ),
                html.Td(d.first_seen.strftime("%H:%M")),
            ]
        )
        for d in found
    ]
    return _table(
        [_("Road"), _("Between detectors"), _("State"), _("Occupancy up / down"),
         _("Speed upstream (km/h)"), _("Since")],
        rows,
        _("Incidents detected, from paired detectors"),
    )  # fmt: skip


def _congestion(found: list[IncidentDetection]) -> tuple[Any, Any]:
    """The congestion map (with detected incidents pinned) and its table."""
    with session_scope() as session:
        segments = segment_congestion(session=session)
    lines = [
        dl.Polyline(
            positions=[[lat, lon] for lon, lat in c.geometry["coordinates"]],
            color=LEVEL_COLOUR.get(c.level, "#8a949e"),
            weight=6,
            children=dl.Tooltip(f"{c.name or c.external_id}: {congestion_label(c.level)}"),
        )
        for c in segments
    ]
    pins = [
        dl.CircleMarker(
            center=[d.lat, d.lon],
            radius=10,
            color="#b71c1c" if d.state == "incident" else "#ef6c00",
            fill=True,
            children=dl.Tooltip(
                f"{_incident_state(d.state)}: {d.road_name} "
                f"({d.upstream_code} → {d.downstream_code})"
            ),
        )
        for d in found
    ]
    coords = [pt for c in segments for pt in c.geometry["coordinates"]]
    view: dict[str, Any] = {"center": list(FALLBACK_CENTER), "zoom": 14}
    if coords:
        lats, lons = [p[1] for p in coords], [p[0] for p in coords]
        view = {
            "bounds": [[min(lats), min(lons)], [max(lats), max(lons)]],
            "center": [(min(lats) + max(lats)) / 2, (min(lons) + max(lons)) / 2],
            "zoom": 14,
        }
    tile_url = get_settings().tile_url
    base = [dl.TileLayer(url=tile_url, attribution=ATTRIBUTION)] if tile_url else []
    the_map = dl.MapContainer(
        [*base, *lines, *pins, dl.LayerGroup(attribution=ATTRIBUTION)],
        id="traffic-map",
        className="home-map",
        **view,
    )
    rows = [
        html.Tr(
            [
                html.Th(c.name or c.external_id, scope="row"),
                html.Td(f"{c.speed_kmh:.0f}", className="num"),
                html.Td(f"{c.free_flow_kmh:.0f}", className="num"),
                html.Td(congestion_label(c.level)),
            ]
        )
        for c in sorted(segments, key=lambda c: c.speed_kmh)
    ]
    if not rows:
        table = html.P(_("No fresh detector speeds."), className="feed-empty")
    else:
        table = _table(
            [_("Road"), _("Speed (km/h)"), _("Limit (km/h)"), _("Congestion")],
            rows,
            _("Detector segments, slowest first"),
        )
    return the_map, table


def _plans_table() -> Any:
    with session_scope() as session:
        plans = list_signal_plans(session=session)
        rows = [
            html.Tr(
                [
                    html.Th(f"{p.intersection_id} · v{p.version}", scope="row"),
                    html.Td(p.tls_id or "—"),
                    html.Td(_status_label(p.status)),
                    html.Td(f"{p.cycle_s:.0f}", className="num"),
                    html.Td(
                        "—" if p.expected_delay_s is None else f"{p.expected_delay_s:.1f}",
                        className="num",
                    ),
                    html.Td(p.author),
                    html.Td(p.approver or "—"),
                ]
            )
            for p in plans
        ]
    if not rows:
        return html.P(_("No signal plans yet."), className="feed-empty")
    return _table(
        [_("Intersection · version"), _("Signal (TLS)"), _("Status"), _("Cycle (s)"),
         _("Expected delay (s/veh)"), _("Author"), _("Approver")],
        rows,
        _("Signal plans, newest version first"),
    )  # fmt: skip


def _plan_options(status: str) -> list[dict[str, Any]]:
    with session_scope() as session:
        return [
            {"label": f"{p.intersection_id} · v{p.version}", "value": p.id}
            for p in list_signal_plans(session=session)
            if p.status == status
        ]


def _draft_options() -> list[dict[str, Any]]:
    return _plan_options("draft")


def _junction_options() -> list[dict[str, Any]]:
    with session_scope() as session:
        return [
            {"label": f"{n.id} · {n.tls_id or n.external_id}", "value": n.id}
            for n in signalised_intersections(session=session)
        ]


def _select(id_: str, options: list[dict[str, Any]]) -> dcc.Dropdown:
    # Not searchable: arrow keys move through the options.
    return dcc.Dropdown(id=id_, className=f"{id_}-select", options=options, clearable=False,
                        searchable=False)  # fmt: skip


def _field(label: str, id_: str, options: list[dict[str, Any]]) -> html.Div:
    return html.Div([html.Label(label, htmlFor=id_), _select(id_, options)], className="field")


def _button(label: str, id_: str, *, enabled: bool, primary: bool = False) -> html.Button:
    # Disabled for viewers; the server checks the role again on every action.
    return html.Button(label, id=id_, disabled=not enabled,
                       className="btn btn-primary" if primary else "btn")  # fmt: skip


def layout(**_query: Any) -> html.Div:
    """Return the page: congestion map and table, signal plans and the review controls."""
    act = can_act()
    found = _incidents()
    the_map, table = _congestion(found)
    return html.Div(
        className="page traffic",
        children=[
            html.H1(_("Traffic"), className="page-title"),
            html.P(id="traffic-status", className="action-status", role="status"),
            html.Section(
                [html.H2(_("Congestion"), id="traffic-congestion-title"), the_map, table],
                **{"aria-labelledby": "traffic-congestion-title"},
            ),
            html.Section(
                [
                    html.H2(_("Incidents detected"), id="traffic-incidents-title"),
                    html.P(
                        _(
                            "A speed drop and an occupancy jump upstream against downstream, "
                            "held for several minutes, flag a possible incident; a longer hold "
                            "confirms it."
                        )
                    ),
                    html.Div(_incidents_table(found), id="traffic-incidents"),
                ],
                **{"aria-labelledby": "traffic-incidents-title"},
            ),
            html.Section(
                [
                    html.H2(_("Signal plans"), id="traffic-plans-title"),
                    html.P(
                        _(
                            "Fixed-time plans by Webster's method from the peak hour of the "
                            "last 24 hours of detector counts. An operator approves a draft "
                            "before it is pushed to the signal."
                        )
                    ),
                    html.Div(
                        [
                            _field(_("Intersection"), "traffic-junction", _junction_options()),
                            _button(_("Propose a plan"), "traffic-propose", enabled=act),
                        ],
                        className="form-row",
                    ),
                    html.Div(
                        [
                            _field(_("Draft to review"), "traffic-draft", _draft_options()),
                            html.Button(_("Show the change"), id="traffic-diff", className="btn"),
                            _button(
                                _("Approve plan"), "traffic-approve", enabled=act, primary=True
                            ),
                            _button(_("Reject plan"), "traffic-reject", enabled=act),
                        ],
                        className="form-row",
                    ),
                    html.Div(id="traffic-diff-view"),
                    html.Div(
                        [
                            _field(
                                _("Approved plan"), "traffic-approved", _plan_options("approved")
                            ),
                            _button(_("Push to the signal"), "traffic-push", enabled=act),
                        ],
                        className="form-row",
                    ),
                    html.Div(_plans_table(), id="traffic-plans"),
                ],
                **{"aria-labelledby": "traffic-plans-title"},
            ),
        ],
    )


def _diff_view(plan_id: int) -> html.Div:
    with session_scope() as session:
        diff = diff_signal_plan(session=session, plan_id=plan_id)

    def fmt(v: float | None, pattern: str = "{:.1f}") -> str:
        return "—" if v is None else pattern.format(v)

    rows = [
        html.Tr(
            [
                html.Th(c.name, scope="row"),
                html.Td(", ".join(map(str, c.approaches)) or "—"),
                html.Td(fmt(c.old_green_s), className="num"),
                html.Td(fmt(c.new_green_s), className="num"),
                html.Td(fmt(c.old_split and c.old_split * 100, "{:.0f} %"), className="num"),
                html.Td(fmt(c.new_split and c.new_split * 100, "{:.0f} %"), className="num"),
            ]
        )
        for c in diff.phases
    ]
    summary = _(
        "Cycle %(old)s -> %(new)s s; expected delay %(dold)s -> %(dnew)s s per vehicle.",
        old=fmt(diff.old_cycle_s, "{:.0f}"),
        new=fmt(diff.new_cycle_s, "{:.0f}"),
        dold=fmt(diff.old_expected_delay_s),
        dnew=fmt(diff.new_expected_delay_s),
    )
    return html.Div(
        [
            html.P(summary),
            _table(
                [
                    _("Phase"),
                    _("Approach segments"),
                    _("Old green (s)"),
                    _("New green (s)"),
                    _("Old split"),
                    _("New split"),
                ],
                rows,
                _("Plan %(id)d against the plan in force", id=plan_id),
            ),
        ]
    )


@callback(
    Output("traffic-status", "children"),
    Output("traffic-diff-view", "children"),
    Output("traffic-plans", "children"),
    Output("traffic-draft", "options"),
    Output("traffic-draft", "value"),
    Output("traffic-approved", "options"),
    Input("traffic-propose", "n_clicks"),
    Input("traffic-diff", "n_clicks"),
    Input("traffic-approve", "n_clicks"),
    Input("traffic-reject", "n_clicks"),
    Input("traffic-push", "n_clicks"),
    State("traffic-junction", "value"),
    State("traffic-draft", "value"),
    State("traffic-approved", "value"),
    prevent_initial_call=True,
)
def plan_action(
    _p: int | None,
    _d: int | None,
    _a: int | None,
    _r: int | None,
    _u: int | None,
    junction: int | None,
    draft: int | None,
    approved: int | None,
) -> tuple[Any, ...]:
    """Propose, show, approve, reject or push a signal plan."""
    action = str(ctx.triggered_id)
    if action == "traffic-push":
        return push_signal_plan(plan_id=approved)
    result = act_on_signal_plan(action=action, junction=junction, draft=draft)
    # An approval makes the plan pushable at once, without reloading the page.
    approved_options = _plan_options("approved") if action == "traffic-approve" else dash.no_update
    return (*result, approved_options)


def push_signal_plan(*, plan_id: int | None) -> tuple[Any, ...]:
    """Push an approved plan to its signal as the logged-in user (the twin applies pushed plans)."""
    keep = dash.no_update
    if not plan_id:
        return _("Choose an approved plan to push."), keep, keep, keep, keep, keep
    try:
        actor = _actor()
    except PermissionError as exc:
        return str(exc), keep, keep, keep, keep, keep
    try:
        with session_scope() as session:
            mark_signal_plan_pushed(session=session, plan_id=plan_id, pushed_by=actor)
    except (LookupError, ValueError):
        return _("Not possible: the plan changed meanwhile."), keep, keep, keep, keep, keep
    message = _("Plan %(id)d pushed to the signal.", id=plan_id)
    return message, keep, _plans_table(), keep, keep, _plan_options("approved")


def act_on_signal_plan(*, action: str, junction: int | None, draft: int | None) -> tuple[Any, ...]:
    """The signal-plan actions behind the page's buttons, as the logged-in user."""
    keep = dash.no_update
    if action == "traffic-diff":
        if not draft:
            return _("Choose a draft to review."), keep, keep, keep, keep
        try:
            return "", _diff_view(draft), keep, keep, keep
        except LookupError:
            return _("Not possible: the plan changed meanwhile."), keep, keep, keep, keep
    try:
        actor = _actor()
    except PermissionError as exc:
        return str(exc), keep, keep, keep, keep
    try:
        with session_scope() as session:
            if action == "traffic-propose":
                if not junction:
                    return _("Choose an intersection."), keep, keep, keep, keep
                plan: SignalPlan = propose_signal_plan(
                    session=session, intersection_id=junction, author=actor
                )
                plan_id, message = plan.id, _("Plan %(id)d drafted.", id=plan.id)
            elif not draft:
                return _("Choose a draft to review."), keep, keep, keep, keep
            elif action == "traffic-approve":
                approve_signal_plan(session=session, plan_id=draft, approver=actor)
                plan_id, message = draft, _("Plan %(id)d approved.", id=draft)
            else:
                reject_signal_plan(session=session, plan_id=draft, approver=actor)
                plan_id, message = draft, _("Plan %(id)d rejected.", id=draft)
    except ValueError as exc:
        if action == "traffic-propose" and "no hourly vehicle counts" in str(exc):
            return (_("No measured flows for this intersection in the last 24 hours."),
                    keep, keep, keep, keep)  # fmt: skip
        return _("Not possible: the plan changed meanwhile."), keep, keep, keep, keep
    except LookupError:
        return _("Not possible: the plan changed meanwhile."), keep, keep, keep, keep
    options = _draft_options()
    chosen = plan_id if any(o["value"] == plan_id for o in options) else None
    view = _diff_view(plan_id) if action == "traffic-propose" else ""
    return message, view, _plans_table(), options, chosen
