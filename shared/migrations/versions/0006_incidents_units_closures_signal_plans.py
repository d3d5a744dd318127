"""incidents, units, stations, road closures, pre-emption plans and signal plans

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 02:31:27.549146

Emergency response (issue 6): `station`, `unit` and `incident`; `road_closure` (segments taken
out of routing for a time window); `preemption_plan` with one `preemption_step` per signalised
intersection on a unit's route; and versioned fixed-time `signal_plan`s. Statuses and kinds are
short strings with CHECK constraints, not PostgreSQL enum types, as in 0004.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "incident",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "geom",
            Geometry(geometry_type="POINT", srid=4326, dimension=2, spatial_index=False),
            nullable=False,
        ),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'dispatched', 'on_scene', 'closed')",
            name=op.f("ck_incident_status"),
        ),
        sa.CheckConstraint("priority BETWEEN 1 AND 5", name=op.f("ck_incident_priority")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident")),
    )
    op.create_index("ix_incident_geom", "incident", ["geom"], unique=False, postgresql_using="gist")
    op.create_index(op.f("ix_incident_status"), "incident", ["status"], unique=False)
    op.create_table(
        "station",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "geom",
            Geometry(geometry_type="POINT", srid=4326, dimension=2, spatial_index=False),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_station")),
        sa.UniqueConstraint("code", name=op.f("uq_station_code")),
    )
    op.create_index("ix_station_geom", "station", ["geom"], unique=False, postgresql_using="gist")
    op.create_table(
        "signal_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("intersection_id", sa.Integer(), nullable=False),
        sa.Column("tls_id", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("cycle_s", sa.Float(), nullable=False),
        sa.Column("lost_time_s", sa.Float(), nullable=False),
        sa.Column("expected_delay_s", sa.Float(), nullable=True),
        sa.Column("phases", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("basis", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("notes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("approver", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pushed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('draft', 'approved', 'pushed', 'superseded', 'rejected')",
            name=op.f("ck_signal_plan_status"),
        ),
        sa.ForeignKeyConstraint(
            ["intersection_id"],
            ["intersection.id"],
            name=op.f("fk_signal_plan_intersection_id_intersection"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signal_plan")),
        sa.UniqueConstraint(
            "intersection_id", "version", name="uq_signal_plan_intersection_version"
        ),
    )
    op.create_index(
        op.f("ix_signal_plan_intersection_id"), "signal_plan", ["intersection_id"], unique=False
    )
    op.create_table(
        "unit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=True),
        sa.Column(
            "position",
            Geometry(geometry_type="POINT", srid=4326, dimension=2, spatial_index=False),
            nullable=False,
        ),
        sa.Column("position_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('ambulance', 'fire', 'police')", name=op.f("ck_unit_kind")),
        sa.CheckConstraint(
            "status IN ('available', 'dispatched', 'on_scene', 'out_of_service')",
            name=op.f("ck_unit_status"),
        ),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["station.id"],
            name=op.f("fk_unit_station_id_station"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unit")),
        sa.UniqueConstraint("code", name=op.f("uq_unit_code")),
    )
    op.create_index(op.f("ix_unit_station_id"), "unit", ["station_id"], unique=False)
    op.create_table(
        "preemption_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("eta_s", sa.Float(), nullable=False),
        sa.Column("length_m", sa.Float(), nullable=False),
        sa.Column("segment_ids", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("parameters", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("aborted_by", sa.String(length=64), nullable=True),
        sa.Column("aborted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("abort_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('proposed', 'approved', 'active', 'completed', 'aborted')",
            name=op.f("ck_preemption_plan_status"),
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
            name=op.f("fk_preemption_plan_incident_id_incident"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["unit.id"],
            name=op.f("fk_preemption_plan_unit_id_unit"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_preemption_plan")),
    )
    op.create_index(
        op.f("ix_preemption_plan_incident_id"), "preemption_plan", ["incident_id"], unique=False
    )
    op.create_index(
        op.f("ix_preemption_plan_unit_id"), "preemption_plan", ["unit_id"], unique=False
    )
    op.create_table(
        "road_closure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "ends_at IS NULL OR ends_at > starts_at", name=op.f("ck_road_closure_window")
        ),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["road_segment.id"],
            name=op.f("fk_road_closure_segment_id_road_segment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_road_closure")),
    )
    op.create_index(
        "ix_road_closure_segment_window",
        "road_closure",
        ["segment_id", "starts_at", "ends_at"],
        unique=False,
    )
    op.create_table(
        "preemption_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("intersection_id", sa.Integer(), nullable=False),
        sa.Column("tls_id", sa.Text(), nullable=True),
        sa.Column("approach_segment_id", sa.Integer(), nullable=False),
        sa.Column("eta_s", sa.Float(), nullable=False),
        sa.Column("green_from_s", sa.Float(), nullable=False),
        sa.Column("green_until_s", sa.Float(), nullable=False),
        sa.Column("actual_arrival_s", sa.Float(), nullable=True),
        sa.CheckConstraint("green_until_s >= green_from_s", name=op.f("ck_preemption_step_window")),
        sa.ForeignKeyConstraint(
            ["approach_segment_id"],
            ["road_segment.id"],
            name=op.f("fk_preemption_step_approach_segment_id_road_segment"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["intersection_id"],
            ["intersection.id"],
            name=op.f("fk_preemption_step_intersection_id_intersection"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["preemption_plan.id"],
            name=op.f("fk_preemption_step_plan_id_preemption_plan"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_preemption_step")),
    )
    op.create_index(
        "ix_preemption_step_plan_seq", "preemption_step", ["plan_id", "seq"], unique=True
    )


def downgrade() -> None:
    op.drop_index("ix_preemption_step_plan_seq", table_name="preemption_step")
    op.drop_table("preemption_step")
    op.drop_index("ix_road_closure_segment_window", table_name="road_closure")
    op.drop_table("road_closure")
    op.drop_index(op.f("ix_preemption_plan_unit_id"), table_name="preemption_plan")
    op.drop_index(op.f("ix_preemption_plan_incident_id"), table_name="preemption_plan")
    op.drop_table("preemption_plan")
    op.drop_index(op.f("ix_unit_station_id"), table_name="unit")
    op.drop_table("unit")
    op.drop_index(op.f("ix_signal_plan_intersection_id"), table_name="signal_plan")
    op.drop_table("signal_plan")
    op.drop_index("ix_station_geom", table_name="station", postgresql_using="gist")
    op.drop_table("station")
    op.drop_index(op.f("ix_incident_status"), table_name="incident")
    op.drop_index("ix_incident_geom", table_name="incident", postgresql_using="gist")
    op.drop_table("incident")
