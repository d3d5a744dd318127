"""Celery app and thin task modules, one queue per concern (ingest, alerts, maintenance, push)."""
