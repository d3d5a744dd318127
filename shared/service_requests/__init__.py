"""Citizen service requests (Open311 GeoReport v2): catalogue, requests, history and media."""
