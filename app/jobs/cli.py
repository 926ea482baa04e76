"""`flask worker [--concurrency N]` runs procrastinate's worker on the app's jobs (PostgreSQL);
`flask jobs status` says what is queued, running, retrying and failed."""

import click
from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.jobs import queue
from app.mail import importing as mail_import
from app.mail.models import MailAccount

SQLITE_REFUSAL = (
    "`flask worker` needs PostgreSQL (DATABASE_URL=postgresql://...): with SQLite there is no "
    "task queue, and cron runs the jobs inline (`flask mail fetch`, `flask tokens refresh`, "
    "`flask alerts send`)."
)


@click.command("worker")
@click.option(
    "--concurrency",
    type=click.IntRange(min=1, max=64),
    default=None,
    help="Jobs this worker runs at once (threads); default JOBS_WORKER_CONCURRENCY.",
)
def worker(concurrency):
    """Run a worker: mailbox syncs, token keep-alive, alerts and their periodic rounds, until
    SIGINT/SIGTERM (it finishes the jobs it runs, then stops)."""
    if not queue.uses_queue(current_app):
        raise click.ClickException(SQLITE_REFUSAL)
    concurrency = concurrency or current_app.config["JOBS_WORKER_CONCURRENCY"]
    click.echo(f"Worker {queue.worker_name()} with concurrency {concurrency}.", err=True)
    queue.run_worker(current_app, concurrency)


@click.group("jobs")
def jobs_cli():
    """The background jobs' queue."""


@jobs_cli.command("status")
def status():
    """Jobs queued, running, retrying, failed and done; the latest failures and the mailboxes
    whose last sync failed."""
    if not queue.uses_queue(current_app):
        click.echo("No task queue with SQLite: cron runs the jobs inline.")
        _mailbox_errors()
        return
    found = queue.status()
    counts = found["counts"]
    click.echo(
        f"queued {counts['todo']}, running {counts['doing']}, retrying {counts['retrying']}, "
        f"failed {counts['failed']}, succeeded {counts['succeeded']} (kept), "
        f"cancelled {counts['cancelled'] + counts['aborted']}"
    )
    if found["failed"]:
        click.echo("Latest failed jobs:")
        for job in found["failed"]:
            click.echo(f"  #{job.id} {job.task_name} {job.task_kwargs} (tries: {job.attempts + 1})")
    _mailbox_errors()


def _mailbox_errors() -> None:
    failing = db.session.scalars(
        select(MailAccount)
        .where(MailAccount.last_sync_error != "")
        .order_by(MailAccount.id)
        .limit(20)
    ).all()
    if failing:
        click.echo("Mailboxes whose last sync failed:")
    for account in failing:
        name = mail_import.mailbox_name(account)
        click.echo(f"  {name} (mailbox {account.id}): {account.last_sync_error}")
