"""Device tokens and area subscriptions: registration and who to notify."""

from __future__ import annotations

from geoalchemy2 import Geography
from sqlalchemy import cast, delete, func, or_, select
from sqlalchemy.orm import Session

from shared.districts.models import District
from shared.geo import SRID, point
from shared.notifications.models import AreaSubscription, DeviceToken


def register_device(
    *, session: Session, citizen_id: int, token: str, platform: str, locale: str
) -> DeviceToken:
    """Register (or move to this citizen) a device token with its platform and locale."""
    device = session.scalar(select(DeviceToken).where(DeviceToken.token == token))
    if device is None:
        device = DeviceToken(token=token)
        session.add(device)
    device.citizen_id, device.platform, device.locale = citizen_id, platform, locale
    device.last_seen_at = func.now()
    session.flush()
    return device


def list_devices(*, session: Session, citizen_id: int) -> list[DeviceToken]:
    """Return a citizen's devices."""
    q = select(DeviceToken).where(DeviceToken.citizen_id == citizen_id).order_by(DeviceToken.id)
    return list(session.scalars(q))


def remove_device(*, session: Session, citizen_id: int, device_id: int) -> bool:
    """Delete one of the citizen's devices; return False if it is not theirs."""
    res = session.execute(
        delete(DeviceToken).where(DeviceToken.id == device_id, DeviceToken.citizen_id == citizen_id)
    )
    return bool(res.rowcount)  # type: ignore[attr-defined]


def prune_tokens(*, session: Session, tokens: list[str]) -> int:
    """Delete tokens FCM reported as unregistered; return how many went."""
    if not tokens:
        return 0
    res = session.execute(delete(DeviceToken).where(DeviceToken.token.in_(tokens)))
    return int(res.rowcount)  # type: ignore[attr-defined]


def devices_of(*, session: Session, citizen_ids: list[int]) -> list[DeviceToken]:
    """Return the devices of these citizens."""
    if not citizen_ids:
        return []
    q = select(DeviceToken).where(DeviceToken.citizen_id.in_(citizen_ids)).order_by(DeviceToken.id)
    return list(session.scalars(q))


def subscribe_area(
    *,
    session: Session,
    citizen_id: int,
    district_id: int | None = None,
    lon: float | None = None,
    lat: float | None = None,
    radius_m: float | None = None,
) -> AreaSubscription:
    """Subscribe a citizen to a district, or to a point and radius."""
    sub = AreaSubscription(
        citizen_id=citizen_id,
        district_id=district_id,
        radius_m=radius_m,
        geom=point(lon, lat) if lon is not None and lat is not None else None,
    )
    session.add(sub)
    session.flush()
    return sub


def list_subscriptions(*, session: Session, citizen_id: int) -> list[AreaSubscription]:
    """Return a citizen's area subscriptions."""
    q = select(AreaSubscription).where(AreaSubscription.citizen_id == citizen_id)
    return list(session.scalars(q.order_by(AreaSubscription.id)))


def remove_subscription(*, session: Session, citizen_id: int, subscription_id: int) -> bool:
    """Delete one of the citizen's subscriptions; return False if it is not theirs."""
    res = session.execute(
        delete(AreaSubscription).where(
            AreaSubscription.id == subscription_id, AreaSubscription.citizen_id == citizen_id
        )
    )
    return bool(res.rowcount)  # type: ignore[attr-defined]


def subscribers_at(
    *, session: Session, lon: float, lat: float, district_id: int | None
) -> list[int]:
    """Return citizens subscribed to the district or to a circle that covers the point."""
    here = cast(func.ST_SetSRID(func.ST_MakePoint(lon, lat), SRID), Geography)
    in_circle = func.ST_DWithin(
        cast(AreaSubscription.geom, Geography), here, AreaSubscription.radius_m
    )
    conds = [AreaSubscription.geom.is_not(None) & in_circle]
    if district_id is not None:
        conds.append(AreaSubscription.district_id == district_id)
    q = select(AreaSubscription.citizen_id).where(or_(*conds)).distinct()
    return sorted(session.scalars(q))


def district_by_code(*, session: Session, code: str) -> District | None:
    """Return the district with this code, or None."""
    return session.scalar(select(District).where(District.code == code))
