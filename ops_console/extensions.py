"""Extensions created at module level and bound to the Flask server in `create_app`."""

from __future__ import annotations

from flask_babel import Babel
from flask_socketio import SocketIO

# async_mode is fixed when bound: auto-detection would silently pick eventlet if installed.
socketio = SocketIO()
babel = Babel()
