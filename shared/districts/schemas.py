"""Input and output shapes for districts."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class DistrictRead(BaseModel):
    """A district without its geometry (lists and pickers)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    provenance: str
