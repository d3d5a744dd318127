"""Alembic migrations for the smartcity database."""
