"""`flask alerts send`: raise the client-secret warnings that are due, then email every alert
not emailed yet through the system's outbound account (cron, every 5 minutes)."""

from datetime import UTC, datetime

import click

from app.alerts import emails, service
from app.extensions import db


@click.group("alerts")
def alerts_cli():
    """Alert emails (run `send` from cron every 5 minutes)."""


@alerts_cli.command("send")
def send():
    """Raise the due client-secret warnings, then send the pending alert emails; exit 1 when
    one failed or the system email account cannot send (the alerts wait for the next run)."""
    due = service.due_secret_alerts(datetime.now(UTC).date())
    db.session.commit()
    report = emails.send_pending()
    if due:
        click.echo(f"Client secrets due for a warning: {due}.")
    click.echo(_summary(report))
    for line in report.failed:
        click.echo(f"  {line}", err=True)
    if report.problem:
        click.echo(
            f"{report.problem} Fix it in Admin > System Email Settings: {report.waiting} alert "
            "email(s) wait for the next run (the pages show the alerts meanwhile).",
            err=True,
        )
    if report.failed or report.problem:
        raise SystemExit(1)


def _summary(report: emails.Report) -> str:
    plural = "" if report.sent == 1 else "s"
    words = f"Sent {report.sent} alert email{plural}"
    if report.failed:
        words += f", {len(report.failed)} failed"
    if report.not_emailed:
        words += f", {report.not_emailed} not emailed (alert emails turned off or user deactivated)"
    return words + "."
