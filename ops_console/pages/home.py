"""Home: the live map (districts, roads, sensors) and the live alert feed."""

from __future__ import annotations

from typing import Any

import dash
import dash_leaflet as dl
from dash import ALL, Input, Output, State, callback, ctx, dcc, html
from flask_babel import gettext as _

from ops_console import queries
from ops_console.actions import REQUIRED_ROLE, ActionRefused, act_on_alert
from ops_console.auth import current_user, current_username
from ops_console.components.alert_feed import alert_card
from ops_console.components.labels import (
    STATUS_ICON,
    congestion_label,
    severity_label,
    status_label,
    type_label,
)
from ops_console.i18n import page_title
from shared.accounts.models import Role
from shared.accounts.service import role_allows
from shared.config import get_settings
from shared.db import session_scope
from shared.sensing.models import SensorType

dash.register_page(__name__, path="/", title=page_title(lambda: _("Live map")), order=0)

ATTRIBUTION = (
    '© <a href="https://www.openstreetmap.org/copyright">OpenStreetMap contributors</a> (ODbL)'
)
FEED_LIMIT = 50
# Adlershof's centre: only used before any district exists.
FALLBACK_CENTER = (52.43, 13.54)


def _fn(name: str) -> dict[str, str]:
    """Reference a function of assets/console.js (dash-leaflet resolves {"variable": ...})."""
    return {"variable": f"opsConsole.map.{name}"}


def can_act() -> bool:
    """Return True if the logged-in user may act on alerts (the server re-checks anyway)."""
    user = current_user()
    return bool(user) and role_allows(role=Role(user["role"]), required=REQUIRED_ROLE)


def layout(display: str | None = None, **_query: Any) -> html.Div:
    """Return the page: map with legend on one side, feed with filters on the other."""
    wall = display == "wall"
    with session_scope() as session:
        bounds = queries.get_city_bounds(session=session)
        districts = queries.list_district_choices(session=session)
    return html.Div(
        className="home" + (" home-wall" if wall else ""),
        children=[
            html.H1(_("Live map and alerts"), className="page-title"),
            html.Section(
                _map_panel(bounds, wall),
                className="home-map-panel",
                **{"aria-label": _("City map")},
            ),
            html.Section(
                _feed_panel(districts, wall),
                className="home-feed-panel",
                **{"aria-labelledby": "home-feed-title"},
            ),
        ],
    )


def _map_panel(bounds: Any, wall: bool) -> list[Any]:
    tile_url = get_settings().tile_url
    base = [dl.TileLayer(url=tile_url, attribution=ATTRIBUTION)] if tile_url else []
    layers = dl.LayersControl(
        [
            dl.Overlay(
                dl.GeoJSON(
                    id="home-districts",
                    url="/api/map/districts.geojson",
                    style=_fn("districtStyle"),
                    hideout={"metric": "aqi"},
                    attribution=ATTRIBUTION,
                    interactive=False,
                ),
                name=_("Districts"),
                checked=True,
            ),
            dl.Overlay(
                dl.GeoJSON(
                    id="home-roads",
                    url="/api/map/roads.geojson",
                    style=_fn("roadStyle"),
                    interactive=False,
                ),
                name=_("Roads (congestion)"),
                checked=True,
            ),
            dl.Overlay(
                dl.GeoJSON(
                    id="home-sensors",
                    url="/api/map/sensors.geojson",
                    cluster=True,
                    pointToLayer=_fn("sensorPoint"),
                    clusterToLayer=_fn("clusterIcon"),
                    zoomToBoundsOnClick=True,
                    # supercluster counts the radius on a 512-px tile: 96 is ~48 screen pixels,
                    # enough for 44-px cluster discs not to overlap.
                    superClusterOptions={"radius": 96, "maxZoom": 16},
                    hideout={"status": {}},
                ),
                name=_("Sensors"),
                checked=True,
            ),
        ],
        collapsed=False,
        position="topright",
    )
    view: dict[str, Any] = (
        # dash-leaflet needs a center even when bounds decide the view (else a JS error).
        {
            "bounds": [list(bounds[0]), list(bounds[1])],
            "center": [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2],
            "zoom": 14,
        }
        if bounds
        else {"center": list(FALLBACK_CENTER), "zoom": 14}
    )
    the_map = dl.MapContainer(
        [
            *base,
            layers,  # Above the marker pane (600): a ring must not hide under a cluster disc.
            dl.Pane(
                dl.LayerGroup(id="home-highlight"),
                name="home-highlight-pane",
                style={"zIndex": 650},
            ),
            dl.LayerGroup(attribution=ATTRIBUTION),
        ],
        id="home-map",
        className="home-map",
        zoomSnap=0.25,
        **view,
    )
    # dcc.Dropdown, not RadioItems: Dash 4.4.1's RadioItems/Checklist render role="listbox"
    # without a name around focusable inputs (axe: aria-input-field-name, nested-interactive).
    switch = html.Div(
        [
            html.Label(_("Colour districts by"), htmlFor="home-choropleth"),
            dcc.Dropdown(
                id="home-choropleth",
                options=[
                    {"label": _("Air quality (AQI)"), "value": "aqi"},
                    {"label": _("Congestion"), "value": "congestion"},
                ],
                value="aqi",
                clearable=False,
                searchable=False,
                className="home-choropleth",
            ),
            dcc.Link(
                _("Sensor list (keyboard access to every sensor)"),
                href="/health",
                className="home-sensor-list-link",
            ),
        ],
        className="home-map-controls",
        hidden=wall,
    )
    return [switch, the_map, _legend()]


def _legend() -> html.Div:
    def swatch(cls: str, text: str, icon: str = "") -> html.Li:
        return html.Li(
            [html.Span(icon, className=f"swatch {cls}", **{"aria-hidden": "true"}), text]
        )

    return html.Div(
        [
            html.H2(_("Legend"), className="legend-title"),
            html.Div(
                [
                    html.H3(_("Sensor status")),
                    html.Ul(
                        [
                            swatch(f"sm sm-{s}", status_label(s), STATUS_ICON[s])
                            for s in queries.SENSOR_STATUSES
                        ]
                    ),
                    html.P(
                        _("Letter = type: T traffic, A air quality, N noise, W weather"),
                        className="legend-note",
                    ),
                ]
            ),
            html.Div(
                [
                    html.H3(_("Road congestion")),
                    html.Ul(
                        [
                            swatch(f"line cg-{c}", congestion_label(c))
                            for c in ("FREE_FLOW", "LIGHT", "MODERATE", "HEAVY", "SEVERE")
                        ]
                        + [swatch("line cg-UNKNOWN", _("No data"))]
                    ),
                ]
            ),
            html.Div(
                [
                    html.H3(_("District AQI")),
                    html.Ul(
                        [
                            swatch(f"fill aqi-{i}", label)
                            for i, label in enumerate(
                                [
                                    _("0–50 good"),
                                    _("51–100 moderate"),
                                    _("101–150 sensitive groups"),
                                    _("151–200 unhealthy"),
                                    _("201+ very unhealthy"),
                                ]
                            )
                        ]
                    ),
                ]
            ),
        ],
        className="legend",
        id="home-legend",
    )


def _feed_panel(districts: list[tuple[int, str, str]], wall: bool) -> list[Any]:
    filters = html.Div(
        [
            html.Div(
                [
                    html.Label(_("District"), htmlFor="home-filter-district"),
                    dcc.Dropdown(
                        id="home-filter-district",
                        multi=True,
                        options=[
                            {"label": f"{c.upper()} · {n}", "value": i} for i, c, n in districts
                        ],
                        placeholder=_("All districts"),
                    ),
                ],
                className="filter",
            ),
            html.Div(
                [
                    html.Label(_("Sensor type"), htmlFor="home-filter-type"),
                    dcc.Dropdown(
                        id="home-filter-type",
                        multi=True,
                        options=[
                            {"label": type_label(t.value), "value": t.value} for t in SensorType
                        ],
                        placeholder=_("All types"),
                    ),
                ],
                className="filter",
            ),
            html.Div(
                [
                    html.Label(_("Severity"), htmlFor="home-filter-severity"),
                    dcc.Dropdown(
                        id="home-filter-severity",
                        multi=True,
                        options=[
                            {"label": severity_label(s), "value": s}
                            for s in ("critical", "warning")
                        ],
                        value=["critical", "warning"],
                        placeholder=_("No severity chosen"),
                    ),
                ],
                className="filter",
            ),
        ],
        className="home-filters",
        hidden=wall,
    )
    return [
        html.H2(_("Live alerts"), id="home-feed-title"),
        filters,
        # Announces what an action did (or why the server refused it).
        html.P(id="home-action-status", className="action-status", role="status"),
        html.Div(
            id="home-feed",
            className="feed",
            **{"aria-live": "polite", "aria-relevant": "additions text"},
        ),
    ]


@callback(
    Output("home-feed", "children"),
    Input("app-alerts", "data"),
    Input("home-filter-district", "value"),
    Input("home-filter-type", "value"),
    Input("home-filter-severity", "value"),
)
def render_feed(
    alerts: dict[str, Any] | None,
    districts: list[int] | None,
    types: list[str] | None,
    severities: list[str] | None,
) -> list[Any]:
    """Render the feed, newest first, with each alert's audit trail from the database."""
    items = sorted((alerts or {}).values(), key=lambda a: (a["updated_at"], a["id"]), reverse=True)
    if districts:
        items = [a for a in items if a["district_id"] in districts]
    if types:
        items = [a for a in items if a["sensor_type"] in types]
    items = [a for a in items if a["severity"] in (severities or [])][:FEED_LIMIT]
    if not items:
        return [html.P(_("No alerts match."), className="feed-empty")]
    ids = [a["id"] for a in items]
    act = can_act()
    with session_scope() as session:
        events = queries.list_alert_events(session=session, alert_ids=ids)
        # From the database: a worker's live update of the alert does not carry the assignee.
        assignees = queries.list_alert_assignees(session=session, alert_ids=ids)
        staff = queries.list_active_staff(session=session) if act else []
    by_alert: dict[int, list[queries.AuditEvent]] = {}
    for e in events:
        by_alert.setdefault(e.alert_id, []).append(e)
    return [
        alert_card(
            a,
            by_alert.get(a["id"], []),
            can_act=act,
            staff=staff,
            assigned_to=assignees.get(a["id"]),
        )
        for a in items
    ]


@callback(
    Output("app-alerts", "data", allow_duplicate=True),
    Output("home-action-status", "children"),
    Input({"type": "home-ack", "alert": ALL}, "n_clicks"),
    Input({"type": "home-resolve", "alert": ALL}, "n_clicks"),
    State({"type": "home-reason", "alert": ALL}, "value"),
    State({"type": "home-reason", "alert": ALL}, "id"),
    State("app-alerts", "data"),
    prevent_initial_call=True,
)
def act(
    _acks: list[int | None],
    _resolves: list[int | None],
    reasons: list[str | None],
    reason_ids: list[dict[str, Any]],
    alerts: dict[str, Any] | None,
) -> tuple[Any, str]:
    """Acknowledge or resolve the alert whose button was pressed (the server checks the role)."""
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not ctx.triggered or not ctx.triggered[0]["value"]:
        return dash.no_update, dash.no_update  # a card was re-rendered, nobody clicked
    alert_id = int(trigger["alert"])
    action = "acknowledge" if trigger["type"] == "home-ack" else "resolve"
    reason = next(
        (r or "" for r, i in zip(reasons, reason_ids, strict=False) if i["alert"] == alert_id), ""
    )
    try:
        read = act_on_alert(
            username=current_username(), action=action, alert_id=alert_id, reason=reason
        )
    except ActionRefused as exc:
        return dash.no_update, exc.message
    merged = dict(alerts or {})
    merged[str(read.id)] = read.model_dump(mode="json")
    done = (
        _("Acknowledged %(code)s.", code=read.thing_code)
        if action == "acknowledge"
        else _("Resolved %(code)s.", code=read.thing_code)
    )
    return merged, done


@callback(
    Output("app-alerts", "data", allow_duplicate=True),
    Output("home-action-status", "children", allow_duplicate=True),
    Input({"type": "home-assign", "alert": ALL}, "n_clicks"),
    State({"type": "home-assignee", "alert": ALL}, "value"),
    State({"type": "home-assignee", "alert": ALL}, "id"),
    State("app-alerts", "data"),
    prevent_initial_call=True,
)
def assign(
    _clicks: list[int | None],
    assignees: list[str | None],
    assignee_ids: list[dict[str, Any]],
    alerts: dict[str, Any] | None,
) -> tuple[Any, str]:
    """Assign the alert whose Assign button was pressed (the server checks the role)."""
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not ctx.triggered or not ctx.triggered[0]["value"]:
        return dash.no_update, dash.no_update  # a card was re-rendered, nobody clicked
    alert_id = int(trigger["alert"])
    assignee = next(
        (v or "" for v, i in zip(assignees, assignee_ids, strict=False) if i["alert"] == alert_id),
        "",
    )
    try:
        read = act_on_alert(
            username=current_username(), action="assign", alert_id=alert_id, assignee=assignee
        )
    except ActionRefused as exc:
        return dash.no_update, exc.message
    merged = dict(alerts or {})
    merged[str(read.id)] = read.model_dump(mode="json")
    return merged, _("Assigned %(code)s to %(name)s.", code=read.thing_code, name=read.assigned_to)


@callback(Output("home-districts", "hideout"), Input("home-choropleth", "value"))
def choose_choropleth(metric: str) -> dict[str, str]:
    """Switch the district colouring between AQI and congestion."""
    return {"metric": metric if metric in ("aqi", "congestion") else "aqi"}


@callback(
    Output("home-sensors", "hideout"),
    Output("home-highlight", "children"),
    Input("app-alerts", "data"),
)
def live_map(alerts: dict[str, Any] | None) -> tuple[dict[str, Any], list[Any]]:
    """Recolour sensors from live alerts and ring every open critical one."""
    by_thing: dict[int, list[dict[str, Any]]] = {}
    for a in (alerts or {}).values():
        by_thing.setdefault(a["thing_id"], []).append(a)
    status: dict[str, str] = {}
    for thing_id, items in by_thing.items():
        live = [a for a in items if a["status"] != "resolved"]
        # Stale alerts carry no datastream: they are about the sensor, not a reading.
        readings = [a for a in live if a["datastream_id"] is not None]
        if any(a["severity"] == "critical" for a in readings):
            status[str(thing_id)] = "critical"
        elif readings:
            status[str(thing_id)] = "warning"
        elif live:
            status[str(thing_id)] = "stale"
        else:
            status[str(thing_id)] = "ok"
    ringed: dict[str, dict[str, Any]] = {}
    for a in (alerts or {}).values():
        if a["severity"] == "critical" and a["status"] != "resolved" and a["datastream_id"]:
            ringed.setdefault(a["thing_code"], a)  # one ring per sensor, however many rules
    rings = [
        dl.CircleMarker(
            center=[a["lat"], a["lon"]],
            radius=22,
            color="#c21f1f",
            weight=4,
            fill=False,
            className=f"home-highlight highlight-{code}",
            children=dl.Tooltip(
                f"⬣ {code} · {severity_label('critical')}",
                permanent=True,
                direction="top",
                className="highlight-tip",
            ),
        )
        for code, a in ringed.items()
    ]
    return {"status": status}, rings
