"""Output shapes for the road network."""

from __future__ import annotations

from pydantic import BaseModel


class RouteLeg(BaseModel):
    """One road segment of a route."""

    segment_id: int
    name: str
    length_m: float
    cost_s: float


class Route(BaseModel):
    """A shortest path between two intersections."""

    source_id: int
    target_id: int
    legs: list[RouteLeg]
    intersection_ids: list[int]

    @property
    def length_m(self) -> float:
        return sum(leg.length_m for leg in self.legs)

    @property
    def cost_s(self) -> float:
        return sum(leg.cost_s for leg in self.legs)
