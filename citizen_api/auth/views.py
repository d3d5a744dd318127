"""/api/v1/auth and /api/v1/me: thin views over citizen accounts and tokens."""

from __future__ import annotations

import hashlib

from flask import Blueprint, Response, current_app, g, jsonify, request

from citizen_api import tokens
from citizen_api.auth.service import authenticate_citizen, register_citizen
from citizen_api.db import db
from citizen_api.errors import ApiProblem
from citizen_api.extensions import limiter
from citizen_api.schemas import LoginIn, MeUpdate, RefreshIn, RegisterIn
from citizen_api.validation import body
from shared.accounts.models import Citizen

bp = Blueprint("auth", __name__, url_prefix="/api/v1")


def _auth_limit() -> str:
    return str(current_app.config["RATELIMIT_AUTH"])


def _login_failure_limit() -> str:
    return str(current_app.config["RATELIMIT_LOGIN_FAILURES"])


def _login_account() -> str:
    """Rate-limit key of the account a login names, normalised as accounts are looked up."""
    data = request.get_json(silent=True)
    email = data.get("email") if isinstance(data, dict) else None
    digest = hashlib.sha256(str(email or "").strip().lower().encode()).hexdigest()[:16]
    return f"login-account:{digest}"


def _failed(response: Response) -> bool:
    return response.status_code == 401


def _pair(citizen_id: int) -> dict[str, object]:
    pair = tokens.issue_tokens(citizen_id)
    return {
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "token_type": "Bearer",
        "expires_in": pair.expires_in,
    }


def me_out(c: Citizen) -> dict[str, object]:
    """Return the account as its owner sees it."""
    return {"id": c.id, "email": c.email, "display_name": c.display_name, "locale": c.locale}


@bp.post("/auth/register")
@limiter.limit(_auth_limit)
def register() -> tuple[Response, int]:
    """Create a citizen account and log it in."""
    data = body(RegisterIn)
    with db() as session:
        citizen = register_citizen(
            session=session,
            email=data.email,
            password=data.password,
            display_name=data.display_name,
            locale=data.locale,
        )
        if citizen is None:
            raise ApiProblem(409, "an account with this e-mail already exists")
        out = {"citizen": me_out(citizen), **_pair(citizen.id)}
    return jsonify(out), 201


@bp.post("/auth/login")
@limiter.limit(_auth_limit)
# Only failures count here, so that a citizen who logs in often is never held back.
@limiter.limit(_login_failure_limit, key_func=_login_account, deduct_when=_failed)
def login() -> Response:
    """Exchange e-mail and password for tokens."""
    data = body(LoginIn)
    with db() as session:
        citizen = authenticate_citizen(session=session, email=data.email, password=data.password)
        if citizen is None:
            raise ApiProblem(401, "wrong e-mail or password")
        return jsonify(_pair(citizen.id))


@bp.post("/auth/refresh")
@limiter.limit(_auth_limit)
def refresh() -> Response:
    """Exchange a refresh token for a new pair; the old refresh token is revoked (rotation)."""
    claims = tokens.decode(body(RefreshIn).refresh_token, "refresh")
    with db() as session:
        citizen = session.get(Citizen, int(str(claims["sub"])))
        if citizen is None or not citizen.is_active:
            raise ApiProblem(401, "the account no longer exists")
    tokens.revoke(claims)
    return jsonify(_pair(int(str(claims["sub"]))))


@bp.post("/auth/logout")
def logout() -> tuple[str, int]:
    """Revoke the refresh token (and the access token used to call this)."""
    citizen_id = tokens.current_citizen_id()
    claims = tokens.decode(body(RefreshIn).refresh_token, "refresh")
    if int(str(claims["sub"])) != citizen_id:
        raise ApiProblem(403, "this refresh token belongs to another account")
    tokens.revoke(claims)
    tokens.revoke(g.access_claims)
    return "", 204


@bp.get("/me")
def get_me() -> Response:
    """Return the caller's account."""
    citizen_id = tokens.current_citizen_id()
    with db() as session:
        citizen = session.get(Citizen, citizen_id)
        if citizen is None:
            raise ApiProblem(401, "the account no longer exists")
        return jsonify(me_out(citizen))


@bp.patch("/me")
def update_me() -> Response:
    """Change the caller's display name or locale."""
    citizen_id = tokens.current_citizen_id()
    data = body(MeUpdate)
    with db() as session:
        citizen = session.get(Citizen, citizen_id)
        if citizen is None:
            raise ApiProblem(401, "the account no longer exists")
        for field, value in data.model_dump(exclude_unset=True, exclude_none=True).items():
            setattr(citizen, field, value)
        session.flush()
        return jsonify(me_out(citizen))
