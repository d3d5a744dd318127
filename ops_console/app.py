"""The control-room console: a Dash 4 multi-page app on Flask with Flask-SocketIO.

`create_app()` returns the Flask server (Flask tutorial style); the Dash app hangs off it as
`server.extensions["dash"]`. `run()` serves it with gunicorn (one process, threads), because
Socket.IO rooms live in that process and the Redis queue fans events in.
"""

from __future__ import annotations

import gc
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import dash
from flask import Flask, request
from flask_babel import gettext as _
from flask_socketio import join_room

import shared.models  # noqa: F401  (every table, so ORM foreign keys resolve)
from ops_console import api, auth
from ops_console.components import live
from ops_console.components.shell import shell
from ops_console.extensions import babel, socketio
from ops_console.i18n import TRANSLATIONS_DIR, current_language, select_locale, text_direction
from shared.config import get_settings
from shared.realtime import GLOBAL_ROOM, REQUESTS_ROOM, TWIN_ROOM

HERE = Path(__file__).resolve().parent

INDEX = """<!DOCTYPE html>
<html>
<head>
{%metas%}
<title>{%title%}</title>
{%favicon%}
{%css%}
</head>
<body>
{%app_entry%}
<footer>
{%config%}
{%scripts%}
{%renderer%}
</footer>
</body>
</html>"""


def _page_title(path: str) -> str:
    """The translated tab title of the page at ``path`` (Dash itself puts the app's title in
    the first page load and sets the page's only on in-app navigation)."""
    for page in dash.page_registry.values():
        template = page.get("path_template")
        if page["path"] == path or (
            template and re.fullmatch(re.sub(r"<[^>]+>", "[^/]+", template), path)
        ):
            title = page["title"]
            return str(title() if callable(title) else title)
    return _("City control room")


class ConsoleDash(dash.Dash):
    """Dash whose index page carries the user's language, direction and display mode."""

    def interpolate_index(self, **kwargs: Any) -> str:
        """Render the index with `<html lang dir class>` and the page's title for this request."""
        kwargs["title"] = _page_title(request.path)
        html = super().interpolate_index(**kwargs)
        # Wall mode is chosen per page load; client-side navigation keeps the class.
        mode = "wall" if request.args.get("display") == "wall" else "desk"
        return html.replace(
            "<html>",
            f'<html lang="{current_language()}" dir="{text_direction()}" class="mode-{mode}">',
            1,
        )


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create the Flask server with the Dash console, login and Socket.IO bound to it."""
    settings = get_settings()
    server = Flask("ops_console", root_path=str(HERE))
    server.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),  # one long control-room shift
        BABEL_TRANSLATION_DIRECTORIES=str(TRANSLATIONS_DIR),
        BABEL_DEFAULT_LOCALE="en",
        MESSAGE_QUEUE=settings.redis_url,
    )
    if test_config:
        server.config.update(test_config)

    babel.init_app(server, locale_selector=select_locale)
    server.before_request(auth.guard)
    server.register_blueprint(auth.bp)
    server.register_blueprint(api.bp)

    app = ConsoleDash(
        __name__,
        server=server,
        use_pages=True,
        pages_folder=str(HERE / "pages"),
        assets_folder=str(HERE / "assets"),
        title="City control room",
        update_title=None,  # no "Updating..." flicker in the tab title on wall displays
        suppress_callback_exceptions=True,  # page-local ids exist only on their page
        # Everything is served by us; no CDN (an air-gapped control room).
        serve_locally=True,
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
    )
    app.index_string = INDEX
    app.layout = shell
    server.extensions["dash"] = app

    live.register(app)

    socketio.init_app(
        server,
        async_mode="threading",
        message_queue=server.config["MESSAGE_QUEUE"],
        cors_allowed_origins=[],  # same origin only
    )
    return server


@socketio.on("connect")
def _on_connect(auth_data: Any = None) -> bool:
    """Join logged-in clients to the alert, request and twin rooms; refuse everyone else."""
    if auth.current_user() is None:
        return False
    join_room(GLOBAL_ROOM)
    join_room(REQUESTS_ROOM)
    join_room(TWIN_ROOM)
    return True


def run(host: str = "127.0.0.1", port: int = 8050, threads: int = 32) -> None:
    """Serve the console with gunicorn: one worker process, many threads (Socket.IO rooms)."""
    from gunicorn.app.base import BaseApplication

    server = create_app()
    # What is built by now (Flask, Dash and its components, Plotly, SQLAlchemy: ~170,000 tracked
    # objects) lives as long as the process. Frozen, a full collection no longer walks it: it
    # took 75-90 ms here, a pause that would land on an alert on its way to the wall display.
    gc.collect()
    gc.freeze()

    class _Gunicorn(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", 1)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", threads)
            # Socket.IO long-polling and websockets hold a thread; do not kill them as hung.
            self.cfg.set("timeout", 0)
            self.cfg.set("accesslog", os.environ.get("CONSOLE_ACCESS_LOG"))

        def load(self) -> Flask:
            return server

    _Gunicorn().run()
