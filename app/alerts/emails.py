"""Alert emails, sent by `flask alerts send` (cron), never inside the request that raised the
alert: a failing request does not wait on a mail server. They go out through the system's
outbound account (Admin > System Email Settings) by the Emails module's own path (stored as a
message, then SMTP with XOAUTH2 or a password, or Graph sendMail).

Each alert is emailed once: `emailed_at` is set when it was sent; a failure is recorded in
`email_error` and retried on the next run, at most MAX_ATTEMPTS times. An alert whose recipient
turned alert emails off, or was deactivated, is not emailed and never picked again (its
`email_error` says why, `emailed_at` stays empty); the banner shows it all the same."""

import logging
from dataclasses import dataclass, field

from sqlalchemy import select, update

from app.alerts.models import Alert
from app.core.db import utcnow
from app.extensions import db
from app.mail import sending
from app.mail.models import SENT, SYSTEM
from app.mail.settings import MailSettingsError, account_for
from app.users.models import User

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
TURNED_OFF = "Not emailed: the recipient turned alert emails off."
DEACTIVATED = "Not emailed: the recipient is deactivated."
NOT_EMAILED = (TURNED_OFF, DEACTIVATED)


@dataclass
class Report:
    """What one run did: emails sent, failures (address: reason), alerts not emailed by the
    recipient's choice, and `problem` when the system account cannot send (nothing was tried;
    `waiting` alerts wait for the next run)."""

    sent: int = 0
    failed: list[str] = field(default_factory=list)
    not_emailed: int = 0
    waiting: int = 0
    problem: str = ""


def pending() -> list[Alert]:
    """Alerts not emailed yet, with tries left, oldest first."""
    return list(
        db.session.scalars(
            select(Alert)
            .where(
                Alert.emailed_at.is_(None),
                Alert.email_attempts < MAX_ATTEMPTS,
                Alert.email_error.not_in(NOT_EMAILED),
            )
            .order_by(Alert.id)
        )
    )


def system_problem() -> str | None:
    """Why the system account cannot send alert emails now, in words; None when it can."""
    problem = sending.sending_problem(account_for(SYSTEM))
    return f"The system email account cannot send: {problem}" if problem else None


def send_pending() -> Report:
    """Email every pending alert through the system account; commits after each one (the
    messages are stored and sent one by one, as Compose does)."""
    report = Report()
    problem = system_problem()
    for alert in pending():
        recipient = db.session.get(User, alert.recipient_id)
        reason = _not_emailed(recipient)
        if reason:
            alert.email_error = reason
            report.not_emailed += 1
            db.session.commit()  # the point: each alert's outcome is kept, whatever comes next
            continue
        if problem:
            report.waiting += 1
            continue
        if not _claim(alert):
            continue  # another run took it meanwhile
        _send(alert, recipient, report)
        if alert.emailed_at is None:
            problem = system_problem()  # the account itself failed: the rest wait
    report.problem = problem or ""
    return report


def _not_emailed(recipient: User | None) -> str:
    if recipient is None or not recipient.active:
        return DEACTIVATED
    return "" if recipient.alert_emails else TURNED_OFF


def _claim(alert: Alert) -> bool:
    """Count the attempt, unless another run counted it first (compare and swap): two runs
    at once send an alert once."""
    claimed = db.session.execute(
        update(Alert)
        .where(
            Alert.id == alert.id,
            Alert.email_attempts == alert.email_attempts,
            Alert.emailed_at.is_(None),
        )
        .values(email_attempts=Alert.email_attempts + 1)
    ).rowcount
    db.session.commit()  # the point: the attempt is counted before any server is contacted
    return claimed == 1


def _send(alert: Alert, recipient: User, report: Report) -> None:
    alert_id, address = alert.id, recipient.email
    try:
        message = sending.compose(
            None, account_for(SYSTEM), to=address, cc="", subject=alert.subject, body=alert.body
        )
        sent, reason = message.status == SENT, message.status_reason
    except MailSettingsError as error:
        sent, reason = False, error.message
    except Exception:  # noqa: BLE001  (one alert's surprise never stops the others)
        db.session.rollback()
        log.exception("Sending alert %s failed unexpectedly", alert_id)
        sent, reason = False, "Sending failed unexpectedly; it is tried again on the next run."
    alert = db.session.get(Alert, alert_id)
    if sent:
        alert.emailed_at, alert.email_error = utcnow(), ""
        report.sent += 1
    else:
        alert.email_error = reason[:2000]
        report.failed.append(f"{address}: {reason}")
    db.session.commit()  # the point: each alert's outcome is kept, whatever comes next
