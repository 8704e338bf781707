"""Initial schema: clients, units, people, loads, quota periods, change log.

Revision ID: 0001
Revises:
Create Date: 2026-11-25 12:27:50.019493
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "clients",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("admin_email", sa.String(length=254), nullable=True),
        sa.Column("allow_mass_change", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clients")),
    )
    op.create_table(
        "loads",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("file_name", sa.String(length=500), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("archive_path", sa.String(length=1000), nullable=True),
        sa.Column("allow_mass_change", sa.Boolean(), nullable=False),
        sa.Column("override_quota", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "changes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "summary",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("flow_run_id", sa.String(length=64), nullable=True),
        sa.Column("reverted_load_id", sa.Integer(), nullable=True),
        sa.Column("reverted_by_load_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_loads_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loads")),
    )
    with op.batch_alter_table("loads", schema=None) as batch_op:
        batch_op.create_index("ix_loads_client_period", ["client_id", "period"], unique=False)
        batch_op.create_index("ix_loads_client_sha", ["client_id", "sha256"], unique=False)

    op.create_table(
        "people",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("rut", sa.String(length=12), nullable=False),
        sa.Column("nombres", sa.String(length=200), nullable=False),
        sa.Column("apellidos", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("codigo_unidad", sa.String(length=40), nullable=False),
        sa.Column("cargo", sa.String(length=200), nullable=True),
        sa.Column("rut_jefatura", sa.String(length=12), nullable=True),
        sa.Column("fecha_ingreso", sa.Date(), nullable=True),
        sa.Column("perfil", sa.String(length=20), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("load_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_people_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("client_id", "rut", name=op.f("pk_people")),
    )
    op.create_table(
        "units",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("codigo_unidad", sa.String(length=40), nullable=False),
        sa.Column("nombre_unidad", sa.String(length=200), nullable=False),
        sa.Column("codigo_unidad_padre", sa.String(length=40), nullable=True),
        sa.Column("centro_costo", sa.String(length=40), nullable=True),
        sa.Column("rut_jefatura", sa.String(length=12), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("load_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_units_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("client_id", "codigo_unidad", name=op.f("pk_units")),
    )
    op.create_table(
        "change_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("load_id", sa.Integer(), nullable=False),
        sa.Column("entity", sa.String(length=10), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("action", sa.String(length=12), nullable=False),
        sa.Column(
            "before",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "after",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["load_id"], ["loads.id"], name=op.f("fk_change_log_load_id_loads")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_log")),
    )
    with op.batch_alter_table("change_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_change_log_load_id"), ["load_id"], unique=False)

    op.create_table(
        "quota_periods",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("load_id", sa.Integer(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_quota_periods_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["load_id"], ["loads.id"], name=op.f("fk_quota_periods_load_id_loads")
        ),
        sa.PrimaryKeyConstraint("client_id", "period", name=op.f("pk_quota_periods")),
    )


def downgrade() -> None:

    op.drop_table("quota_periods")
    with op.batch_alter_table("change_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_change_log_load_id"))

    op.drop_table("change_log")
    op.drop_table("units")
    op.drop_table("people")
    with op.batch_alter_table("loads", schema=None) as batch_op:
        batch_op.drop_index("ix_loads_client_sha")
        batch_op.drop_index("ix_loads_client_period")

    op.drop_table("loads")
    op.drop_table("clients")
