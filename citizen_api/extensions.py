"""Extensions created at module level and bound to the app in the factory."""

from __future__ import annotations

from celery import Celery
from flask import Flask

from shared.tasks.celery_app import make_celery

celery: Celery | None = None


def init_extensions(app: Flask) -> None:
    """Bind the Celery producer used to enqueue ingest batches."""
    global celery
    celery = app.config.get("CELERY") or make_celery()
    app.extensions["celery"] = celery
