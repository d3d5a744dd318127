"""Emergency dispatch: route a unit to an incident on live traffic, review the signal pre-emption
plan on the map and in a table, then approve (dispatch) or abort it, and follow the unit's run in
the digital twin live (``unit.progress`` events from `twin run`, see shared/twin/live.py).

Every change re-checks the user's role in the database (operators and above), as the alert and
request actions do. The table carries everything the map shows, so the page works by keyboard.
"""

from __future__ import annotations

import functools
from typing import Any

import dash
import dash_leaflet as dl
from dash import Input, Output, State, callback, ctx, dcc, html
from flask_babel import gettext as _
from pydantic import ValidationError
from redis import Redis
from redis.exceptions import RedisError

from ops_console.auth import acting_username, may_act
from ops_console.components.tables import data_table
from ops_console.i18n import page_title
from shared.accounts.models import Role
from shared.config import get_settings
from shared.db import session_scope
from shared.geo import lonlat
from shared.incidents.flows import dispatch_with_preemption, propose_dispatch
from shared.incidents.models import UnitStatus
from shared.incidents.schemas import IncidentCreate, UnitRoute
from shared.incidents.service import (
    abort_plan,
    create_incident,
    get_plan,
    list_incidents,
    list_units,
    route_unit,
)
from shared.roads.models import Intersection
from shared.traffic.schemas import NoRouteError
from shared.twin.service import recent_run_reports

dash.register_page(
    __name__, path="/emergency", title=page_title(lambda: _("Emergency dispatch")), order=4
)

# Dispatching pre-emption is control-room work, like acting on alerts.
REQUIRED_ROLE = Role.operator
ATTRIBUTION = (
    '© <a href="https://www.openstreetmap.org/copyright">OpenStreetMap contributors</a> (ODbL)'
)
FALLBACK_CENTER = (52.43, 13.54)
ROUTE_COLOURS = ("#1f6feb", "#8250df", "#b35900", "#57606a")


def _kind_label(kind: str) -> str:
    return {"ambulance": _("ambulance"), "fire": _("fire engine"), "police": _("police car")}.get(
        kind, kind
    )


def _status_label(status: str) -> str:
    """An incident's or a plan's status in the page's language."""
    return {
        "open": _("open"),
        "dispatched": _("dispatched"),
        "on_scene": _("on scene"),
        "closed": _("closed"),
        "proposed": _("proposed"),
        "approved": _("approved"),
        "active": _("active"),
        "completed": _("completed"),
        "aborted": _("aborted"),
    }.get(status, status)


def _mmss(seconds: float) -> str:
    total = round(seconds)
    return f"{total // 60}:{total % 60:02d}"


def can_act() -> bool:
    """Return True if the logged-in user may dispatch (the server re-checks on every change)."""
    return may_act(REQUIRED_ROLE)


def _actor() -> str:
    """Return the username allowed to act now, or raise PermissionError with a message."""
    return acting_username(
        required=REQUIRED_ROLE,
        refusal=lambda role: _("Refused: your role (%(role)s) may not dispatch units.", role=role),
    )


def _incident_options() -> list[dict[str, Any]]:
    with session_scope() as session:
        return [
            {
                "label": f"#{i.id} {i.type} · P{i.priority} · {_status_label(i.status)}",
                "value": i.id,
            }
            for i in list_incidents(session=session)
        ]


def _unit_options() -> list[dict[str, Any]]:
    with session_scope() as session:
        return [
            {"label": f"{u.code} · {_kind_label(u.kind)}", "value": u.id}
            for u in list_units(session=session, status=UnitStatus.available)
        ]


def _labelled(label: str, control: Any, for_id: str) -> html.Div:
    return html.Div([html.Label(label, htmlFor=for_id), control], className="field")


def layout(**_query: Any) -> html.Div:
    """Return the page: new incident, unit and incident choice, routes, map and plan."""
    act = can_act()
    runs = _recent_runs()
    new_incident = html.Section(
        [
            html.H2(_("New incident"), id="emergency-new-title"),
            html.Div(
                [
                    _labelled(
                        _("Type"),
                        dcc.Input(id="emergency-type", type="text", value="medical", debounce=True),
                        "emergency-type",
                    ),
                    _labelled(
                        _("Priority (1 most urgent)"),
                        dcc.Input(id="emergency-priority", type="number", min=1, max=5, value=1),
                        "emergency-priority",
                    ),
                    _labelled(
                        _("Latitude"),
                        dcc.Input(id="emergency-lat", type="number", value=52.43, step="any"),
                        "emergency-lat",
                    ),
                    _labelled(
                        _("Longitude"),
                        dcc.Input(id="emergency-lon", type="number", value=13.545, step="any"),
                        "emergency-lon",
                    ),
                    html.Button(
                        _("Create incident"),
                        id="emergency-create",
                        disabled=not act,
                        className="btn",
                    ),
                ],
                className="form-row",
            ),
        ],
        **{"aria-labelledby": "emergency-new-title"},
    )
    choose = html.Section(
        [
            html.H2(_("Route a unit"), id="emergency-route-title"),
            html.Div(
                [
                    _labelled(
                        _("Incident"),
                        dcc.Dropdown(
                            id="emergency-incident",
                            className="emergency-incident-select",
                            options=_incident_options(),
                            clearable=False,
                            # Not searchable: arrow keys move through the options.
                            searchable=False,
                        ),
                        "emergency-incident",
                    ),
                    _labelled(
                        _("Unit"),
                        dcc.Dropdown(
                            id="emergency-unit",
                            className="emergency-unit-select",
                            options=_unit_options(),
                            clearable=False,
                            # Not searchable: arrow keys move through the options.
                            searchable=False,
                        ),
                        "emergency-unit",
                    ),
                    html.Button(_("Find routes"), id="emergency-find", className="btn"),
                ],
                className="form-row",
            ),
        ],
        **{"aria-labelledby": "emergency-route-title"},
    )
    return html.Div(
        className="page emergency",
        children=[
            html.H1(_("Emergency dispatch"), className="page-title"),
            html.P(
                _(
                    "Route a unit to an incident on live traffic and road closures, then "
                    "approve the signal pre-emption plan or abort it."
                ),
                className="page-intro",
            ),
            html.P(id="emergency-status", className="action-status", role="status"),
            new_incident,
            choose,
            dcc.Store(id="emergency-routes"),
            dcc.Store(id="emergency-plan"),
            html.Section(
                [html.H2(_("Routes"), id="emergency-routes-title"), html.Div(id="emergency-table")],
                **{"aria-labelledby": "emergency-routes-title"},
            ),
            html.Section(
                _map([], live=live_markers(runs)),
                id="emergency-map-panel",
                **{"aria-label": _("Route map")},
            ),
            html.Section(
                [
                    html.H2(_("Signal pre-emption plan"), id="emergency-plan-title"),
                    html.Div(
                        [
                            _labelled(
                                _("Route for the plan"),
                                dcc.Dropdown(
                                    id="emergency-choice",
                                    className="emergency-choice-select",
                                    options=[],
                                    clearable=False,
                                    # Not searchable: arrow keys move through the options.
                                    searchable=False,
                                ),
                                "emergency-choice",
                            ),
                            html.Button(
                                _("Propose plan"),
                                id="emergency-propose",
                                disabled=not act,
                                className="btn",
                            ),
                        ],
                        className="form-row",
                    ),
                    html.Div(id="emergency-plan-view"),
                    html.Div(
                        [
                            html.Button(
                                _("Approve and dispatch"),
                                id="emergency-approve",
                                disabled=not act,
                                className="btn btn-primary",
                            ),
                            _labelled(
                                _("Reason to abort"),
                                dcc.Input(id="emergency-reason", type="text", value=""),
                                "emergency-reason",
                            ),
                            html.Button(
                                _("Abort plan"),
                                id="emergency-abort",
                                disabled=not act,
                                className="btn",
                            ),
                        ],
                        className="form-row",
                    ),
                ],
                **{"aria-labelledby": "emergency-plan-title"},
            ),
            _live_section(runs),
        ],
    )


def _map(
    layers: list[Any], coords: list[list[float]] | None = None, *, live: list[Any] | None = None
) -> dl.MapContainer:
    """The route map with the live units' markers; it fits the given (lon, lat) coordinates
    when there are any."""
    tile_url = get_settings().tile_url
    base = [dl.TileLayer(url=tile_url, attribution=ATTRIBUTION)] if tile_url else []
    view: dict[str, Any] = {"center": list(FALLBACK_CENTER), "zoom": 14}
    if coords:
        lats = [c[1] for c in coords]
        lons = [c[0] for c in coords]
        # dash-leaflet needs a center even when bounds decide the view.
        view = {
            "bounds": [[min(lats), min(lons)], [max(lats), max(lons)]],
            "center": [(min(lats) + max(lats)) / 2, (min(lons) + max(lons)) / 2],
            "zoom": 15,
        }
    return dl.MapContainer(
        [
            *base,
            *layers,
            dl.LayerGroup(live or [], id="emergency-live-layer"),
            dl.LayerGroup(attribution=ATTRIBUTION),
        ],
        id="emergency-map",
        className="home-map",
        **view,
    )


def _route_layers(data: dict[str, Any]) -> list[Any]:
    routes = [data["best"], *data["alternatives"]]
    layers: list[Any] = []
    # Alternatives first, so that the best route is drawn on top.
    for n in reversed(range(len(routes))):
        coords = routes[n]["geometry"]["coordinates"]
        layers.append(
            dl.Polyline(
                positions=[[lat, lon] for lon, lat in coords],
                color=ROUTE_COLOURS[min(n, len(ROUTE_COLOURS) - 1)],
                weight=7 if n == 0 else 4,
                dashArray=None if n == 0 else "8 6",
                children=dl.Tooltip(_route_name(n)),
            )
        )
    for stop in data["best"]["signals"]:
        layers.append(
            dl.CircleMarker(
                center=stop["position"],
                radius=7,
                color="#1a7f37",
                children=dl.Tooltip(
                    _(
                        "Signal %(id)d at %(eta)s",
                        id=stop["intersection_id"],
                        eta=_mmss(stop["eta_s"]),
                    )
                ),
            )
        )
    return layers


def _route_name(n: int) -> str:
    return _("Best route") if n == 0 else _("Alternative %(n)d", n=n)


def _table(head: list[str], rows: list[html.Tr], label: str) -> html.Div:
    """A console table in its scroll box (the sticky header stays inside the box)."""
    return data_table(head, rows, label, caption=False)


def _routes_table(data: dict[str, Any]) -> html.Div:
    routes = [data["best"], *data["alternatives"]]
    head = [_("Route"), _("ETA (min:s)"), _("Free flow (min:s)"), _("Length (km)"),
            _("Signals"), _("Segments on live speeds")]  # fmt: skip
    rows = [
        html.Tr(
            [
                html.Th(_route_name(n), scope="row"),
                html.Td(_mmss(r["eta_s"])),
                html.Td(_mmss(r["free_flow_s"])),
                html.Td(f"{r['length_m'] / 1000:.2f}"),
                html.Td(str(len(r["signals"]))),
                html.Td(str(len(r["live_segment_ids"]))),
            ]
        )
        for n, r in enumerate(routes)
    ]
    return _table(head, rows, _("Routes"))


def _route_payload(result: UnitRoute) -> dict[str, Any]:
    """The routes as JSON for the store, with each signal's position for the map."""
    data = result.model_dump(mode="json")
    with session_scope() as session:
        for stop in data["best"]["signals"]:
            node = session.get(Intersection, stop["intersection_id"])
            lon, lat = lonlat(node.geom) if node is not None else FALLBACK_CENTER[::-1]
            stop["position"] = [lat, lon]
    return data


@callback(
    Output("emergency-incident", "options"),
    Output("emergency-incident", "value"),
    Output("emergency-status", "children", allow_duplicate=True),
    Input("emergency-create", "n_clicks"),
    State("emergency-type", "value"),
    State("emergency-priority", "value"),
    State("emergency-lat", "value"),
    State("emergency-lon", "value"),
    prevent_initial_call=True,
)
def create(_n: int | None, kind: str, priority: int, lat: float, lon: float) -> tuple[Any, ...]:
    """Create an incident at the given point and select it."""
    try:
        actor = _actor()
        data = IncidentCreate(
            type=kind or "", priority=priority, lat=lat, lon=lon, created_by=actor
        )
    except PermissionError as exc:
        return dash.no_update, dash.no_update, str(exc)
    except ValidationError:
        return (
            dash.no_update,
            dash.no_update,
            _("Check the incident: a type, a priority 1 to 5 and a valid latitude and longitude."),
        )
    with session_scope() as session:
        incident_id = create_incident(session=session, data=data).id
    return _incident_options(), incident_id, _("Incident %(id)d created.", id=incident_id)


@callback(
    Output("emergency-routes", "data"),
    Output("emergency-table", "children"),
    Output("emergency-map-panel", "children"),
    Output("emergency-choice", "options"),
    Output("emergency-choice", "value"),
    Output("emergency-status", "children", allow_duplicate=True),
    Input("emergency-find", "n_clicks"),
    State("emergency-incident", "value"),
    State("emergency-unit", "value"),
    State("emergency-live-runs", "data"),
    prevent_initial_call=True,
)
def find_routes(
    _n: int | None,
    incident_id: int | None,
    unit_id: int | None,
    runs: dict[str, Any] | None = None,
) -> tuple[Any, ...]:
    """Route the chosen unit to the chosen incident and show the options."""
    keep = (dash.no_update,) * 5
    if not incident_id or not unit_id:
        return (*keep, _("Choose an incident and a unit."))
    try:
        with session_scope() as session:
            result = route_unit(session=session, unit_id=unit_id, incident_id=incident_id)
    except NoRouteError:
        return (*keep, _("No route: closures or one-way streets cut the incident off."))
    except (LookupError, ValueError):
        return (*keep, _("Not possible: the incident or the unit changed meanwhile."))
    data = _route_payload(result)
    routes = [data["best"], *data["alternatives"]]
    coords = [c for r in routes for c in r["geometry"]["coordinates"]]
    options = [
        {"label": f"{_route_name(n)} · {_mmss(r['eta_s'])}", "value": n}
        for n, r in enumerate([data["best"], *data["alternatives"]])
    ]
    status = _("Best route: ETA %(eta)s, %(n)d signals.", eta=_mmss(result.best.eta_s),
               n=len(result.best.signals))  # fmt: skip
    return (
        data,
        _routes_table(data),
        _map(_route_layers(data), coords, live=live_markers(runs or {})),
        options,
        0,
        status,
    )


def _plan_view(plan_id: int) -> html.Div:
    with session_scope() as session:
        plan = get_plan(session=session, plan_id=plan_id)
        rows = [
            html.Tr(
                [
                    html.Th(str(s.seq), scope="row"),
                    html.Td(str(s.intersection_id)),
                    html.Td(s.tls_id or "—"),
                    html.Td(str(s.approach_segment_id)),
                    html.Td(_mmss(s.eta_s)),
                    html.Td(_mmss(s.green_from_s)),
                    html.Td(_mmss(s.green_until_s)),
                ]
            )
            for s in plan.steps
        ]
        summary = _(
            "Plan %(id)d is %(status)s: ETA %(eta)s, %(n)d signals.",
            id=plan.id,
            status=_status_label(plan.status),
            eta=_mmss(plan.eta_s),
            n=len(plan.steps),
        )
    head = [_("Stop"), _("Intersection"), _("Signal (TLS)"), _("Approach segment"),
            _("ETA (min:s)"), _("Green from"), _("Green until")]  # fmt: skip
    return html.Div([html.P(summary), _table(head, rows, _("Signal pre-emption plan"))])


@callback(
    Output("emergency-plan", "data"),
    Output("emergency-plan-view", "children"),
    Output("emergency-status", "children", allow_duplicate=True),
    Input("emergency-propose", "n_clicks"),
    Input("emergency-approve", "n_clicks"),
    Input("emergency-abort", "n_clicks"),
    State("emergency-choice", "value"),
    State("emergency-incident", "value"),
    State("emergency-unit", "value"),
    State("emergency-plan", "data"),
    State("emergency-reason", "value"),
    prevent_initial_call=True,
)
def plan_action(
    _p: int | None,
    _a: int | None,
    _b: int | None,
    choice: int | None,
    incident_id: int | None,
    unit_id: int | None,
    plan_id: int | None,
    reason: str | None,
) -> tuple[Any, ...]:
    """Propose a plan for the chosen route, or approve (dispatch) or abort the current one."""
    return act_on_plan(
        action=str(ctx.triggered_id), choice=choice, incident_id=incident_id, unit_id=unit_id,
        plan_id=plan_id, reason=reason,
    )  # fmt: skip


def act_on_plan(
    *,
    action: str,
    choice: int | None,
    incident_id: int | None,
    unit_id: int | None,
    plan_id: int | None,
    reason: str | None,
) -> tuple[Any, ...]:
    """The plan actions behind the page's buttons, as the logged-in user (role re-checked)."""
    try:
        actor = _actor()
    except PermissionError as exc:
        return dash.no_update, dash.no_update, str(exc)
    try:
        with session_scope() as session:
            if action == "emergency-propose":
                if not incident_id or not unit_id or choice is None:
                    return dash.no_update, dash.no_update, _("Find routes first.")
                plan_id = propose_dispatch(
                    session=session, unit_id=unit_id, incident_id=incident_id,
                    created_by=actor, route_index=int(choice),
                ).plan.id  # fmt: skip
                message = _("Plan %(id)d proposed.", id=plan_id)
            elif not plan_id:
                return dash.no_update, dash.no_update, _("Propose a plan first.")
            elif action == "emergency-approve":
                dispatch_with_preemption(session=session, plan_id=plan_id, approved_by=actor)
                message = _("Plan %(id)d approved: the unit is dispatched.", id=plan_id)
            else:
                if len((reason or "").strip()) < 3:
                    return dash.no_update, dash.no_update, _("Give a reason to abort the plan.")
                abort_plan(session=session, plan_id=plan_id, aborted_by=actor,
                           reason=(reason or "").strip())  # fmt: skip
                message = _("Plan %(id)d aborted.", id=plan_id)
    except NoRouteError:
        return (
            dash.no_update,
            dash.no_update,
            _("No route: closures or one-way streets cut the incident off."),
        )
    except (LookupError, ValueError):
        return dash.no_update, dash.no_update, _("Not possible: the plan changed meanwhile.")
    return plan_id, _plan_view(plan_id), message


# ---------------------------------------------------------------------------------------------
# the run, live from the twin


def _run_status_label(status: str) -> str:
    return {
        "waiting": _("waiting to enter"),
        "en_route": _("en route"),
        "arrived": _("arrived"),
        "aborted": _("aborted"),
    }.get(status, status)


def _recent_runs() -> dict[str, dict[str, Any]]:
    """The runs the twin reported lately, so a reload shows them at once (none if Redis is away)."""
    url = get_settings().redis_url
    if not url:
        return {}
    try:
        return recent_run_reports(redis=_redis(url))
    except RedisError:
        return {}


@functools.cache
def _redis(url: str) -> Redis:
    return Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)


def _live_section(runs: dict[str, dict[str, Any]]) -> html.Section:
    return html.Section(
        [
            html.H2(_("Live run in the twin"), id="emergency-live-title"),
            html.P(
                _(
                    "Units the digital twin drives on approved plans appear here and on the "
                    "map, updated every second."
                ),
            ),
            # Announced politely, and only when a signal is passed or the run ends.
            html.P(id="emergency-live-status", role="status", **{"aria-live": "polite"}),
            html.Div(live_table(runs), id="emergency-live"),
            dcc.Store(id="emergency-live-runs", data=runs),
        ],
        **{"aria-labelledby": "emergency-live-title"},
    )


def live_table(runs: dict[str, dict[str, Any]]) -> Any:
    """The table of runs followed in the twin (newest plan first), or a line saying none is."""
    if not runs:
        return html.P(_("No unit is on a run in the twin."), className="muted")
    head = [_("Unit"), _("Plan"), _("Status"), _("Signals passed"),
            _("Time left (min:s, free flow)"), _("Distance left (km)"), _("Speed (km/h)"),
            _("Elapsed (min:s)")]  # fmt: skip
    rows = [
        html.Tr(
            [
                html.Th(r["unit_code"], scope="row"),
                html.Td(str(r["plan_id"])),
                html.Td(_run_status_label(r["status"])),
                html.Td(f"{r['junctions_passed']} / {r['junctions_total']}"),
                html.Td(_mmss(r["eta_remaining_s"])),
                html.Td(f"{r['distance_remaining_m'] / 1000:.2f}"),
                html.Td(f"{r['speed_kmh']:.0f}"),
                html.Td(_mmss(r["elapsed_s"])),
            ]
        )
        for r in sorted(runs.values(), key=lambda r: -int(r["plan_id"]))
    ]
    return _table(head, rows, _("Live runs in the twin"))


def live_markers(runs: dict[str, dict[str, Any]]) -> list[Any]:
    """One marker per unit on the map, where the twin last saw it."""
    return [
        dl.CircleMarker(
            center=[r["lat"], r["lon"]],
            radius=9,
            color="#cf222e",
            fillOpacity=0.9,
            children=dl.Tooltip(
                _(
                    "%(unit)s: %(passed)d of %(total)d signals passed",
                    unit=r["unit_code"],
                    passed=r["junctions_passed"],
                    total=r["junctions_total"],
                )
            ),
        )
        for r in runs.values()
        if r.get("lat") is not None and r.get("lon") is not None
    ]


def live_announcement(run: dict[str, Any]) -> str:
    """What the status line says about one run's latest report."""
    unit = run["unit_code"]
    if run["status"] == "arrived":
        return _(
            "%(unit)s arrived after %(time)s (planned %(planned)s).",
            unit=unit,
            time=_mmss(run.get("travel_s") or run["elapsed_s"]),
            planned=_mmss(run["planned_eta_s"]),
        )
    if run["status"] == "aborted":
        return _("%(unit)s: the run was aborted.", unit=unit)
    return _(
        "%(unit)s: %(passed)d of %(total)d signals passed.",
        unit=unit,
        passed=run["junctions_passed"],
        total=run["junctions_total"],
    )


@callback(
    Output("emergency-live-runs", "data"),
    Output("emergency-live", "children"),
    Output("emergency-live-layer", "children"),
    Output("emergency-live-status", "children"),
    Input("app-socket", "data-unit.progress"),
    State("emergency-live-runs", "data"),
    prevent_initial_call=True,
)
def follow_run(report: dict[str, Any] | None, runs: dict[str, Any] | None) -> tuple[Any, ...]:
    """Show the latest report of a unit the twin drives: table row, map marker, status line."""
    if not report:
        return (dash.no_update,) * 4
    runs = dict(runs or {})
    runs[str(report["plan_id"])] = report
    return runs, live_table(runs), live_markers(runs), live_announcement(report)
