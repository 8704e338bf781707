"""Row-level security on PostgreSQL (SPEC §9): the application acts as a role that owns nothing.

``orgload db upgrade`` (the migration owner, who keeps DDL) creates the role ``orgload_app``
(no login), grants it the data rights it needs, and makes every table holding a client's rows
visible to it only under a policy keyed on two per-transaction settings: ``orgload.client_id``
(the tenant) and ``orgload.scope`` (``staff``: every client, an explicit mode). The engine sets
the role when it connects and the settings when a transaction begins (``orgload/db.py``); a
transaction with neither set sees no client rows. SQLite has no such feature: there the service
layer's scoping is the only guard.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 12:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

APP_ROLE = "orgload_app"
# table → the column naming its client
BY_CLIENT = {
    "clients": "id",
    "units": "client_id",
    "people": "client_id",
    "loads": "client_id",
    "quota_periods": "client_id",
    "incidents": "client_id",
    "inbox_files": "client_id",
}
# tables whose rows belong to a row of another table (visible when that row is)
BY_PARENT = {
    "change_log": "EXISTS (SELECT 1 FROM loads WHERE loads.id = change_log.load_id)",
    "incident_history": (
        "EXISTS (SELECT 1 FROM incidents WHERE incidents.id = incident_history.incident_id)"
    ),
    "notifications": (
        "EXISTS (SELECT 1 FROM incidents WHERE incidents.id = notifications.incident_id)"
    ),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                CREATE ROLE {APP_ROLE} NOLOGIN;
            END IF;
        END $$
        """
    )
    op.execute(f"GRANT {APP_ROLE} TO CURRENT_USER")  # so a non-superuser owner may SET ROLE
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")
    op.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE}"
    )
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {APP_ROLE}"
    )
    # Inlined by the planner (a one-expression SQL function): no call per row.
    op.execute(
        """
        CREATE FUNCTION orgload_visible(client text) RETURNS boolean
        LANGUAGE sql STABLE PARALLEL SAFE AS $$
            SELECT coalesce(current_setting('orgload.scope', true) = 'staff'
                            OR client = current_setting('orgload.client_id', true), false)
        $$
        """
    )
    for table, column in BY_CLIENT.items():
        _protect(table, f"orgload_visible({column})")
    for table, condition in BY_PARENT.items():
        _protect(table, condition)


def _protect(table: str, condition: str) -> None:
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} USING ({condition}) WITH CHECK ({condition})"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in [*BY_CLIENT, *BY_PARENT]:
        op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute("DROP FUNCTION IF EXISTS orgload_visible(text)")
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {APP_ROLE}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {APP_ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {APP_ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {APP_ROLE}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {APP_ROLE}")
    # The role is the cluster's, shared by every orgload database there: it stays.
