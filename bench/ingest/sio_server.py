"""A Flask-SocketIO server on the Redis message queue that puts every client in `alerts:all`.

It runs as its own process, so that its CPU is measured apart and the GIL of the bench driver
never delays event delivery (the console will run the same way, under gunicorn).
Run as `python -m bench.ingest.sio_server REDIS_URL PORT`.
"""

from __future__ import annotations

import gc
import sys

from flask import Flask
from flask_socketio import SocketIO, join_room

from shared.realtime import GLOBAL_ROOM


def main() -> None:
    redis_url, port = sys.argv[1], int(sys.argv[2])
    app = Flask("bench-sio")
    # threading mode: auto-detection would pick eventlet if it happened to be installed.
    sio = SocketIO(app, message_queue=redis_url, async_mode="threading")

    @sio.on("connect")
    def _connect(*_args: object) -> None:
        join_room(GLOBAL_ROOM)

    # As the console does (ops_console/app.py): its start-up heap out of the collector's reach.
    gc.collect()
    gc.freeze()
    sio.run(app, host="127.0.0.1", port=port, allow_unsafe_werkzeug=True, log_output=False)


if __name__ == "__main__":
    main()
