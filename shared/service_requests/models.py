"""Service catalogue, service requests, their status history, media and followers."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.db import Base
from shared.districts.models import District


class RequestStatus(enum.StrEnum):
    """Lifecycle of a request as staff see it; Open311 shows the last one as closed, else open."""

    open = "open"
    acknowledged = "acknowledged"
    in_progress = "in_progress"
    closed = "closed"


# Stored as short strings with a CHECK (no PostgreSQL enum type): adding a state is one line.
_STATUS_CHECK = "status IN ('open', 'acknowledged', 'in_progress', 'closed')"


class Service(Base):
    """One kind of request citizens can file (an Open311 service), with attribute definitions."""

    __tablename__ = "service"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    group: Mapped[str] = mapped_column(String(100), default="")
    keywords: Mapped[str] = mapped_column(String(500), default="")
    # Open311 type: realtime, batch or blackbox.
    type: Mapped[str] = mapped_column(String(16), default="realtime")
    agency_responsible: Mapped[str] = mapped_column(String(200), default="")
    # Open311 attribute definitions: [{code, datatype, required, description, order, values}].
    attributes: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    is_active: Mapped[bool] = mapped_column(default=True)


class ServiceRequest(Base):
    """A citizen's or an Open311 client's report, located by a point or an address."""

    __tablename__ = "service_request"
    __table_args__ = (
        CheckConstraint(_STATUS_CHECK, name="status"),
        Index("ix_service_request_geom", "geom", postgresql_using="gist"),
        Index("ix_service_request_service_status", "service_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # Returned to clients at once; Open311's tokens/<token> maps it to the request id.
    token: Mapped[str] = mapped_column(String(36), unique=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("service.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(16), default=RequestStatus.open.value)
    # The latest public note (mirrors the newest history row).
    status_notes: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    geom: Mapped[WKBElement | None] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=False)
    )
    address_string: Mapped[str | None] = mapped_column(String(500))
    address_id: Mapped[str | None] = mapped_column(String(100))
    district_id: Mapped[int | None] = mapped_column(ForeignKey("district.id", ondelete="SET NULL"))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    media_url: Mapped[str | None] = mapped_column(String(1000))
    reporter_citizen_id: Mapped[int | None] = mapped_column(
        ForeignKey("citizen.id", ondelete="SET NULL"), index=True
    )
    api_client_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_client.id", ondelete="SET NULL")
    )
    # Contact details given by an Open311 client: private, never shown in public output.
    contact: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    requested_at: Mapped[datetime] = mapped_column(server_default=func.now(), index=True)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())

    service: Mapped[Service] = relationship(lazy="joined", innerjoin=True)
    # Read for the console's queue item (its code); create_request sets it from the lookup it
    # already makes, so announcing a new request does not load the district again.
    district: Mapped[District | None] = relationship()
    history: Mapped[list[StatusChange]] = relationship(
        back_populates="request", order_by="StatusChange.id", cascade="all, delete-orphan"
    )
    media: Mapped[list[RequestMedia]] = relationship(
        order_by="RequestMedia.id", cascade="all, delete-orphan"
    )


class StatusChange(Base):
    """One step of a request's status history, with its public note."""

    __tablename__ = "service_request_status_change"
    __table_args__ = (CheckConstraint(_STATUS_CHECK, name="status"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("service_request.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    # Who made the change: "citizen:<id>", "client:<id>" or a staff username.
    actor: Mapped[str] = mapped_column(String(200))
    changed_at: Mapped[datetime] = mapped_column(server_default=func.now())

    request: Mapped[ServiceRequest] = relationship(back_populates="history")


class RequestMedia(Base):
    """A photo attached to a request: EXIF stripped, with a thumbnail, kept in media storage."""

    __tablename__ = "service_request_media"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("service_request.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(200), unique=True)
    thumb_key: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class RequestFollower(Base):
    """A citizen following a request (its reporter, or someone who found it as a duplicate)."""

    __tablename__ = "service_request_follower"

    request_id: Mapped[int] = mapped_column(
        ForeignKey("service_request.id", ondelete="CASCADE"), primary_key=True
    )
    citizen_id: Mapped[int] = mapped_column(
        ForeignKey("citizen.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
