"""Sensors and their observations, shaped on OGC SensorThings API 1.1."""
