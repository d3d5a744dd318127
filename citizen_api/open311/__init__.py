"""Open311 GeoReport v2 at /open311/v2/ (JSON and XML)."""

from citizen_api.open311.views import bp

__all__ = ["bp"]
