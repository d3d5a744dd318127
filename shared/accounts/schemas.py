"""Input and output shapes for accounts."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.accounts.models import Role


class StaffUserCreate(BaseModel):
    """What an admin gives to create a staff account."""

    username: str = Field(min_length=2, max_length=64, pattern=r"^[a-z0-9_.-]+$")
    display_name: str = Field(min_length=1, max_length=200)
    role: Role
    password: str = Field(min_length=12, max_length=256)
    email: str | None = None


class StaffUserRead(BaseModel):
    """A staff account as shown to admins (never the hash)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    role: Role
    is_active: bool


class IssuedApiKey(BaseModel):
    """A newly issued API key: the plaintext is shown once and never stored."""

    client_id: int
    name: str
    api_key: str
