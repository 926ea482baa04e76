"""server-side sessions, inbound import opt-in, link scope, one identity per External Account

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 17:00:00

Existing data:
- Group mailboxes keep importing (an admin set them up for that); a personal mailbox imports
  again once its owner saves the inbound settings with "Import into Emails" on, because
  authorizing to send used to start importing on its own.
- A Microsoft identity found on several users' External Accounts stays with the user who
  connected it themselves (the earliest such); the other accounts lose their tokens and show
  Needs reconnect, so nobody keeps browsing someone else's OneDrive.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

DUPLICATE_REASON = (
    "This Microsoft account is connected to another CRM user. Reconnect with your own "
    "Microsoft account."
)


def upgrade():
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("user_agent", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_sessions_user_id"), ["user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_user_sessions_ended_at"), ["ended_at"], unique=False)

    with op.batch_alter_table("connectors", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "allow_anonymous_links", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
    with op.batch_alter_table("mail_accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("import_enabled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    mail_accounts = sa.table("mail_accounts", sa.column("role"), sa.column("import_enabled"))
    op.execute(
        mail_accounts.update().where(mail_accounts.c.role == "group").values(import_enabled=True)
    )

    _release_duplicate_identities()
    op.create_index(
        "uq_external_account_identity",
        "external_accounts",
        ["provider", "tenant_id", "object_id"],
        unique=True,
        sqlite_where=sa.text("object_id != ''"),
        postgresql_where=sa.text("object_id != ''"),
    )


def _release_duplicate_identities():
    """Keep each (provider, tenant, object) on one account; the others need a reconnect."""
    bind = op.get_bind()
    accounts = sa.table(
        "external_accounts",
        sa.column("id"),
        sa.column("user_id"),
        sa.column("provider"),
        sa.column("tenant_id"),
        sa.column("object_id"),
        sa.column("connected_by_id"),
        sa.column("connected_at"),
        sa.column("status"),
        sa.column("status_reason"),
    )
    credentials = sa.table("credentials", sa.column("account_id"))
    rows = bind.execute(
        sa.select(
            accounts.c.id,
            accounts.c.user_id,
            accounts.c.provider,
            accounts.c.tenant_id,
            accounts.c.object_id,
            accounts.c.connected_by_id,
        )
        .where(accounts.c.object_id != "")
        .order_by(accounts.c.connected_at, accounts.c.id)
    ).all()
    groups: dict[tuple, list] = {}
    for row in rows:
        groups.setdefault((row.provider, row.tenant_id, row.object_id), []).append(row)
    released = []
    for group in groups.values():
        if len(group) < 2:
            continue
        own = [r for r in group if r.connected_by_id == r.user_id]
        keep = (own or group)[0]
        released += [r.id for r in group if r.id != keep.id]
    if not released:
        return
    bind.execute(credentials.delete().where(credentials.c.account_id.in_(released)))
    bind.execute(
        accounts.update()
        .where(accounts.c.id.in_(released))
        .values(
            status="needs_reconnect",
            status_reason=DUPLICATE_REASON,
            tenant_id="",
            object_id="",
        )
    )


def downgrade():
    op.drop_index("uq_external_account_identity", table_name="external_accounts")
    with op.batch_alter_table("mail_accounts", schema=None) as batch_op:
        batch_op.drop_column("import_enabled")
    with op.batch_alter_table("connectors", schema=None) as batch_op:
        batch_op.drop_column("allow_anonymous_links")
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_sessions_ended_at"))
        batch_op.drop_index(batch_op.f("ix_user_sessions_user_id"))
    op.drop_table("user_sessions")
