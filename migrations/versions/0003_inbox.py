"""Inbox files: uploads dropped in ORGLOAD_HOME/inbox/, validated once, applied off-peak.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 16:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "inbox_files",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.String(length=500), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("load_id", sa.Integer(), nullable=True),
        sa.Column("load_status", sa.String(length=20), nullable=True),
        sa.Column("report_json_path", sa.String(length=1000), nullable=True),
        sa.Column("report_xlsx_path", sa.String(length=1000), nullable=True),
        sa.Column("errors", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("validated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("flow_run_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_files")),
    )
    with op.batch_alter_table("inbox_files", schema=None) as batch_op:
        batch_op.create_index("uq_inbox_files_client_sha", ["client_id", "sha256"], unique=True)
        batch_op.create_index("ix_inbox_files_status", ["status", "seen_at"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("inbox_files", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_files_status")
        batch_op.drop_index("uq_inbox_files_client_sha")

    op.drop_table("inbox_files")
