"""one authorization identity for every kind: External Accounts name their identity columns
like the mail authorizations (authorized_name, authorized_email, authorized_at, authorized_by_id)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 19:00:00

The columns are renamed in place (ALTER TABLE ... RENAME COLUMN, which SQLite 3.25+ and
PostgreSQL both do without rebuilding the table), so indexes, the partial unique index on the
identity and the foreign key to users stay as they are.
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

RENAMES = (
    ("display_name", "authorized_name"),
    ("username", "authorized_email"),
    ("connected_at", "authorized_at"),
    ("connected_by_id", "authorized_by_id"),
)


def upgrade():
    for old, new in RENAMES:
        op.execute(f"ALTER TABLE external_accounts RENAME COLUMN {old} TO {new}")


def downgrade():
    for old, new in RENAMES:
        op.execute(f"ALTER TABLE external_accounts RENAME COLUMN {new} TO {old}")
