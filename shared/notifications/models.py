"""Device tokens and area subscriptions for push notifications."""

from __future__ import annotations

import enum
from datetime import datetime

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import CheckConstraint, Float, ForeignKey, String, func
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base


class Platform(enum.StrEnum):
    """Where a device token came from."""

    android = "android"
    ios = "ios"
    web = "web"


class DeviceToken(Base):
    """An FCM registration token of a citizen's device, with the locale its texts use."""

    __tablename__ = "device_token"
    __table_args__ = (CheckConstraint("platform IN ('android', 'ios', 'web')", name="platform"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(
        ForeignKey("citizen.id", ondelete="CASCADE"), index=True
    )
    token: Mapped[str] = mapped_column(String(4096), unique=True)
    platform: Mapped[str] = mapped_column(String(16))
    locale: Mapped[str] = mapped_column(String(35), default="en")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_seen_at: Mapped[datetime] = mapped_column(server_default=func.now())


class AreaSubscription(Base):
    """A citizen's interest in an area: a district, or a point with a radius in metres."""

    __tablename__ = "area_subscription"
    __table_args__ = (
        CheckConstraint(
            "(district_id IS NOT NULL AND geom IS NULL AND radius_m IS NULL) OR "
            "(district_id IS NULL AND geom IS NOT NULL AND radius_m > 0)",
            name="one_area",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(
        ForeignKey("citizen.id", ondelete="CASCADE"), index=True
    )
    district_id: Mapped[int | None] = mapped_column(
        ForeignKey("district.id", ondelete="CASCADE"), index=True
    )
    geom: Mapped[WKBElement | None] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=False)
    )
    radius_m: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
