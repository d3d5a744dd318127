"""Citizen account changes (belongs in shared/accounts/service.py once the lead moves it)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.accounts.models import Citizen
from shared.accounts.service import hash_password, verify_password

_DUMMY = hash_password(password="timing-equaliser-citizen")


def register_citizen(
    *, session: Session, email: str, password: str, display_name: str | None, locale: str
) -> Citizen | None:
    """Create a citizen account; return None if the e-mail is taken."""
    email = email.strip().lower()
    if session.scalar(select(Citizen.id).where(Citizen.email == email)) is not None:
        return None
    citizen = Citizen(
        email=email,
        display_name=display_name,
        locale=locale,
        password_hash=hash_password(password=password),
    )
    session.add(citizen)
    session.flush()
    return citizen


def authenticate_citizen(*, session: Session, email: str, password: str) -> Citizen | None:
    """Return the active citizen with these credentials, or None."""
    citizen = session.scalar(select(Citizen).where(Citizen.email == email.strip().lower()))
    if citizen is None or not citizen.is_active:
        verify_password(password_hash=_DUMMY, password=password)
        return None
    return (
        citizen if verify_password(password_hash=citizen.password_hash, password=password) else None
    )
