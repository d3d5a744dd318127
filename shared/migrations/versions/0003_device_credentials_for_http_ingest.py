"""device credentials for HTTP ingest

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 18:51:44.780318

Per-device keys (stored as SHA-256) for the authenticated HTTP batch ingest endpoint.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_credential",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("thing_id", sa.Integer(), nullable=False),
        sa.Column("key_prefix", sa.String(length=12), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["thing_id"],
            ["thing.id"],
            name=op.f("fk_device_credential_thing_id_thing"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_credential")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_device_credential_key_hash")),
    )
    op.create_index(
        op.f("ix_device_credential_thing_id"), "device_credential", ["thing_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_device_credential_thing_id"), table_name="device_credential")
    op.drop_table("device_credential")
