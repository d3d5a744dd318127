"""/api/v1/devices and /api/v1/subscriptions: thin views over shared.notifications."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from citizen_api.db import db
from citizen_api.errors import ApiProblem
from citizen_api.schemas import DeviceIn, SubscriptionIn
from citizen_api.tokens import current_citizen_id
from citizen_api.validation import body
from shared.geo import lonlat
from shared.notifications import service as ns
from shared.notifications.models import AreaSubscription, DeviceToken

bp = Blueprint("notifications", __name__, url_prefix="/api/v1")


def _device(d: DeviceToken) -> dict[str, object]:
    return {"id": d.id, "platform": d.platform, "locale": d.locale}


def _sub(s: AreaSubscription) -> dict[str, object]:
    lon, lat = lonlat(s.geom) if s.geom is not None else (None, None)
    return {
        "id": s.id,
        "district_id": s.district_id,
        "lat": lat,
        "long": lon,
        "radius_m": s.radius_m,
    }


@bp.post("/devices")
def register_device() -> tuple[Response, int]:
    """Register this device's push token with its platform and locale."""
    citizen_id = current_citizen_id()
    data = body(DeviceIn)
    with db() as session:
        d = ns.register_device(
            session=session,
            citizen_id=citizen_id,
            token=data.token,
            platform=data.platform.value,
            locale=data.locale,
        )
        return jsonify(_device(d)), 201


@bp.get("/devices")
def list_devices() -> Response:
    """List the caller's devices (tokens are not echoed)."""
    citizen_id = current_citizen_id()
    with db() as session:
        return jsonify(
            [_device(d) for d in ns.list_devices(session=session, citizen_id=citizen_id)]
        )


@bp.delete("/devices/<int:device_id>")
def remove_device(device_id: int) -> tuple[str, int]:
    """Forget one of the caller's devices."""
    citizen_id = current_citizen_id()
    with db() as session:
        if not ns.remove_device(session=session, citizen_id=citizen_id, device_id=device_id):
            raise ApiProblem(404, f"you have no device {device_id}")
    return "", 204


@bp.post("/subscriptions")
def subscribe() -> tuple[Response, int]:
    """Subscribe to a district (district_code) or to a circle (lat, long, radius_m)."""
    citizen_id = current_citizen_id()
    data = body(SubscriptionIn)
    circle = (data.lat, data.long, data.radius_m)
    if (data.district_code is None) == all(v is None for v in circle) or (
        data.district_code is None and any(v is None for v in circle)
    ):
        raise ApiProblem(400, "give either district_code, or lat, long and radius_m")
    with db() as session:
        district_id = None
        if data.district_code is not None:
            district = ns.district_by_code(session=session, code=data.district_code)
            if district is None:
                raise ApiProblem(404, f"no district {data.district_code!r}")
            district_id = district.id
        s = ns.subscribe_area(
            session=session,
            citizen_id=citizen_id,
            district_id=district_id,
            lon=data.long,
            lat=data.lat,
            radius_m=data.radius_m,
        )
        return jsonify(_sub(s)), 201


@bp.get("/subscriptions")
def list_subscriptions() -> Response:
    """List the caller's area subscriptions."""
    citizen_id = current_citizen_id()
    with db() as session:
        subs = ns.list_subscriptions(session=session, citizen_id=citizen_id)
        return jsonify([_sub(s) for s in subs])


@bp.delete("/subscriptions/<int:subscription_id>")
def unsubscribe(subscription_id: int) -> tuple[str, int]:
    """Remove one of the caller's subscriptions."""
    citizen_id = current_citizen_id()
    with db() as session:
        if not ns.remove_subscription(
            session=session, citizen_id=citizen_id, subscription_id=subscription_id
        ):
            raise ApiProblem(404, f"you have no subscription {subscription_id}")
    return "", 204
