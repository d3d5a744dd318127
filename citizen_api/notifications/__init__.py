"""Push devices and area subscriptions of the caller."""

from citizen_api.notifications.views import bp

__all__ = ["bp"]
