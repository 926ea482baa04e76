"""admin foresight: admin consent and the client secret's expiry on the connector, alerts (one
row per event and recipient, emailed once), and each user's choice to get alert emails

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 19:40:00

Existing users get alert emails (the default); existing connectors have no recorded consent or
expiry until an admin grants or enters one.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("connectors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("secret_expires_on", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("secret_refused_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("admin_consent_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("admin_consent_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("admin_consent_tenant", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("admin_consent_result", sa.Text(), nullable=False, server_default="")
        )
        batch_op.create_foreign_key(
            "fk_connectors_admin_consent_by_id_users",
            "users",
            ["admin_consent_by_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("alert_emails", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("link", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("emailed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("email_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("email_error", sa.Text(), nullable=False, server_default=""),
        sa.ForeignKeyConstraint(["recipient_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event", "recipient_id", name="uq_alert_event_recipient"),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index("ix_alerts_emailed_at", ["emailed_at"], unique=False)


def downgrade():
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_emailed_at")
    op.drop_table("alerts")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("alert_emails")
    with op.batch_alter_table("connectors", schema=None) as batch_op:
        batch_op.drop_constraint("fk_connectors_admin_consent_by_id_users", type_="foreignkey")
        for column in (
            "admin_consent_result",
            "admin_consent_tenant",
            "admin_consent_by_id",
            "admin_consent_at",
            "secret_refused_at",
            "secret_expires_on",
        ):
            batch_op.drop_column(column)
