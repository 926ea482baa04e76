"""an import that fetches only what it shows: where each attachment sits in its message (the
IMAP body section, fetched on demand), whether a huge body was cut, and the sync state of each
folder of a mailbox (a mailbox may import several folders)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 04:30:00

Each mailbox's one folder state moves to its row in mail_sync_states, so a mailbox imported
before keeps importing from where it was (no message fetched twice); the old columns
(mail_accounts.sync_folder, sync_uidvalidity, sync_last_uid) go. A downgrade puts each mailbox's
first folder state back into them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "mail_sync_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("folder", sa.String(length=200), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=True),
        sa.Column("last_uid", sa.BigInteger(), nullable=False, server_default="0"),
        sa.ForeignKeyConstraint(["account_id"], ["mail_accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "folder", name="uq_mail_sync_state_folder"),
    )
    op.execute(
        "INSERT INTO mail_sync_states (account_id, folder, uidvalidity, last_uid) "
        "SELECT id, sync_folder, sync_uidvalidity, sync_last_uid FROM mail_accounts "
        "WHERE sync_folder <> ''"
    )
    with op.batch_alter_table("mail_accounts", schema=None) as batch_op:
        batch_op.drop_column("sync_last_uid")
        batch_op.drop_column("sync_uidvalidity")
        batch_op.drop_column("sync_folder")
    with op.batch_alter_table("mail_attachments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("imap_section", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("encoding", sa.String(length=40), nullable=False, server_default="")
        )
    with op.batch_alter_table("mail_messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("body_truncated", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade():
    with op.batch_alter_table("mail_messages", schema=None) as batch_op:
        batch_op.drop_column("body_truncated")
    with op.batch_alter_table("mail_attachments", schema=None) as batch_op:
        batch_op.drop_column("encoding")
        batch_op.drop_column("imap_section")
    with op.batch_alter_table("mail_accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sync_folder", sa.String(length=200), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("sync_uidvalidity", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("sync_last_uid", sa.BigInteger(), nullable=False, server_default="0")
        )
    op.execute(
        "UPDATE mail_accounts SET "
        "sync_folder = (SELECT s.folder FROM mail_sync_states s "
        "WHERE s.account_id = mail_accounts.id ORDER BY s.id LIMIT 1), "
        "sync_uidvalidity = (SELECT s.uidvalidity FROM mail_sync_states s "
        "WHERE s.account_id = mail_accounts.id ORDER BY s.id LIMIT 1), "
        "sync_last_uid = (SELECT s.last_uid FROM mail_sync_states s "
        "WHERE s.account_id = mail_accounts.id ORDER BY s.id LIMIT 1) "
        "WHERE id IN (SELECT account_id FROM mail_sync_states)"
    )
    op.drop_table("mail_sync_states")
