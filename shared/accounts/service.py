"""Account queries and changes: staff, citizens and API clients."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from shared.accounts.models import ROLE_RANK, ApiClient, Role, StaffUser
from shared.accounts.schemas import IssuedApiKey, StaffUserCreate

# argon2id with argon2-cffi's RFC 9106 "low memory" defaults.
_hasher = PasswordHasher()


def hash_password(*, password: str) -> str:
    """Return an argon2id hash of the password."""
    return _hasher.hash(password)


def verify_password(*, password_hash: str, password: str) -> bool:
    """Return True if the password matches the stored hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def role_allows(*, role: Role, required: Role) -> bool:
    """Return True if `role` is at least `required` (viewer < operator < dispatcher < admin)."""
    return ROLE_RANK[role] >= ROLE_RANK[required]


def create_staff_user(*, session: Session, data: StaffUserCreate) -> StaffUser:
    """Create a staff account with a hashed password."""
    user = StaffUser(
        username=data.username,
        display_name=data.display_name,
        role=data.role,
        email=data.email,
        password_hash=hash_password(password=data.password),
    )
    session.add(user)
    session.flush()
    return user


def authenticate_staff(*, session: Session, username: str, password: str) -> StaffUser | None:
    """Return the active staff user with these credentials, or None."""
    user = session.scalar(select(StaffUser).where(StaffUser.username == username))
    if user is None or not user.is_active:
        # Hash anyway so that a missing user costs as long as a wrong password.
        verify_password(password_hash=_DUMMY_HASH, password=password)
        return None
    if not verify_password(password_hash=user.password_hash, password=password):
        return None
    user.last_login_at = func.now()
    return user


def _api_key_hash(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def create_api_client(
    *, session: Session, name: str, contact_email: str | None = None
) -> IssuedApiKey:
    """Create an API client and return its key; only the key's hash is stored."""
    api_key = "sc_" + secrets.token_urlsafe(32)
    client = ApiClient(
        name=name,
        contact_email=contact_email,
        key_prefix=api_key[:10],
        key_hash=_api_key_hash(api_key),
    )
    session.add(client)
    session.flush()
    return IssuedApiKey(client_id=client.id, name=name, api_key=api_key)


def find_api_client(*, session: Session, api_key: str) -> ApiClient | None:
    """Return the active API client holding this key, or None."""
    return session.scalar(
        select(ApiClient).where(
            ApiClient.key_hash == _api_key_hash(api_key), ApiClient.is_active.is_(True)
        )
    )


_clients = ApiClient.__table__
# Built once (a Core statement; SQLAlchemy caches its compiled form): the rate limiter's key
# check runs it for every api_key a worker has not seen in the last minute.
_ACTIVE_CLIENT_ID = select(_clients.c.id).where(
    _clients.c.key_hash == bindparam("key_hash"), _clients.c.is_active.is_(True)
)


def find_api_client_id(*, session: Session, api_key: str) -> int | None:
    """Return the id of the active API client holding this key, or None (no ORM object)."""
    row = session.execute(_ACTIVE_CLIENT_ID, {"key_hash": _api_key_hash(api_key)}).first()
    return None if row is None else int(row[0])


_DUMMY_HASH = _hasher.hash("timing-equaliser")
