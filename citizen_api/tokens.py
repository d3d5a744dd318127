"""Citizen tokens: short-lived JWT access tokens and revocable refresh tokens (PyJWT, HS256)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt
from flask import current_app, g, request

from citizen_api.errors import ApiProblem
from citizen_api.extensions import redis_client

ALG = "HS256"
AUDIENCE = "smartcity-citizen"
_REVOKED = "smartcity:revoked-jti:"


@dataclass(frozen=True)
class TokenPair:
    """What login and refresh return."""

    access_token: str
    refresh_token: str
    expires_in: int


def _encode(sub: int, kind: str, ttl: int) -> str:
    now = int(time.time())
    claims = {
        "sub": str(sub),
        "typ": kind,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, current_app.config["SECRET_KEY"], algorithm=ALG)


def issue_tokens(citizen_id: int) -> TokenPair:
    """Return a new access and refresh token for the citizen."""
    ttl = int(current_app.config["ACCESS_TOKEN_TTL_S"])
    return TokenPair(
        _encode(citizen_id, "access", ttl),
        _encode(citizen_id, "refresh", int(current_app.config["REFRESH_TOKEN_TTL_S"])),
        ttl,
    )


def decode(token: str, kind: str) -> dict[str, object]:
    """Return the claims of a valid, unrevoked token of this kind, or raise 401."""
    try:
        claims = jwt.decode(
            token,
            current_app.config["SECRET_KEY"],
            algorithms=[ALG],
            audience=AUDIENCE,
            options={"require": ["exp", "sub", "jti"]},
        )
    except jwt.PyJWTError as exc:
        raise ApiProblem(401, f"invalid {kind} token: {exc}") from exc
    if claims.get("typ") != kind:
        raise ApiProblem(401, f"this is not a{'n' if kind == 'access' else ''} {kind} token")
    if redis_client().exists(_REVOKED + str(claims["jti"])):
        raise ApiProblem(401, f"this {kind} token has been revoked")
    return claims


def revoke(claims: dict[str, object]) -> None:
    """Deny a token until it would have expired anyway."""
    ttl = max(1, int(claims["exp"]) - int(time.time()))  # type: ignore[call-overload]
    redis_client().set(_REVOKED + str(claims["jti"]), b"1", ex=ttl)


def peek_subject(token: str) -> str | None:
    """Return the subject of a well-signed access token without the revocation check."""
    try:
        claims = jwt.decode(
            token, current_app.config["SECRET_KEY"], algorithms=[ALG], audience=AUDIENCE
        )
    except jwt.PyJWTError:
        return None
    return str(claims["sub"]) if claims.get("typ") == "access" else None


def current_citizen_id() -> int:
    """Return the id of the citizen whose access token came with the request, or raise 401."""
    if "citizen_id" not in g:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            raise ApiProblem(401, "send the access token as `Authorization: Bearer <token>`")
        claims = decode(auth[7:].strip(), "access")
        g.citizen_id, g.access_claims = int(str(claims["sub"])), claims
    return int(g.citizen_id)
