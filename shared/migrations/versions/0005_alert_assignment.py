"""alert assignment

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 10:00:00.000000

Who handles an alert: `alert.assigned_to` (a staff username, a plain string like
`acknowledged_by`) and `alert.assigned_at`. Each assignment is also an `alert_event` row.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("alert", sa.Column("assigned_to", sa.String(length=64), nullable=True))
    op.add_column("alert", sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("alert", "assigned_at")
    op.drop_column("alert", "assigned_to")
