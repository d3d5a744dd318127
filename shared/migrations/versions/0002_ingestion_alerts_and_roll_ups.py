"""ingestion, alerts and roll-ups

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 18:41:19.837935

The ingest worker's tables (latest state per datastream, dead letters), hourly and daily
roll-ups, and alert rules, alerts and their audit events.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


NEW_ENUMS = {
    "alert_rule_kind": ("threshold", "sustained", "rate_of_change", "stale"),
    "alert_direction": ("above", "below"),
    "alert_severity": ("warning", "critical"),
    "alert_status": ("open", "acknowledged", "resolved"),
}


def upgrade() -> None:
    # Enum types are created once here; columns refer to them with create_type=False.
    for name, values in NEW_ENUMS.items():
        postgresql.ENUM(*values, name=name).create(op.get_bind(), checkfirst=True)
    op.create_geospatial_table(
        "alert_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "kind", postgresql.ENUM(name="alert_rule_kind", create_type=False), nullable=False
        ),
        sa.Column(
            "sensor_type", postgresql.ENUM(name="sensor_type", create_type=False), nullable=False
        ),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column(
            "direction", postgresql.ENUM(name="alert_direction", create_type=False), nullable=False
        ),
        sa.Column("warning", sa.Float(), nullable=True),
        sa.Column("critical", sa.Float(), nullable=True),
        sa.Column("hysteresis", sa.Float(), nullable=False),
        sa.Column("window_s", sa.Integer(), nullable=True),
        sa.Column("stale_after_s", sa.Integer(), nullable=True),
        sa.Column("district_ids", postgresql.ARRAY(sa.Integer()), nullable=True),
        sa.Column(
            "area",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_rule")),
        sa.UniqueConstraint("name", name=op.f("uq_alert_rule_name")),
    )
    op.create_table(
        "dead_letter",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("batch_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("sensor_code", sa.String(length=64), nullable=True),
        sa.Column("metric", sa.String(length=64), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letter")),
        sa.UniqueConstraint("batch_id", "seq", name=op.f("uq_dead_letter_batch_id")),
    )
    op.create_index(op.f("ix_dead_letter_reason"), "dead_letter", ["reason"], unique=False)
    op.create_index(
        op.f("ix_dead_letter_received_at"), "dead_letter", ["received_at"], unique=False
    )
    op.create_index(
        op.f("ix_dead_letter_sensor_code"), "dead_letter", ["sensor_code"], unique=False
    )
    op.create_table(
        "observation_daily",
        sa.Column("datastream_id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.Column("min", sa.Float(), nullable=False),
        sa.Column("max", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("datastream_id", "bucket", name=op.f("pk_observation_daily")),
    )
    op.create_table(
        "observation_hourly",
        sa.Column("datastream_id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.Column("min", sa.Float(), nullable=False),
        sa.Column("max", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("datastream_id", "bucket", name=op.f("pk_observation_hourly")),
    )
    op.create_table(
        "alert",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("thing_id", sa.Integer(), nullable=False),
        sa.Column("datastream_id", sa.Integer(), nullable=True),
        sa.Column("district_id", sa.Integer(), nullable=True),
        sa.Column(
            "severity", postgresql.ENUM(name="alert_severity", create_type=False), nullable=False
        ),
        sa.Column(
            "status", postgresql.ENUM(name="alert_status", create_type=False), nullable=False
        ),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=64), nullable=True),
        sa.Column("resolve_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["datastream_id"],
            ["datastream.id"],
            name=op.f("fk_alert_datastream_id_datastream"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["district.id"],
            name=op.f("fk_alert_district_id_district"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["alert_rule.id"],
            name=op.f("fk_alert_rule_id_alert_rule"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["thing_id"], ["thing.id"], name=op.f("fk_alert_thing_id_thing"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert")),
    )
    op.create_index(op.f("ix_alert_status"), "alert", ["status"], unique=False)
    op.create_index(op.f("ix_alert_thing_id"), "alert", ["thing_id"], unique=False)
    op.create_index(
        "uq_alert_active_rule_thing",
        "alert",
        ["rule_id", "thing_id"],
        unique=True,
        postgresql_where=sa.text("status <> 'resolved'"),
    )
    op.create_table(
        "datastream_latest",
        sa.Column("datastream_id", sa.Integer(), nullable=False),
        sa.Column("phenomenon_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["datastream_id"],
            ["datastream.id"],
            name=op.f("fk_datastream_latest_datastream_id_datastream"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("datastream_id", name=op.f("pk_datastream_latest")),
    )
    op.create_table(
        "alert_event",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("alert_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column(
            "severity", postgresql.ENUM(name="alert_severity", create_type=False), nullable=False
        ),
        sa.Column(
            "status", postgresql.ENUM(name="alert_status", create_type=False), nullable=False
        ),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alert.id"],
            name=op.f("fk_alert_event_alert_id_alert"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_event")),
    )
    op.create_index(op.f("ix_alert_event_alert_id"), "alert_event", ["alert_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_alert_event_alert_id"), table_name="alert_event")
    op.drop_table("alert_event")
    op.drop_table("datastream_latest")
    op.drop_index(
        "uq_alert_active_rule_thing",
        table_name="alert",
        postgresql_where=sa.text("status <> 'resolved'"),
    )
    op.drop_index(op.f("ix_alert_thing_id"), table_name="alert")
    op.drop_index(op.f("ix_alert_status"), table_name="alert")
    op.drop_table("alert")
    op.drop_table("observation_hourly")
    op.drop_table("observation_daily")
    op.drop_index(op.f("ix_dead_letter_sensor_code"), table_name="dead_letter")
    op.drop_index(op.f("ix_dead_letter_received_at"), table_name="dead_letter")
    op.drop_index(op.f("ix_dead_letter_reason"), table_name="dead_letter")
    op.drop_table("dead_letter")
    op.drop_geospatial_table("alert_rule")
    for name in NEW_ENUMS:
        postgresql.ENUM(name=name).drop(op.get_bind(), checkfirst=True)
