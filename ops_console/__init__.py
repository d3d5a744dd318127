"""The control-room console: Dash 4 pages on Flask with Flask-SocketIO (see app.py)."""
