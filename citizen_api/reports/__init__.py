"""The app's reports: file with photos, find duplicates, follow, "my reports", media."""

from citizen_api.reports.views import bp

__all__ = ["bp"]
