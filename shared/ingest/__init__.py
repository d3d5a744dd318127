"""Ingestion front end: topic grammar, payload parsers and the MQTT bridge (no Celery imports)."""
