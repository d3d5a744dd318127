"""Seed data: the demo city."""
