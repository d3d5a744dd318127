"""Request bodies of /api/v1 (pydantic), shared by the views and the OpenAPI document."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.notifications.models import Platform

LOCALE = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$"


class Strict(BaseModel):
    """Bodies reject unknown fields."""

    model_config = ConfigDict(extra="forbid")


class RegisterIn(Strict):
    email: str = Field(pattern=r"^[^@\s]{1,64}@[^@\s]{1,250}\.[^@\s]{1,63}$", max_length=320)
    password: str = Field(min_length=10, max_length=256)
    display_name: str | None = Field(default=None, max_length=200)
    locale: str = Field(default="en", pattern=LOCALE, max_length=35)


class LoginIn(Strict):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=256)


class RefreshIn(Strict):
    refresh_token: str = Field(min_length=1, max_length=2000)


class MeUpdate(Strict):
    display_name: str | None = Field(default=None, max_length=200)
    locale: str | None = Field(default=None, pattern=LOCALE, max_length=35)


class DeviceIn(Strict):
    token: str = Field(min_length=1, max_length=4096)
    platform: Platform
    locale: str = Field(default="en", pattern=LOCALE, max_length=35)


class SubscriptionIn(Strict):
    district_code: str | None = Field(default=None, min_length=1, max_length=32)
    lat: float | None = Field(default=None, ge=-90, le=90)
    long: float | None = Field(default=None, ge=-180, le=180)
    radius_m: float | None = Field(default=None, gt=0, le=20_000)
