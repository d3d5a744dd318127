"""Accounts: argon2 passwords, role ordering and API keys stored only as hashes."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.accounts.models import ApiClient, Role, StaffUser
from shared.accounts.schemas import StaffUserCreate
from shared.accounts.service import (
    authenticate_staff,
    create_api_client,
    create_staff_user,
    find_api_client,
    find_api_client_id,
    role_allows,
)


def test_staff_password_is_hashed_and_checked(db_session: Session) -> None:
    user = create_staff_user(
        session=db_session,
        data=StaffUserCreate(
            username="ops.anna",
            display_name="Anna",
            role=Role.operator,
            password="correct horse battery",
        ),
    )
    assert user.password_hash.startswith("$argon2id$")
    assert "correct horse" not in user.password_hash
    assert (
        authenticate_staff(
            session=db_session, username="ops.anna", password="correct horse battery"
        )
        is user
    )
    assert (
        authenticate_staff(session=db_session, username="ops.anna", password="wrong password!")
        is None
    )
    assert (
        authenticate_staff(session=db_session, username="nobody", password="correct horse battery")
        is None
    )
    user.is_active = False
    assert (
        authenticate_staff(
            session=db_session, username="ops.anna", password="correct horse battery"
        )
        is None
    )


def test_short_passwords_and_odd_usernames_are_refused() -> None:
    with pytest.raises(ValidationError):
        StaffUserCreate(
            username="x y", display_name="X", role=Role.viewer, password="long enough pw"
        )
    with pytest.raises(ValidationError):
        StaffUserCreate(username="xy", display_name="X", role=Role.viewer, password="short")


@pytest.mark.parametrize(
    ("role", "required", "allowed"),
    [
        (Role.viewer, Role.viewer, True),
        (Role.viewer, Role.operator, False),
        (Role.operator, Role.dispatcher, False),
        (Role.dispatcher, Role.operator, True),
        (Role.admin, Role.dispatcher, True),
        (Role.dispatcher, Role.admin, False),
    ],
)
def test_role_order(role: Role, required: Role, allowed: bool) -> None:
    assert role_allows(role=role, required=required) is allowed


def test_api_key_is_shown_once_and_stored_as_a_hash(db_session: Session) -> None:
    issued = create_api_client(session=db_session, name="Test client")
    row = db_session.scalar(select(ApiClient).where(ApiClient.id == issued.client_id))
    assert row is not None and issued.api_key not in (row.key_hash, row.key_prefix)
    assert issued.api_key.startswith(row.key_prefix)
    assert find_api_client(session=db_session, api_key=issued.api_key) is row
    assert find_api_client(session=db_session, api_key=issued.api_key + "x") is None
    assert find_api_client_id(session=db_session, api_key=issued.api_key) == row.id
    assert find_api_client_id(session=db_session, api_key=issued.api_key + "x") is None
    row.is_active = False
    assert find_api_client(session=db_session, api_key=issued.api_key) is None
    # Still pending in the session: the id lookup flushes it first, as find_api_client does.
    assert find_api_client_id(session=db_session, api_key=issued.api_key) is None


def test_seeded_staff_can_log_in_with_the_printed_password(db_session: Session, engine) -> None:  # type: ignore[no-untyped-def]
    report = engine.info_seed_report
    assert {role for _u, _p, role in report.staff_credentials} == {r.value for r in Role}
    for username, password, role in report.staff_credentials:
        user = authenticate_staff(session=db_session, username=username, password=password)
        assert isinstance(user, StaffUser) and user.role == Role(role)
    assert find_api_client(session=db_session, api_key=report.api_key) is not None
