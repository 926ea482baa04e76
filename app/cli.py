"""Operator commands: `flask users create|list`, `flask seed-demo`."""

import click
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import User
from app.services import connectors, oauth_flow, sessions, users


@click.group("users")
def users_cli():
    """Manage users."""


@users_cli.command("create")
@click.argument("username")
@click.option("--email", required=True, help="The user's email address.")
@click.option("--password", help="Prompted for (hidden) when not given.")
@click.option("--admin", is_flag=True, help="Make the user an administrator.")
@click.option("--first-name", default="")
@click.option("--last-name", default="")
def create_user(username, email, password, admin, first_name, last_name):
    """Create a user who can sign in at once."""
    if not password:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = users.create_user(
            None,
            username,
            email,
            password,
            is_admin=admin,
            first_name=first_name,
            last_name=last_name,
        )
    except users.UserError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"Created {'admin' if user.is_admin else 'user'} {user.username} (id {user.id}).")


@users_cli.command("list")
def list_users():
    """Print every user: id, username, email, admin, active."""
    click.echo(f"{'id':>6}  {'username':<24} {'email':<32} admin  active")
    for user in db.session.scalars(select(User).order_by(User.username)):
        click.echo(
            f"{user.id:>6}  {user.username:<24} {user.email:<32} "
            f"{'yes' if user.is_admin else 'no':<6} {'yes' if user.active else 'no'}"
        )


def register(app: Flask) -> None:
    """Attach the command groups to the app."""
    from app.seed import seed_demo

    app.cli.add_command(users_cli)
    app.cli.add_command(connector_cli)
    from app.cli_tokens import keys_cli, tokens_cli

    app.cli.add_command(tokens_cli)
    app.cli.add_command(keys_cli)
    app.cli.add_command(seed_demo)
    app.cli.add_command(cleanup)


@click.command("cleanup")
def cleanup():
    """Delete what must not outlive its time: secrets of expired sign-ins, old sessions (cron)."""
    emptied = oauth_flow.purge_expired()
    removed = sessions.purge()
    db.session.commit()
    click.echo(
        f"Deleted the secrets of {emptied} expired sign-ins; removed {removed} ended sessions."
    )


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
