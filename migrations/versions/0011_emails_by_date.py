"""The Emails list sorts by the date it shows (sent, else written), not by import order: its
two indexes follow that date.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 19:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

DATED = sa.text("coalesce(sent_at, created_at)")


def upgrade():
    op.drop_index("ix_mail_messages_user_created", table_name="mail_messages")
    op.drop_index("ix_mail_messages_account_created", table_name="mail_messages")
    op.create_index("ix_mail_messages_user_dated", "mail_messages", ["user_id", DATED, "id"])
    op.create_index("ix_mail_messages_account_dated", "mail_messages", ["account_id", DATED, "id"])


def downgrade():
    op.drop_index("ix_mail_messages_account_dated", table_name="mail_messages")
    op.drop_index("ix_mail_messages_user_dated", table_name="mail_messages")
    op.create_index(
        "ix_mail_messages_account_created", "mail_messages", ["account_id", "created_at"]
    )
    op.create_index("ix_mail_messages_user_created", "mail_messages", ["user_id", "created_at"])
