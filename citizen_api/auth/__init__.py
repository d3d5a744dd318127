"""Citizen accounts: register, log in, refresh, log out, and the account itself."""

from citizen_api.auth.views import bp

__all__ = ["bp"]
