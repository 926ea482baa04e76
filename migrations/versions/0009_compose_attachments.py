"""Compose takes attachments: an outgoing message keeps its files' bytes with it until it is
sent, so a retry still has them

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 04:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("mail_attachments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content", sa.LargeBinary(), nullable=True))


def downgrade():
    with op.batch_alter_table("mail_attachments", schema=None) as batch_op:
        batch_op.drop_column("content")
