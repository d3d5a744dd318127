"""JSON routes: map layers (fetched by the map, kept out of the Dash layout) and alert actions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from flask import Blueprint, Response, request

from ops_console import queries
from ops_console.actions import ActionRefused, act_on_alert
from ops_console.auth import current_username
from ops_console.components.labels import metric_name
from ops_console.components.popup import PopupText, sensor_popup
from ops_console.components.sparkline import sparkline_svg
from shared.db import session_scope
from shared.sensing.catalogue import METRICS_BY_TYPE
from shared.sensing.models import SensorType

bp = Blueprint("api", __name__, url_prefix="/api")


def _json(body: Any, status: int = 200) -> Response:
    # orjson: 10,000 sensor features serialise in milliseconds.
    return Response(orjson.dumps(body), status=status, mimetype="application/json")


def _collection(features: list[dict[str, Any]]) -> Response:
    resp = _json({"type": "FeatureCollection", "features": features})
    resp.headers["Cache-Control"] = "no-store"  # live data, and per-user (auth) anyway
    return resp


@bp.get("/map/sensors.geojson")
def sensors() -> Response:
    """Sensors as GeoJSON points with status and type (popups are fetched when opened)."""
    with session_scope() as session:
        points = queries.list_sensor_points(session=session)
    words = PopupText.current()
    return _collection(
        [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [p.lon, p.lat]},
                "properties": {
                    "id": p.id,
                    "code": p.code,
                    "type": p.sensor_type,
                    "status": p.status,
                    "label": f"{p.code} · {words.statuses[p.status]}",
                },
            }
            for p in points
        ]
    )


@bp.get("/map/popup/<code>")
def popup(code: str) -> Response:
    """A sensor's popup HTML, built when it opens: fresh values, and a 5x lighter map layer."""
    with session_scope() as session:
        point = queries.get_sensor_point(session=session, code=code)
    if point is None:
        return _json({"error": "no such sensor"}, 404)
    resp = Response(sensor_popup(point, PopupText.current()), mimetype="text/html")
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/map/sparkline/<code>.svg")
def sparkline(code: str) -> Response:
    """The last 24 h of a sensor's headline metric as a small SVG (shown in its popup)."""
    since = datetime.now(UTC) - timedelta(hours=24)
    with session_scope() as session:
        sensor = queries.get_sensor_detail(session=session, code=code)
        if sensor is None or not sensor.datastreams:
            return _json({"error": "no such sensor"}, 404)
        order = METRICS_BY_TYPE.get(SensorType(sensor.sensor_type), ())
        stream = min(
            sensor.datastreams, key=lambda s: order.index(s[1]) if s[1] in order else len(order)
        )
        points = queries.list_observations(session=session, datastream_id=stream[0], since=since)
    title = f"{code} {metric_name(stream[1])} ({stream[2]}), 24 h"
    resp = Response(sparkline_svg(points[-300:], title=title), mimetype="image/svg+xml")
    resp.headers["Cache-Control"] = "private, max-age=30"
    return resp


@bp.get("/map/roads.geojson")
def roads() -> Response:
    """Road segments with their congestion level."""
    with session_scope() as session:
        return _collection(queries.list_road_features(session=session))


@bp.get("/map/districts.geojson")
def districts() -> Response:
    """District boundaries with AQI and congestion for the choropleth."""
    with session_scope() as session:
        return _collection(queries.list_district_features(session=session))


@bp.post("/alerts/<int:alert_id>/<action>")
def alert_action(alert_id: int, action: str) -> Response:
    """Acknowledge, assign or resolve an alert; JSON body {"reason": ...} for resolve,
    {"assignee": <staff username>} for assign."""
    # A JSON body forces a CORS preflight, so another site cannot post this with our cookie.
    if not request.is_json:
        return _json({"error": "send application/json"}, 415)
    body = request.get_json(silent=True) or {}
    try:
        read = act_on_alert(
            username=current_username(),
            action=action,
            alert_id=alert_id,
            reason=str(body.get("reason", "")),
            assignee=str(body.get("assignee", "")),
        )
    except ActionRefused as exc:
        return _json({"error": exc.message}, exc.status)
    return _json(read.model_dump(mode="json"))
