"""The background jobs, the same functions in both modes: inline from cron (SQLite, or
`--inline`) and on procrastinate's workers (PostgreSQL). Each runs inside an app context, and
commits its own work (a job is a unit of work like a view or a CLI command)."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app

from app.connect import token_jobs
from app.connect.models import CONNECTED
from app.core.db import utcnow
from app.extensions import db
from app.jobs import limits
from app.mail import importing as mail_import
from app.mail.models import MailAccount
from app.mail.transport import MailError

NOT_AUTHORIZED_PAUSE = (
    "Not Authorized: the mailbox is not synced until it is authorized again "
    "(Authorize in Email Settings, or Admin > Inbound Email)."
)


class RetryLater(Exception):
    """A job that failed for now and should run again no sooner than `retry_at`: a busy or
    throttled server (its Retry-After), a connection that dropped, a busy tenant."""

    def __init__(self, message: str, retry_at: datetime):
        super().__init__(message)
        self.message = message
        self.retry_at = retry_at


class JobFailed(Exception):
    """A job that did part of its work; the rest is tried again with backoff."""


@dataclass
class SyncOutcome:
    """What one sync job did, in words, and whether it ran at all."""

    message: str
    ran: bool = True


def retry_after_of(error: BaseException) -> int | None:
    """Seconds a server asked us to wait, from the error or what caused it (a mail server's,
    or the token endpoint's 429/503 Retry-After carried by ProviderError)."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        value = getattr(error, "retry_after", None)
        if isinstance(value, int) and value > 0:
            return value
        error = error.__cause__ or error.__context__
    return None


def backoff(attempt: int) -> int:
    """Seconds before the next try of a job that failed `attempt + 1` times (exponential)."""
    base = current_app.config["JOBS_RETRY_BASE_SECONDS"]
    return min(base * 2**attempt, current_app.config["JOBS_RETRY_MAX_SECONDS"])


def retry_time(error: BaseException, attempt: int) -> datetime:
    """When a failed job runs again: its backoff, but never before the server's Retry-After."""
    wait = max(backoff(attempt), retry_after_of(error) or 0)
    return utcnow() + timedelta(seconds=wait)


def needs_authorization(account: MailAccount) -> bool:
    """An Exchange Online mailbox whose authorization does not work (Not Authorized, Needs
    reconnect): it is not synced, nor retried, until it is authorized again."""
    return account.uses_oauth and account.status != CONNECTED


def sync_mailbox(account_id: int, attempt: int = 0, *, progress=None) -> SyncOutcome:
    """Import one mailbox's new mail (the mail import's check_now, which keeps the run's
    outcome on the account), and when a retry is due, when. Raises RetryLater when trying
    again later may work, MailError when it will not; a dead authorization ends it without a
    retry (`ran` False): its owner was alerted once when it died, and the periodic rounds
    skip it until it is renewed. A mailbox deleted meanwhile ends it quietly (`ran` False)."""
    account = db.session.get(MailAccount, account_id)
    if account is None or not account.import_enabled:
        return SyncOutcome("The mailbox is gone or Import into Emails is off.", ran=False)
    busy_until = account.sync_lock_until
    if busy_until is not None and busy_until > utcnow():
        # Another run holds the mailbox (an admin's Check now, or a worker that died: its
        # lease runs out, or the stalled-job recovery releases it).
        message = "A check of this mailbox is already running."
        _record(account_id, message, next_sync=busy_until)
        raise RetryLater(message, busy_until)
    try:
        with limits.imap_slot(account):
            result = mail_import.check_now(account, progress)
    except limits.TenantBusy as busy:
        retry_at = utcnow() + timedelta(seconds=busy.wait_seconds)
        _record(account_id, busy.message, next_sync=retry_at)
        raise RetryLater(busy.message, retry_at) from busy
    except mail_import.MailboxGone as gone:
        return SyncOutcome(gone.message, ran=False)
    except MailError as error:
        return _failed(account_id, error, attempt)
    return SyncOutcome(result.message)


def _failed(account_id: int, error: MailError, attempt: int) -> SyncOutcome:
    db.session.rollback()
    account = db.session.get(MailAccount, account_id)
    if account is None:  # deleted since the run ended
        return SyncOutcome(mail_import.MAILBOX_GONE, ran=False)
    if needs_authorization(account):  # no retry: the periodic rounds skip it until renewed
        _record(account_id, NOT_AUTHORIZED_PAUSE, next_sync=None)
        return SyncOutcome(error.message, ran=False)
    retryable = error.transient or retry_after_of(error) is not None
    attempts = current_app.config["JOBS_MAX_ATTEMPTS"]
    if not retryable or attempt + 1 >= attempts:
        raise error  # check_now kept the error, and no sync is due
    retry_at = retry_time(error, attempt)
    _record(account_id, error.message, next_sync=retry_at)
    raise RetryLater(error.message, retry_at) from error


def _record(account_id: int, error: str, next_sync: datetime | None) -> None:
    db.session.rollback()
    account = db.session.get(MailAccount, account_id)
    if account is None:
        return
    account.last_sync_error = error[:2000]
    account.next_sync_at = next_sync
    db.session.commit()  # the point: Admin > Connections shows the outcome of every run


def mark_queued(account_ids: list[int], when: datetime | None = None) -> None:
    """Note on the accounts that a sync is queued for `when` (now by default)."""
    if not account_ids:
        return
    due = when or datetime.now(UTC)
    db.session.execute(
        db.update(MailAccount).where(MailAccount.id.in_(account_ids)).values(next_sync_at=due)
    )
    db.session.commit()  # the point: the page says a sync is on its way


def syncable_accounts() -> list[int]:
    """Mailboxes a periodic round syncs: Import into Emails on, and an authorization that
    works (a dead one waits until reconnected)."""
    return [a.id for a in mail_import.inbound_accounts() if not needs_authorization(a)]


def keep_tokens_alive() -> str:
    """Refresh idle refresh tokens before the provider's 90-day inactivity limit kills them."""
    summary = token_jobs.refresh_idle(current_app.config["JOBS_TOKEN_IDLE_DAYS"])
    words = (
        f"Refreshed {summary.refreshed}, needs reconnect {summary.needs_reconnect}, "
        f"failed {len(summary.failed)}."
    )
    if summary.failed:
        raise JobFailed(words + " " + "; ".join(summary.failed))
    return words


def send_alerts() -> str:
    """Raise the client-secret warnings that are due and email pending alerts (what
    `flask alerts send` does); emails that could not go wait for the next run."""
    from app.alerts import emails, service

    due = service.due_secret_alerts(datetime.now(UTC).date())
    db.session.commit()  # the point: the warnings exist before any email is tried
    report = emails.send_pending()
    return (
        f"{due} client-secret warning(s) due; sent {report.sent} alert email(s), "
        f"{len(report.failed)} failed{'; ' + report.problem if report.problem else ''}."
    )
