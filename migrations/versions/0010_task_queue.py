"""Background jobs on procrastinate, the PostgreSQL task queue: its tables, types and functions
(its own schema SQL, from its public SchemaManager.get_schema()), and when a mailbox's next
sync is due and its last sync error. SQLite runs the jobs inline from cron: no queue there.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 05:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Everything procrastinate's schema creates is named procrastinate_*: its tables (the triggers
# go with them), then its functions (whatever their arguments) and types.
DROP_QUEUE = """
DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs,
    procrastinate_workers CASCADE;
DO $$
DECLARE
    found record;
BEGIN
    FOR found IN
        SELECT p.oid::regprocedure AS signature FROM pg_proc p
        WHERE p.proname LIKE 'procrastinate\\_%' AND p.pronamespace = current_schema()::regnamespace
    LOOP
        EXECUTE 'DROP FUNCTION ' || found.signature || ' CASCADE';
    END LOOP;
END
$$;
DROP TYPE IF EXISTS procrastinate_job_to_defer_v1, procrastinate_job_event_type,
    procrastinate_job_status CASCADE;
"""


def _run(sql: str) -> None:
    """Run SQL text as it is: psycopg reads "%" as a placeholder, so it is doubled (as
    procrastinate's own SchemaManager.apply_schema does)."""
    op.get_bind().exec_driver_sql(sql.replace("%", "%%"))


def upgrade():
    with op.batch_alter_table("mail_accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_sync_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("last_sync_error", sa.Text(), server_default="", nullable=False)
        )
    if op.get_bind().dialect.name == "postgresql":
        from procrastinate.schema import SchemaManager

        _run(SchemaManager.get_schema())


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        _run(DROP_QUEUE)
    with op.batch_alter_table("mail_accounts", schema=None) as batch_op:
        batch_op.drop_column("last_sync_error")
        batch_op.drop_column("next_sync_at")
