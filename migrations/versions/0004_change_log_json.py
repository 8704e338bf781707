"""Change log: plain ``json`` documents and no per-row foreign key check on ``load_id``.

The change log is append-only and written only by the load's own transaction, right after that
transaction inserted the load record, so every row's ``load_id`` exists by construction. The
per-row referential check and JSONB's parse into its binary form were ~60 % of the database's
time on a 100,000-person first load (docs/performance.md); ``json`` still rejects malformed
documents and keeps them exactly as written.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSONB = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("change_log", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_change_log_load_id_loads"), type_="foreignkey")
        for column in ("before", "after"):
            batch_op.alter_column(
                column,
                existing_type=JSONB,
                type_=sa.JSON(),
                existing_nullable=True,
                postgresql_using=f'"{column}"::json',
            )


def downgrade() -> None:
    with op.batch_alter_table("change_log", schema=None) as batch_op:
        for column in ("before", "after"):
            batch_op.alter_column(
                column,
                existing_type=sa.JSON(),
                type_=JSONB,
                existing_nullable=True,
                postgresql_using=f'"{column}"::jsonb',
            )
        batch_op.create_foreign_key(
            batch_op.f("fk_change_log_load_id_loads"), "loads", ["load_id"], ["id"]
        )
