"""The frame around every page: header, navigation, language switch, live socket, takeover."""

from __future__ import annotations

from typing import Any

import dash
from dash import dcc, html
from dash_socketio import DashSocketIO
from flask_babel import gettext as _

from ops_console import queries
from ops_console.auth import current_user
from ops_console.i18n import LANGUAGES, current_language
from shared.db import session_scope

LIVE_EVENTS = ["alert.raised", "alert.updated", "service_request.created",
               "service_request.updated", "unit.progress", "signal_plan.applied"]  # fmt: skip


def nav_links() -> list[tuple[str, str]]:
    """Return (path, label) of the screens, in menu order."""
    return [
        ("/", _("Live map")),
        ("/districts", _("Districts")),
        ("/health", _("Sensor health")),
        ("/traffic", _("Traffic")),
        ("/emergency", _("Emergency dispatch")),
        ("/requests", _("Citizen requests")),
    ]


def shell() -> html.Div:
    """Return the app layout (a function, so that `_()` runs per request in its locale)."""
    user = current_user() or {"display_name": "", "role": ""}
    lang = current_language()
    alerts: dict[str, Any] = {}
    # Dash validates the layout once outside any login (first request): no user, no query.
    if current_user() is not None:
        with session_scope() as session:
            alerts = {
                str(a.id): a.model_dump(mode="json")
                for a in queries.list_feed_alerts(session=session)
            }
    return html.Div(
        className="app",
        children=[
            html.A(_("Skip to content"), href="#app-main", className="skip-link"),
            html.Header(
                className="app-header",
                children=[
                    html.Div(_("City control room"), className="app-title"),
                    html.Nav(
                        [
                            dcc.Link(label, href=path, className="app-nav-link")
                            for path, label in nav_links()
                        ],
                        className="app-nav",
                        **{"aria-label": _("Main")},
                    ),
                    html.Nav(
                        [
                            html.A(
                                name,
                                href=f"/lang/{code}?next=/",
                                lang=code,
                                className="app-lang",
                                id=f"app-lang-{code}",
                                **({"aria-current": "true"} if code == lang else {}),
                            )
                            for code, name in LANGUAGES.items()
                        ],
                        className="app-langs",
                        **{"aria-label": _("Language")},
                    ),
                    # Tells operators (and tests) whether live updates are flowing.
                    html.Span(
                        _("Offline"),
                        id="app-live",
                        className="app-live",
                        **{
                            "data-connected": "false",
                            "data-labels": "● " + _("Live") + "|○ " + _("Offline"),
                        },
                    ),
                    html.Div(
                        [
                            html.Span(user["display_name"], className="app-user-name"),
                            html.Span(
                                _role_label(user["role"]),
                                className="app-user-role",
                                id="app-user-role",
                            ),
                            html.A(_("Sign out"), href="/logout", className="app-logout"),
                        ],
                        className="app-user",
                    ),
                ],
            ),
            html.Main(dash.page_container, id="app-main", tabIndex="-1"),
            # Live alerts for every page: the feed, the map and the wall takeover read this.
            DashSocketIO(id="app-socket", eventNames=LIVE_EVENTS),
            dcc.Store(id="app-alerts", data=alerts),
            dcc.Store(id="app-event-at"),
            html.Div(id="app-takeover", className="wall-takeover", hidden=True, role="alert"),
        ],
    )


def _role_label(role: str) -> str:
    labels: dict[str, Any] = {
        "viewer": _("Viewer"),
        "operator": _("Operator"),
        "dispatcher": _("Dispatcher"),
        "admin": _("Administrator"),
    }
    return str(labels.get(role, role))
