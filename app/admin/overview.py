"""Admin views across users: the audit log and the connections overview, paginated with a
constant number of SQL statements whatever the number of rows."""

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import aliased, contains_eager

from app.connect.models import (
    CONNECTED,
    NEEDS_RECONNECT,
    NOT_CONNECTED,
    Credential,
    ExternalAccount,
)
from app.connect.token_jobs import idle_before
from app.extensions import db
from app.mail.models import MailAccount
from app.users.models import AuditEvent, User


def audit_page(page: int, per_page: int, username: str = "", action: str = ""):
    """Audit events, newest first, filtered by a username (actor or target) and an action."""
    statement = select(AuditEvent).order_by(AuditEvent.id.desc())
    if username:
        statement = statement.where(
            or_(AuditEvent.actor_name == username, AuditEvent.target_name == username)
        )
    if action:
        statement = statement.where(AuditEvent.action == action)
    return db.paginate(statement, page=page, per_page=per_page, error_out=False)


def audit_actions() -> list[str]:
    """The distinct actions recorded, for the filter."""
    statement = select(AuditEvent.action).distinct().order_by(AuditEvent.action)
    return list(db.session.scalars(statement))


def _needs_attention(status):
    """Not connected, needing a reconnect, or Idle (its credential joined in the statement)."""
    return or_(
        status.in_([NEEDS_RECONNECT, NOT_CONNECTED]),
        and_(status == CONNECTED, Credential.refreshed_at < idle_before()),
    )


def connection_status(account, cutoff) -> str:
    """Connected, Needs reconnect, Not connected, or Idle (a refresh token near its 90 days)."""
    if account.status != CONNECTED:
        return account.status
    credential = account.credential
    last = credential.refreshed_at if credential else None
    return "idle" if last is not None and last < cutoff else CONNECTED


def connections_page(page: int, per_page: int, attention: bool = False):
    """External accounts across users with their owner, credential and who connected them."""
    owner = aliased(User)
    connector = aliased(User)
    statement = (
        select(ExternalAccount)
        .join(owner, ExternalAccount.user_id == owner.id)
        .outerjoin(Credential, Credential.account_id == ExternalAccount.id)
        .outerjoin(connector, ExternalAccount.authorized_by_id == connector.id)
        .options(
            contains_eager(ExternalAccount.user.of_type(owner)),
            contains_eager(ExternalAccount.credential),
            contains_eager(ExternalAccount.authorized_by.of_type(connector)),
        )
        .order_by(owner.username, ExternalAccount.id)
    )
    if attention:
        statement = statement.where(_needs_attention(ExternalAccount.status))
    return db.paginate(statement, page=page, per_page=per_page, error_out=False)


def mail_connections_page(page: int, per_page: int, attention: bool = False):
    """Email authorizations (Exchange Online mail accounts) across users, kept apart from
    External Accounts, with their owner and credential loaded in the same statement."""
    owner = aliased(User)
    statement = (
        select(MailAccount)
        .outerjoin(owner, MailAccount.user_id == owner.id)
        .outerjoin(Credential, Credential.mail_account_id == MailAccount.id)
        .options(
            contains_eager(MailAccount.user.of_type(owner)),
            contains_eager(MailAccount.credential),
        )
        .where(MailAccount.email_provider == "exchange_online")
        .order_by(MailAccount.role, owner.username, MailAccount.id)
    )
    if attention:
        statement = statement.where(_needs_attention(MailAccount.status))
    return db.paginate(statement, page=page, per_page=per_page, error_out=False)


def mailbox_sync_page(page: int, per_page: int):
    """Mailboxes with Import into Emails on, with their last sync, next sync and last error
    (the background jobs keep them on the account row)."""
    owner = aliased(User)
    statement = (
        select(MailAccount)
        .outerjoin(owner, MailAccount.user_id == owner.id)
        .options(contains_eager(MailAccount.user.of_type(owner)))
        .where(MailAccount.import_enabled.is_(True), MailAccount.imap_host != "")
        .order_by(MailAccount.role, owner.username, MailAccount.id)
    )
    return db.paginate(statement, page=page, per_page=per_page, error_out=False)
