"""Check now from Admin > Connections: the same sync job as the periodic round, queued for
the workers (PostgreSQL) or run here and now (SQLite)."""

from dataclasses import dataclass

from flask import current_app
from procrastinate.exceptions import ProcrastinateException

from app.extensions import db
from app.jobs import functions, queue
from app.mail import importing as mail_import
from app.mail.models import MailAccount
from app.mail.transport import MailError


@dataclass
class CheckRequest:
    """What Check now did, in words, and whether that is good news."""

    message: str
    ok: bool = True


def check_now(account: MailAccount) -> CheckRequest:
    """Sync this mailbox: queue its job (a sync already waiting is enough), or run it inline."""
    name = mail_import.mailbox_name(account)
    if not account.import_enabled:
        return CheckRequest(f"{name}: Import into Emails is off for this mailbox.", ok=False)
    if queue.uses_queue(current_app):
        try:
            queued = queue.enqueue_syncs([account.id])
        except ProcrastinateException as error:
            return CheckRequest(
                f"The task queue could not take the sync ({type(error).__name__}): is the "
                "database reachable and migrated (`flask db upgrade`)?",
                ok=False,
            )
        words = "queued for the workers" if queued else "already waiting in the queue"
        return CheckRequest(f"{name}: a sync is {words}; this page shows when it ran.")
    try:
        outcome = functions.sync_mailbox(account.id)
    except (MailError, functions.RetryLater) as error:
        return CheckRequest(f"{name}: {error.message}", ok=False)
    finally:
        db.session.expire_all()
    return CheckRequest(f"{name}: {outcome.message}", ok=outcome.ran)
