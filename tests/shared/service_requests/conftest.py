from __future__ import annotations

import itertools

import pytest
from sqlalchemy.orm import Session

import shared.notifications.models
import shared.service_requests.models  # noqa: F401
from shared.accounts.models import Citizen
from shared.service_requests.service import seed_service_catalogue

_n = itertools.count(1)


@pytest.fixture
def catalogue(db_session: Session) -> Session:
    seed_service_catalogue(session=db_session)
    return db_session


def make_citizen(session: Session, *, locale: str = "en") -> Citizen:
    c = Citizen(email=f"sr-{next(_n)}@example.org", password_hash="x", locale=locale)
    session.add(c)
    session.flush()
    return c
