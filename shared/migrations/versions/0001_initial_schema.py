"""initial schema: districts, accounts, sensing, roads

Revision ID: 0001
Revises:
Create Date: 2026-11-23 18:33:46.655152

Jurisdiction and districts, accounts, SensorThings entities, the day-partitioned observation
table (with a function that creates partitions ahead) and the routable road graph.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Partitions are named observation_pYYYYMMDD and cut at UTC midnight. The advisory lock makes
# concurrent callers (beat, several workers) safe: CREATE TABLE ... PARTITION OF is not.
ENSURE_PARTITIONS_SQL = """
CREATE OR REPLACE FUNCTION smartcity_ensure_observation_partitions(first_day date, last_day date)
RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE
    d date := first_day;
    created integer := 0;
    part text;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('smartcity_observation_partitions'));
    WHILE d <= last_day LOOP
        part := format('observation_p%s', to_char(d, 'YYYYMMDD'));
        IF to_regclass(part) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF observation FOR VALUES FROM (%L) TO (%L)',
                part,
                (d::timestamp AT TIME ZONE 'UTC'),
                ((d + 1)::timestamp AT TIME ZONE 'UTC')
            );
            created := created + 1;
        END IF;
        d := d + 1;
    END LOOP;
    RETURN created;
END
$fn$;
"""

SPATIAL_INDEXES = (
    ("district", "geom"),
    ("location", "geom"),
    ("feature_of_interest", "geom"),
    ("intersection", "geom"),
    ("road_segment", "geom"),
)


def upgrade() -> None:
    # Needs a superuser once per database; the private stack creates them at bootstrap already.
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute("CREATE EXTENSION IF NOT EXISTS pgrouting")
    op.create_table(
        "api_client",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("contact_email", sa.String(length=320), nullable=True),
        sa.Column("key_prefix", sa.String(length=12), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_client")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_client_key_hash")),
        sa.UniqueConstraint("name", name=op.f("uq_api_client_name")),
    )
    op.create_index(op.f("ix_api_client_key_prefix"), "api_client", ["key_prefix"], unique=False)
    op.create_table(
        "citizen",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("locale", sa.String(length=35), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_citizen")),
        sa.UniqueConstraint("email", name=op.f("uq_citizen_email")),
    )
    op.create_geospatial_table(
        "feature_of_interest",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("encoding_type", sa.String(length=100), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature_of_interest")),
    )
    op.create_geospatial_table(
        "intersection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("signalised", sa.Boolean(), nullable=False),
        sa.Column("tls_id", sa.Text(), nullable=True),
        sa.Column("node_type", sa.String(length=64), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intersection")),
        sa.UniqueConstraint("external_id", name=op.f("uq_intersection_external_id")),
    )
    op.create_index(
        op.f("ix_intersection_signalised"), "intersection", ["signalised"], unique=False
    )
    op.create_table(
        "jurisdiction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jurisdiction")),
        sa.UniqueConstraint("code", name=op.f("uq_jurisdiction_code")),
    )
    op.create_geospatial_table(
        "location",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("encoding_type", sa.String(length=100), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_location")),
    )
    op.create_table(
        "observation",
        sa.Column("datastream_id", sa.Integer(), nullable=False),
        sa.Column("phenomenon_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("datastream_id", "phenomenon_time", name=op.f("pk_observation")),
        postgresql_partition_by="RANGE (phenomenon_time)",
    )
    op.create_table(
        "observed_property",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observed_property")),
        sa.UniqueConstraint("code", name=op.f("uq_observed_property_code")),
    )
    op.create_table(
        "sensor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("encoding_type", sa.String(length=100), nullable=False),
        sa.Column("metadata_url", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sensor")),
        sa.UniqueConstraint("name", name=op.f("uq_sensor_name")),
    )
    op.create_table(
        "staff_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column(
            "role",
            sa.Enum("viewer", "operator", "dispatcher", "admin", name="staff_role"),
            nullable=False,
        ),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_user")),
        sa.UniqueConstraint("username", name=op.f("uq_staff_user_username")),
    )
    op.create_geospatial_table(
        "district",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("jurisdiction_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("provenance", sa.Text(), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["jurisdiction_id"],
            ["jurisdiction.id"],
            name=op.f("fk_district_jurisdiction_id_jurisdiction"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_district")),
        sa.UniqueConstraint("code", name=op.f("uq_district_code")),
    )
    op.create_geospatial_table(
        "road_segment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("road_class", sa.String(length=64), nullable=False),
        sa.Column("source", sa.Integer(), nullable=False),
        sa.Column("target", sa.Integer(), nullable=False),
        sa.Column("length_m", sa.Float(), nullable=False),
        sa.Column("speed_limit_kmh", sa.Float(), nullable=False),
        sa.Column("lanes", sa.Integer(), nullable=False),
        sa.Column(
            "cost_s",
            sa.Float(),
            sa.Computed("length_m / GREATEST(speed_limit_kmh, 1) * 3.6", persisted=True),
            nullable=False,
        ),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="LINESTRING",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["source"], ["intersection.id"], name=op.f("fk_road_segment_source_intersection")
        ),
        sa.ForeignKeyConstraint(
            ["target"], ["intersection.id"], name=op.f("fk_road_segment_target_intersection")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_road_segment")),
        sa.UniqueConstraint("external_id", name=op.f("uq_road_segment_external_id")),
    )
    op.create_index(op.f("ix_road_segment_source"), "road_segment", ["source"], unique=False)
    op.create_index(op.f("ix_road_segment_target"), "road_segment", ["target"], unique=False)
    op.create_table(
        "thing",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "sensor_type",
            sa.Enum(
                "traffic",
                "air_quality",
                "noise",
                "weather",
                "energy",
                "infrastructure",
                name="sensor_type",
            ),
            nullable=False,
        ),
        sa.Column("district_id", sa.Integer(), nullable=True),
        sa.Column("properties", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["district.id"],
            name=op.f("fk_thing_district_id_district"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_thing")),
        sa.UniqueConstraint("code", name=op.f("uq_thing_code")),
    )
    op.create_index(op.f("ix_thing_district_id"), "thing", ["district_id"], unique=False)
    op.create_index(op.f("ix_thing_sensor_type"), "thing", ["sensor_type"], unique=False)
    op.create_table(
        "datastream",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("thing_id", sa.Integer(), nullable=False),
        sa.Column("sensor_id", sa.Integer(), nullable=False),
        sa.Column("observed_property_id", sa.Integer(), nullable=False),
        sa.Column("feature_of_interest_id", sa.Integer(), nullable=True),
        sa.Column(
            "sensor_type",
            sa.Enum(
                "traffic",
                "air_quality",
                "noise",
                "weather",
                "energy",
                "infrastructure",
                name="sensor_type",
            ),
            nullable=False,
        ),
        sa.Column("unit_name", sa.String(length=100), nullable=False),
        sa.Column("unit_symbol", sa.String(length=32), nullable=False),
        sa.Column("unit_definition", sa.Text(), nullable=False),
        sa.Column("observation_type", sa.String(length=200), nullable=False),
        sa.Column("valid_min", sa.Float(), nullable=True),
        sa.Column("valid_max", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["feature_of_interest_id"],
            ["feature_of_interest.id"],
            name=op.f("fk_datastream_feature_of_interest_id_feature_of_interest"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["observed_property_id"],
            ["observed_property.id"],
            name=op.f("fk_datastream_observed_property_id_observed_property"),
        ),
        sa.ForeignKeyConstraint(
            ["sensor_id"], ["sensor.id"], name=op.f("fk_datastream_sensor_id_sensor")
        ),
        sa.ForeignKeyConstraint(
            ["thing_id"],
            ["thing.id"],
            name=op.f("fk_datastream_thing_id_thing"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datastream")),
        sa.UniqueConstraint(
            "thing_id", "observed_property_id", name=op.f("uq_datastream_thing_id")
        ),
    )
    op.create_index(op.f("ix_datastream_thing_id"), "datastream", ["thing_id"], unique=False)
    op.create_table(
        "historical_location",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("thing_id", sa.Integer(), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["thing_id"],
            ["thing.id"],
            name=op.f("fk_historical_location_thing_id_thing"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_historical_location")),
    )
    op.create_index(
        op.f("ix_historical_location_thing_id"), "historical_location", ["thing_id"], unique=False
    )
    op.create_table(
        "thing_location",
        sa.Column("thing_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["location.id"],
            name=op.f("fk_thing_location_location_id_location"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["thing_id"],
            ["thing.id"],
            name=op.f("fk_thing_location_thing_id_thing"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("thing_id", "location_id", name=op.f("pk_thing_location")),
    )
    op.create_table(
        "historical_location_location",
        sa.Column("historical_location_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["historical_location_id"],
            ["historical_location.id"],
            name=op.f("fk_historical_location_location_historical_location_id_historical_location"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["location.id"],
            name=op.f("fk_historical_location_location_location_id_location"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "historical_location_id", "location_id", name=op.f("pk_historical_location_location")
        ),
    )
    for table, column in SPATIAL_INDEXES:
        op.create_index(f"ix_{table}_{column}", table, [column], postgresql_using="gist")
    op.execute(ENSURE_PARTITIONS_SQL)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS smartcity_ensure_observation_partitions(date, date)")
    for table, column in SPATIAL_INDEXES:
        op.drop_index(f"ix_{table}_{column}", table_name=table)
    op.drop_table("historical_location_location")
    op.drop_table("thing_location")
    op.drop_index(op.f("ix_historical_location_thing_id"), table_name="historical_location")
    op.drop_table("historical_location")
    op.drop_index(op.f("ix_datastream_thing_id"), table_name="datastream")
    op.drop_table("datastream")
    op.drop_index(op.f("ix_thing_sensor_type"), table_name="thing")
    op.drop_index(op.f("ix_thing_district_id"), table_name="thing")
    op.drop_table("thing")
    op.drop_index(op.f("ix_road_segment_target"), table_name="road_segment")
    op.drop_index(op.f("ix_road_segment_source"), table_name="road_segment")
    op.drop_geospatial_table("road_segment")
    op.drop_geospatial_table("district")
    op.drop_table("staff_user")
    op.drop_table("sensor")
    op.drop_table("observed_property")
    op.drop_table("observation")
    op.drop_geospatial_table("location")
    op.drop_table("jurisdiction")
    op.drop_index(op.f("ix_intersection_signalised"), table_name="intersection")
    op.drop_geospatial_table("intersection")
    op.drop_geospatial_table("feature_of_interest")
    op.drop_table("citizen")
    op.drop_index(op.f("ix_api_client_key_prefix"), table_name="api_client")
    op.drop_table("api_client")
    # Enum types outlive their tables in PostgreSQL; drop them so downgrade reaches a clean base.
    sa.Enum(name="sensor_type").drop(op.get_bind(), checkfirst=True)
    sa.Enum(name="staff_role").drop(op.get_bind(), checkfirst=True)
    # PostGIS and pgRouting stay: they are database prerequisites, not part of our schema.
