"""What Alembic's autogenerate compares: our tables only, not PostGIS's or the partitions."""

from __future__ import annotations

from typing import Any

from geoalchemy2 import alembic_helpers

# PostGIS and pgRouting own tables of their own; autogenerate must not try to drop them.
FOREIGN_TABLES = frozenset({"spatial_ref_sys", "topology", "layer"})


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Return False for objects autogenerate must leave alone."""
    if type_ == "table" and (name in FOREIGN_TABLES or (name or "").startswith("observation_p")):
        return False
    return bool(alembic_helpers.include_object(obj, name, type_, reflected, compare_to))
