"""Account tables: staff (with roles), citizens and Open311 API clients."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, String, func
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base


class Role(enum.StrEnum):
    """Staff roles, each allowed everything the previous one is."""

    viewer = "viewer"
    operator = "operator"
    dispatcher = "dispatcher"
    admin = "admin"


ROLE_RANK = {Role.viewer: 0, Role.operator: 1, Role.dispatcher: 2, Role.admin: 3}


class StaffUser(Base):
    """A control-room user."""

    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    role: Mapped[Role] = mapped_column(Enum(Role, name="staff_role"))
    # argon2id PHC string (argon2-cffi); never the password itself.
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_login_at: Mapped[datetime | None]


class Citizen(Base):
    """A resident using the citizen app."""

    __tablename__ = "citizen"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased so that uniqueness ignores case.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    # BCP 47 tag used for notifications and e-mails.
    locale: Mapped[str] = mapped_column(String(35), default="en")
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ApiClient(Base):
    """A third-party Open311 client identified by an API key."""

    __tablename__ = "api_client"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    contact_email: Mapped[str | None] = mapped_column(String(320))
    # The first characters of the key, shown to staff to tell keys apart.
    key_prefix: Mapped[str] = mapped_column(String(12), index=True)
    # SHA-256 hex of the whole key: keys are long random tokens, so a fast hash suffices.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
