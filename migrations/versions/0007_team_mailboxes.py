"""team mail: several inbound mailboxes, each with a name, who may see its mail, and an optional
shared mailbox address it is authorized for by a delegate

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 04:30:00

The group mailbox that existed keeps its slot, is named "Group Inbox" and stays visible to all
users, as it was.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("mail_accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("name", sa.String(length=200), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("shared_address", sa.String(length=254), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("visibility", sa.String(length=10), nullable=False, server_default="all")
        )
    op.execute("UPDATE mail_accounts SET name = 'Group Inbox' WHERE role = 'group'")
    op.create_table(
        "mail_account_viewers",
        sa.Column("mail_account_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["mail_account_id"], ["mail_accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("mail_account_id", "user_id"),
    )
    with op.batch_alter_table("mail_account_viewers", schema=None) as batch_op:
        batch_op.create_index("ix_mail_account_viewers_user_id", ["user_id"], unique=False)


def downgrade():
    with op.batch_alter_table("mail_account_viewers", schema=None) as batch_op:
        batch_op.drop_index("ix_mail_account_viewers_user_id")
    op.drop_table("mail_account_viewers")
    with op.batch_alter_table("mail_accounts", schema=None) as batch_op:
        for column in ("visibility", "shared_address", "name"):
            batch_op.drop_column(column)
