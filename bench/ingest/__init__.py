"""bench/ingest: open-loop load through Mosquitto -> bridge -> Celery -> PostGIS -> Socket.IO.

Run with `.venv/bin/python -m bench.ingest [--quick]`; see README.md in this folder.
"""
