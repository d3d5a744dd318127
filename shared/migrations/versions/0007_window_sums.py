"""per-minute sums for window-mean alert rules

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 17:40:00.000000

A window-mean rule ("PM2.5 24-h mean high") used to average a day of raw rows per datastream
inside a batch's transaction: 1.3 s on the bench's database, stalling ingestion once a minute.
`observation_minute` holds count and sum per datastream and UTC minute, kept by the ingest
worker from the rows each batch inserted, for the datastreams listed in `window_sum_stream`
(those a window rule watches). The markers start unarmed; shared/pipeline.sync_window_sums
arms them and rebuilds their sums from the raw rows, so nothing is filled in here.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "window_sum_stream",
        sa.Column("datastream_id", sa.Integer(), nullable=False),
        sa.Column("window_s", sa.Integer(), nullable=False),
        sa.Column("armed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ready", sa.Boolean(), server_default="false", nullable=False),
        sa.ForeignKeyConstraint(
            ["datastream_id"],
            ["datastream.id"],
            name=op.f("fk_window_sum_stream_datastream_id_datastream"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("datastream_id", name=op.f("pk_window_sum_stream")),
    )
    op.create_table(
        "observation_minute",
        sa.Column("datastream_id", sa.Integer(), nullable=False),
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("datastream_id", "minute", name=op.f("pk_observation_minute")),
    )


def downgrade() -> None:
    op.drop_table("observation_minute")
    op.drop_table("window_sum_stream")
