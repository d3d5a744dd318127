"""service requests, media, followers, device tokens and area subscriptions

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 19:40:00.000000

The Open311 service catalogue and service requests (with status history, photos and followers),
and the push side: device tokens and area subscriptions. Statuses and platforms are short strings
with CHECK constraints rather than PostgreSQL enum types.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "service",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("group", sa.String(length=100), nullable=False),
        sa.Column("keywords", sa.String(length=500), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("agency_responsible", sa.String(length=200), nullable=False),
        sa.Column("attributes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service")),
        sa.UniqueConstraint("code", name=op.f("uq_service_code")),
    )
    op.create_table(
        "device_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("citizen_id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=4096), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("locale", sa.String(length=35), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "last_seen_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "platform IN ('android', 'ios', 'web')", name=op.f("ck_device_token_platform")
        ),
        sa.ForeignKeyConstraint(
            ["citizen_id"],
            ["citizen.id"],
            name=op.f("fk_device_token_citizen_id_citizen"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_token")),
        sa.UniqueConstraint("token", name=op.f("uq_device_token_token")),
    )
    op.create_index(
        op.f("ix_device_token_citizen_id"), "device_token", ["citizen_id"], unique=False
    )
    op.create_table(
        "area_subscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("citizen_id", sa.Integer(), nullable=False),
        sa.Column("district_id", sa.Integer(), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column("radius_m", sa.Float(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(district_id IS NOT NULL AND geom IS NULL AND radius_m IS NULL) OR "
            "(district_id IS NULL AND geom IS NOT NULL AND radius_m > 0)",
            name=op.f("ck_area_subscription_one_area"),
        ),
        sa.ForeignKeyConstraint(
            ["citizen_id"],
            ["citizen.id"],
            name=op.f("fk_area_subscription_citizen_id_citizen"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["district.id"],
            name=op.f("fk_area_subscription_district_id_district"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_area_subscription")),
    )
    op.create_index(
        op.f("ix_area_subscription_citizen_id"), "area_subscription", ["citizen_id"], unique=False
    )
    op.create_index(
        op.f("ix_area_subscription_district_id"), "area_subscription", ["district_id"], unique=False
    )
    op.create_table(
        "service_request",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("token", sa.String(length=36), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_notes", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column("address_string", sa.String(length=500), nullable=True),
        sa.Column("address_id", sa.String(length=100), nullable=True),
        sa.Column("district_id", sa.Integer(), nullable=True),
        sa.Column("attributes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("media_url", sa.String(length=1000), nullable=True),
        sa.Column("reporter_citizen_id", sa.Integer(), nullable=True),
        sa.Column("api_client_id", sa.Integer(), nullable=True),
        sa.Column("contact", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "requested_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('open', 'acknowledged', 'in_progress', 'closed')",
            name=op.f("ck_service_request_status"),
        ),
        sa.ForeignKeyConstraint(
            ["api_client_id"],
            ["api_client.id"],
            name=op.f("fk_service_request_api_client_id_api_client"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["district.id"],
            name=op.f("fk_service_request_district_id_district"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["reporter_citizen_id"],
            ["citizen.id"],
            name=op.f("fk_service_request_reporter_citizen_id_citizen"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["service.id"],
            name=op.f("fk_service_request_service_id_service"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_request")),
        sa.UniqueConstraint("token", name=op.f("uq_service_request_token")),
    )
    op.create_index(
        "ix_service_request_geom",
        "service_request",
        ["geom"],
        unique=False,
        postgresql_using="gist",
    )
    op.create_index(
        op.f("ix_service_request_reporter_citizen_id"),
        "service_request",
        ["reporter_citizen_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_service_request_requested_at"), "service_request", ["requested_at"], unique=False
    )
    op.create_index(
        "ix_service_request_service_status",
        "service_request",
        ["service_id", "status"],
        unique=False,
    )
    op.create_table(
        "service_request_follower",
        sa.Column("request_id", sa.BigInteger(), nullable=False),
        sa.Column("citizen_id", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["citizen_id"],
            ["citizen.id"],
            name=op.f("fk_service_request_follower_citizen_id_citizen"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["service_request.id"],
            name=op.f("fk_service_request_follower_request_id_service_request"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "request_id", "citizen_id", name=op.f("pk_service_request_follower")
        ),
    )
    op.create_index(
        op.f("ix_service_request_follower_citizen_id"),
        "service_request_follower",
        ["citizen_id"],
        unique=False,
    )
    op.create_table(
        "service_request_media",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("request_id", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("thumb_key", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["service_request.id"],
            name=op.f("fk_service_request_media_request_id_service_request"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_request_media")),
        sa.UniqueConstraint("key", name=op.f("uq_service_request_media_key")),
    )
    op.create_index(
        op.f("ix_service_request_media_request_id"),
        "service_request_media",
        ["request_id"],
        unique=False,
    )
    op.create_table(
        "service_request_status_change",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("request_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('open', 'acknowledged', 'in_progress', 'closed')",
            name=op.f("ck_service_request_status_change_status"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["service_request.id"],
            name=op.f("fk_service_request_status_change_request_id_service_request"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_request_status_change")),
    )
    op.create_index(
        op.f("ix_service_request_status_change_request_id"),
        "service_request_status_change",
        ["request_id"],
        unique=False,
    )


def downgrade() -> None:

    op.drop_index(
        op.f("ix_service_request_status_change_request_id"),
        table_name="service_request_status_change",
    )
    op.drop_table("service_request_status_change")
    op.drop_index(op.f("ix_service_request_media_request_id"), table_name="service_request_media")
    op.drop_table("service_request_media")
    op.drop_index(
        op.f("ix_service_request_follower_citizen_id"), table_name="service_request_follower"
    )
    op.drop_table("service_request_follower")
    op.drop_index("ix_service_request_service_status", table_name="service_request")
    op.drop_index(op.f("ix_service_request_requested_at"), table_name="service_request")
    op.drop_index(op.f("ix_service_request_reporter_citizen_id"), table_name="service_request")
    op.drop_index("ix_service_request_geom", table_name="service_request", postgresql_using="gist")
    op.drop_table("service_request")
    op.drop_index(op.f("ix_area_subscription_district_id"), table_name="area_subscription")
    op.drop_index(op.f("ix_area_subscription_citizen_id"), table_name="area_subscription")
    op.drop_table("area_subscription")
    op.drop_index(op.f("ix_device_token_citizen_id"), table_name="device_token")
    op.drop_table("device_token")
    op.drop_table("service")
