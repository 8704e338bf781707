"""Stored files in the database (``ORGLOAD_STORAGE=database``, docs/storage.md): uploads, the
archive, reports and Data Docs every worker reaches, in 1 MB chunks of ``bytea``/BLOB.

Not ``pg_largeobject``: large objects have no row-level security. These rows have the same
policy as the other tables of migrations 0005 and 0006: an object is visible and writable under
its client's tenant, or in staff mode; an object owned by ``_staff`` (Data Docs) only in staff
mode; chunks through their object.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 18:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

APP_ROLE = "orgload_app"
STAFF_OWNER = "_staff"
POLICIES = {
    # NULLIF: a staff object has no tenant, so orgload_visible is true for it in staff mode only
    "stored_objects": f"orgload_visible(NULLIF(client_id, '{STAFF_OWNER}'))",
    "stored_chunks": (
        "EXISTS (SELECT 1 FROM stored_objects WHERE stored_objects.id = stored_chunks.object_id)"
    ),
}


def upgrade() -> None:
    op.create_table(
        "stored_objects",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=1000), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stored_objects")),
    )
    op.create_index(
        "uq_stored_objects_client_key", "stored_objects", ["client_id", "key"], unique=True
    )
    op.create_table(
        "stored_chunks",
        sa.Column("object_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["object_id"],
            ["stored_objects.id"],
            name=op.f("fk_stored_chunks_object_id_stored_objects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("object_id", "seq", name=op.f("pk_stored_chunks")),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    # bytea chunks of 1 MB are compressed and TOASTed by default; uploads are zips already
    op.execute("ALTER TABLE stored_chunks ALTER COLUMN data SET STORAGE EXTERNAL")
    for table, condition in POLICIES.items():
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ROLE}")
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING ({condition}) WITH CHECK ({condition})"
        )
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")


def downgrade() -> None:
    op.drop_table("stored_chunks")
    op.drop_index("uq_stored_objects_client_key", table_name="stored_objects")
    op.drop_table("stored_objects")
