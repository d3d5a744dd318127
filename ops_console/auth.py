"""Staff login with a signed Flask session cookie, and the guard in front of every route."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _

from ops_console import queries
from ops_console.i18n import LANGUAGES, LOCALE_COOKIE, current_language, text_direction
from shared.accounts.models import Role
from shared.accounts.service import authenticate_staff, role_allows
from shared.db import session_scope

bp = Blueprint("auth", __name__, template_folder="templates")

# Reachable without a session: the login form, its stylesheet and the language switch.
PUBLIC_PREFIXES = ("/login", "/logout", "/lang/", "/assets/", "/_favicon.ico")
# Dash's background requests get a 401 (the page reloads to /login), not an HTML redirect.
XHR_PREFIXES = ("/_dash-", "/api/")


def current_user() -> dict[str, str] | None:
    """Return {username, display_name, role} of the logged-in user, or None."""
    user = session.get("user")
    return user if isinstance(user, dict) else None


def current_username() -> str | None:
    """Return the logged-in username, or None."""
    user = current_user()
    return user["username"] if user else None


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an open redirect after login would help phishing.
    if not target or urlsplit(target).netloc or not target.startswith("/"):
        return "/"
    return target


def guard() -> Response | None:
    """before_request hook: refuse anything but public routes without a session."""
    path = request.path
    if path.startswith(PUBLIC_PREFIXES) or current_user() is not None:
        return None
    if path.startswith(XHR_PREFIXES):
        resp = jsonify({"error": "authentication required"})
        resp.status_code = 401
        return resp
    full = request.full_path.rstrip("?")
    return redirect(url_for("auth.login", next=full))  # type: ignore[return-value]


def _csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(24)
    return str(token)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Show the login form; on valid credentials start a session."""
    error = ""
    status = 200
    if request.method == "POST":
        sent, kept = request.form.get("csrf", ""), str(session.get("csrf", ""))
        if not kept or not hmac.compare_digest(sent, kept):
            error, status = _("Your form expired. Please try again."), 400
        else:
            username = request.form.get("username", "").strip()
            with session_scope() as db:
                user = authenticate_staff(
                    session=db, username=username, password=request.form.get("password", "")
                )
                found = (
                    {
                        "username": user.username,
                        "display_name": user.display_name,
                        "role": user.role.value,
                    }
                    if user is not None
                    else None
                )
            if found is not None:
                session.clear()  # a fresh session on login: no fixation
                session["user"] = found
                session.permanent = True
                return redirect(_safe_next(request.args.get("next")))
            error, status = _("Unknown user name or wrong password."), 401
    html = render_template(
        "login.html",
        error=error,
        csrf=_csrf_token(),
        lang=current_language(),
        dir=text_direction(),
        languages=LANGUAGES,
        next=request.args.get("next", "/"),
        _=_,
    )
    return html, status


@bp.route("/logout", methods=["POST", "GET"])
def logout() -> Any:
    """End the session."""
    session.clear()
    return redirect(url_for("auth.login"))


@bp.route("/lang/<code>")
def set_language(code: str) -> Any:
    """Remember the chosen language in a cookie and go back where the user was."""
    resp = redirect(_safe_next(request.args.get("next")))
    if code in LANGUAGES:
        resp.set_cookie(LOCALE_COOKIE, code, max_age=365 * 86400, samesite="Lax")
    return resp


def may_act(required: Role) -> bool:
    """Return True if the logged-in user's role allows `required` (the server re-checks)."""
    user = current_user()
    return bool(user) and role_allows(role=Role(user["role"]), required=required)


def acting_username(*, required: Role, refusal: Callable[[str], str]) -> str:
    """Return the username allowed to act now, re-checked in the database, or raise
    PermissionError with a message (`refusal(role)` when the role is not enough)."""
    username = current_username()
    if not username:
        raise PermissionError(_("Please sign in."))
    with session_scope() as session:
        user = queries.get_staff_user(session=session, username=username)
        if user is None or not user.is_active:
            raise PermissionError(_("Please sign in."))
        if not role_allows(role=user.role, required=required):
            raise PermissionError(refusal(user.role.value))
        return user.username
