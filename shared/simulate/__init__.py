"""Sensor simulator: replays real series from installed packages as city readings over MQTT."""
