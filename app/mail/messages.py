"""The Emails list and a message: what a user may see, with a constant number of statements per
page. A user sees their own messages and the mail of the inbound mailboxes they may see: those
visible to all users, those that chose them, and every one for an admin. `visible_clause` is
that rule; `message_for` applies it to one message (the message page, its actions and its
attachments all ask it)."""

from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from app.connect.models import NEEDS_RECONNECT
from app.extensions import db
from app.mail.models import (
    GROUP,
    VISIBLE_TO_ALL,
    MailAccount,
    MailMessage,
    mail_account_viewers,
)
from app.users.models import User

MINE = "mine"


def _visible_mailbox_ids(user: User):
    """The ids of the inbound mailboxes whose mail this user may see, as a subquery."""
    mailboxes = select(MailAccount.id).where(MailAccount.role == GROUP)
    if user.is_admin:
        return mailboxes
    chosen = select(mail_account_viewers.c.mail_account_id).where(
        mail_account_viewers.c.user_id == user.id
    )
    return mailboxes.where(
        or_(MailAccount.visibility == VISIBLE_TO_ALL, MailAccount.id.in_(chosen))
    )


def visible_clause(user: User):
    """The access rule, as SQL: the user's own message, or one of a mailbox they may see."""
    return or_(
        MailMessage.user_id == user.id,
        MailMessage.account_id.in_(_visible_mailbox_ids(user)),
    )


def visible_mailboxes(user: User) -> list[MailAccount]:
    """The inbound mailboxes this user may see, the oldest first (one statement)."""
    return list(
        db.session.scalars(
            select(MailAccount)
            .where(MailAccount.id.in_(_visible_mailbox_ids(user)))
            .order_by(MailAccount.id)
        )
    )


def mailbox_named(mailboxes: list[MailAccount], folder: str) -> MailAccount | None:
    """Of the mailboxes a user may see (`visible_mailboxes`), the one a list filter names: its
    id, or "group" for the migrated Group Inbox (links made before there were several)."""
    if folder == "group":
        return next((m for m in mailboxes if m.slot == GROUP), None)
    return next((m for m in mailboxes if str(m.id) == folder), None)


def messages_for(user: User, mailbox: MailAccount | None, page: int, per_page: int):
    """One page of the Emails list: the user's own messages (mailbox None), or the mail of one
    inbound mailbox (`mailbox_named`); the access rule applies either way."""
    statement = (
        select(MailMessage)
        .options(selectinload(MailMessage.attachments))
        .order_by(MailMessage.dated_at.desc(), MailMessage.id.desc())
    )
    if mailbox is None:
        statement = statement.where(MailMessage.user_id == user.id)
    else:
        statement = statement.where(MailMessage.account_id == mailbox.id, visible_clause(user))
    return db.paginate(statement, page=page, per_page=per_page, error_out=False)


def message_for(user: User, message_id: int) -> MailMessage | None:
    """A message the user may open (their own, or one of an inbound mailbox they may see),
    else None: the one check the message page, its actions and its attachments use."""
    return db.session.scalar(
        select(MailMessage).where(MailMessage.id == message_id, visible_clause(user))
    )


def inbound_mailbox_of(message: MailMessage) -> MailAccount | None:
    """The inbound mailbox whose mail this is (None for a user's own message): its page says
    so and leads back to that mailbox's list."""
    account = message.account
    if message.user_id is None and account is not None and account.role == GROUP:
        return account
    return None


def needs_reconnect(owner) -> bool:
    """Authorized once, but Microsoft or the mail server no longer accepts it."""
    return owner is not None and owner.status == NEEDS_RECONNECT
