"""The Emails list and a message: what a user may see (their own messages, the group
mailbox's), with a constant number of statements per page."""

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.connect.models import NEEDS_RECONNECT
from app.extensions import db
from app.mail.models import GROUP, MailAccount, MailMessage
from app.users.models import User


def messages_for(user: User, folder: str, page: int, per_page: int):
    """One page of the Emails list: the user's own messages, or the group mailbox's."""
    statement = (
        select(MailMessage)
        .options(selectinload(MailMessage.attachments))
        .order_by(MailMessage.created_at.desc(), MailMessage.id.desc())
    )
    if folder == "group":
        statement = statement.join(MailAccount, MailMessage.account_id == MailAccount.id).where(
            MailAccount.role == GROUP
        )
    else:
        statement = statement.where(MailMessage.user_id == user.id)
    return db.paginate(statement, page=page, per_page=per_page, error_out=False)


def message_for(user: User, message_id: int) -> MailMessage | None:
    """A message the user may open: their own, or the group mailbox's."""
    message = db.session.get(MailMessage, message_id)
    if message is None:
        return None
    if message.user_id == user.id:
        return message
    if message.account is not None and message.account.role == GROUP:
        return message
    return None


def needs_reconnect(owner) -> bool:
    """Authorized once, but Microsoft or the mail server no longer accepts it."""
    return owner is not None and owner.status == NEEDS_RECONNECT
