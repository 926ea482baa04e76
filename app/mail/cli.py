"""`flask mail fetch`: import new messages of every mailbox whose import is on (for cron)."""

import click
from flask import current_app

from app.extensions import db
from app.jobs import functions as jobs
from app.mail import bp
from app.mail import importing as mail_import
from app.mail.transport import MailError


class _Bar(mail_import.Progress):
    """A click progress bar opened once the run knows how many messages are new."""

    def __init__(self, label: str):
        self.label = label
        self.bar = None

    def start(self, total: int) -> None:
        """Open the bar with the number of new messages."""
        self.bar = click.progressbar(length=total, label=self.label, show_pos=True)
        self.bar.__enter__()

    def advance(self, count: int) -> None:
        """Move the bar on."""
        self.bar.update(count)

    def close(self) -> None:
        """Finish the bar's line."""
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@bp.cli.command("fetch")
@click.option(
    "--inline", is_flag=True, help="Import here, one mailbox after another (SQLite: always)."
)
@click.option("--wait", is_flag=True, help="With the task queue: wait until the syncs are done.")
@click.option("--timeout", default=3600, show_default=True, help="Seconds --wait waits at most.")
def fetch(inline, wait, timeout):
    """Import new messages of each mailbox with Import into Emails on, incrementally
    (UIDVALIDITY/UID). With PostgreSQL: queue one sync job per mailbox for the workers and
    return; exit 1 when one of them could not be imported (inline, or --wait). A mailbox
    whose authorization is dead is named once and skipped until it is authorized again."""
    from app.jobs import queue

    accounts = mail_import.inbound_accounts()
    if not accounts:
        click.echo("No mailbox has Import into Emails turned on; nothing to import.")
        return
    waiting = [a for a in accounts if jobs.needs_authorization(a)]
    if waiting:  # as the workers' rounds: skipped, its owner was alerted when it died
        names = ", ".join(mail_import.mailbox_name(a) for a in waiting)
        click.echo(f"Not synced until authorized again: {names}.")
    accounts = [a for a in accounts if not jobs.needs_authorization(a)]
    if queue.uses_queue(current_app) and not inline:
        _enqueue(queue, accounts, wait, timeout)
    elif _import_inline(accounts):
        raise SystemExit(1)


def _import_inline(accounts) -> int:
    """Sync the mailboxes here, one after another; how many could not be imported."""
    failures = 0
    for account in accounts:
        name = mail_import.mailbox_name(account)
        bar = _Bar(f"{account.role} {name}")
        try:
            result = jobs.sync_mailbox(account.id, progress=bar)
        except (MailError, jobs.RetryLater) as error:
            failures += 1
            bar.close()
            click.echo(f"{name}: {error.message}", err=True)
            continue
        bar.close()
        # Not run: its authorization died just now (its owner is alerted), or it was deleted.
        click.echo(f"{name}: {result.message}", err=not result.ran)
    return failures


def _enqueue(queue, accounts, wait: bool, timeout: int) -> None:
    """Queue the syncs for the workers; with `wait`, report each mailbox once they ran."""
    ids = [a.id for a in accounts]
    queued = queue.enqueue_syncs(ids)
    click.echo(
        f"Queued {queued} mailbox sync(s) for the workers "
        f"({len(ids) - queued} already waiting in the queue)."
    )
    if not wait:
        return
    pending = queue.wait_for_syncs(ids, timeout)
    db.session.expire_all()
    failures = 0
    for account in mail_import.inbound_accounts():
        if account.id not in ids:
            continue
        name = mail_import.mailbox_name(account)
        if account.last_sync_error:
            failures += not jobs.needs_authorization(account)  # died now: alerted, not retried
            click.echo(f"{name}: {account.last_sync_error}", err=True)
        else:
            click.echo(f"{name}: {account.last_check_message}")
    if pending:
        click.echo(f"{pending} sync(s) still queued or running after {timeout} s.", err=True)
    if failures or pending:
        raise SystemExit(1)
