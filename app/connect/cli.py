"""Operator commands of the connect area: `flask connector set|show`, `flask tokens
refresh|status`, `flask keys rotate`, `flask cleanup`."""

import sys

import click
from flask import Flask

from app.connect import connectors, oauth_flow, token_jobs
from app.core import keys
from app.extensions import db
from app.users import sessions


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


@click.group("connector")
def connector_cli():
    """Configure connectors (Admin > Connectors) from the command line."""


@connector_cli.command("set")
@click.argument("provider")
@click.option("--client-id", required=True)
@click.option(
    "--client-secret",
    envvar="CONNECTOR_CLIENT_SECRET",
    help="Or set CONNECTOR_CLIENT_SECRET (kept out of `ps`); kept when omitted.",
)
@click.option("--prompt-secret", is_flag=True, help="Ask for the client secret (hidden).")
@click.option("--tenant", default="", help="A tenant GUID or verified domain (single-tenant).")
@click.option("--disable", is_flag=True, help="Store the settings but let nobody connect.")
@click.option(
    "--allow-anonymous-links/--no-anonymous-links",
    default=None,
    help="Whether Copy Link may make links anyone can open; kept when omitted.",
)
def connector_set(
    provider, client_id, client_secret, prompt_secret, tenant, disable, allow_anonymous_links
):
    """Store a connector's client ID, secret (encrypted), tenant and link policy."""
    if prompt_secret:
        client_secret = click.prompt("Client secret", hide_input=True)
    if connectors.spec(provider) is None:
        raise click.ClickException(f"Unknown connector {provider!r}.")
    try:
        changed = connectors.save(
            None,
            provider,
            client_id=client_id,
            client_secret=client_secret,
            single_tenant=bool(tenant),
            tenant=tenant,
            enabled=not disable,
            allow_anonymous_links=allow_anonymous_links,
        )
    except connectors.ConnectorError as error:
        raise click.ClickException(error.message) from None
    db.session.commit()
    click.echo(f"Saved {provider}: {', '.join(changed) or 'nothing changed'}.")


@connector_cli.command("show")
@click.argument("provider")
def connector_show(provider):
    """Print a connector's settings; the secret is masked."""
    connector = connectors.get(provider)
    if connectors.spec(provider) is None or connector is None:
        raise click.ClickException(f"The {provider} connector is not configured.")
    secret = (
        f"******** (set {connector.secret_set_at:%Y-%m-%d %H:%M} UTC)"
        if connector.has_secret
        else "(none)"
    )
    click.echo(f"provider:      {provider}")
    click.echo(f"client id:     {connector.client_id}")
    click.echo(f"client secret: {secret}")
    click.echo(f"tenant:        {connectors.tenant_for(connector)}")
    click.echo(f"enabled:       {'yes' if connector.enabled else 'no'}")
    click.echo(f"anyone links:  {'allowed' if connector.allow_anonymous_links else 'not allowed'}")
    click.echo(f"ready:         {'yes' if connector.is_ready else 'no'}")
    click.echo(f"redirect uri:  {connectors.redirect_uri(provider)}")


@click.command("cleanup")
def cleanup():
    """Delete what must not outlive its time: secrets of expired sign-ins, old sessions (cron)."""
    emptied = oauth_flow.purge_expired()
    removed = sessions.purge()
    db.session.commit()
    click.echo(
        f"Deleted the secrets of {emptied} expired sign-ins; removed {removed} ended sessions."
    )


def init_app(app: Flask) -> None:
    """Attach the connect commands to the app."""
    for command in (connector_cli, tokens_cli, keys_cli, cleanup):
        app.cli.add_command(command)
