"""Operator commands for tokens and keys: `flask tokens refresh|status`, `flask keys rotate`."""

import sys

import click

from app.services import keys, token_jobs


@click.group("tokens")
def tokens_cli():
    """Keep stored tokens alive (run `refresh` from cron daily)."""


@tokens_cli.command("refresh")
@click.option(
    "--idle-days",
    default=60,
    show_default=True,
    type=click.IntRange(min=0),
    help="Refresh tokens whose refresh token was not used for this many days.",
)
def refresh(idle_days):
    """Refresh idle tokens so none reaches Microsoft's 90-day inactivity expiry."""
    ids = token_jobs.idle_credentials(idle_days)
    with click.progressbar(length=len(ids), label="Refreshing", file=sys.stderr) as bar:
        summary = token_jobs.refresh_idle(idle_days, progress=bar.update)
    click.echo(
        f"Refreshed {summary.refreshed}, needs reconnect {summary.needs_reconnect}, "
        f"failed {len(summary.failed)} (of {len(ids)} idle for {idle_days}+ days)."
    )
    for line in summary.failed:
        click.echo(f"  {line}", err=True)
    if summary.failed:
        raise SystemExit(1)


@tokens_cli.command("status")
def status():
    """Count external accounts by status."""
    counts = token_jobs.status_counts()
    labels = {
        "connected": "Connected",
        "idle": "Idle (80+ days)",
        "needs_reconnect": "Needs reconnect",
        "not_connected": "Not connected",
    }
    for key, label in labels.items():
        click.echo(f"{label:<18} {counts.get(key, 0)}")


@click.group("keys")
def keys_cli():
    """Manage TOKEN_ENCRYPTION_KEYS."""


@keys_cli.command("rotate")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(min=1))
def rotate(batch_size):
    """Re-encrypt every stored secret with the first key; then old keys can be removed."""
    with click.progressbar(length=keys.count_rows(), label="Re-encrypting", file=sys.stderr) as bar:
        report = keys.rotate_all(batch_size, progress=bar.update)
    click.echo(f"Re-encrypted {report.rotated} values.")
    for failure in report.failures:
        click.echo(f"  could not rotate {failure}", err=True)
    if report.failures:
        raise SystemExit(1)
