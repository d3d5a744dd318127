"""Request bodies of /api/v1 (pydantic), shared by the views and the OpenAPI document."""

from __future__ import annotations

from typing import Literal

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


# Response shapes: the OpenAPI document's response schemas, so that schemathesis' response
# conformance check compares answers with real field lists (no additional fields allowed).


class CitizenOut(BaseModel):
    id: int
    email: str
    display_name: str | None
    locale: str


class TokensOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"]
    expires_in: int = Field(gt=0)


class RegisteredOut(TokensOut):
    citizen: CitizenOut


class DeviceOut(BaseModel):
    id: int
    platform: Platform
    locale: str


class SubscriptionOut(BaseModel):
    id: int
    district_id: int | None
    lat: float | None
    long: float | None
    radius_m: float | None


class IngestReject(BaseModel):
    reason: str
    detail: str


class IngestAccepted(BaseModel):
    batch_id: str
    accepted: int = Field(ge=0)
    rejected: int = Field(ge=0)
    rejects: list[IngestReject]


class Open311Endpoint(BaseModel):
    specification: str
    url: str
    changeset: str
    type: Literal["production", "test"]
    formats: list[str]


class Open311Discovery(BaseModel):
    changeset: str
    contact: str
    key_service: str
    endpoints: list[Open311Endpoint]


class Open311Created(BaseModel):
    service_request_id: str
    token: str
    service_notice: str | None
    account_id: str | None


class Open311Token(BaseModel):
    service_request_id: str
    token: str


class Open311ErrorOut(BaseModel):
    code: int = Field(ge=400, le=599)
    description: str


class ProblemOut(BaseModel):
    """RFC 9457; extension members (e.g. `errors`) are allowed."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    instance: str
