"""Operator commands of the users area: `flask users create|list`, `flask seed-demo`."""

import click
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.users import directory
from app.users.models import User


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
        user = directory.create_user(
            None,
            username,
            email,
            password,
            is_admin=admin,
            first_name=first_name,
            last_name=last_name,
        )
    except directory.UserError as error:
        raise click.ClickException(error.message) from None
    db.session.commit()
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


DEMO_USERS = [
    # username, password, admin, first, last, email, title
    ("admin", "admin-password", True, "Ada", "Admin", "admin@crm.example", "Administrator"),
    ("sally", "sally-password", False, "Sally", "Bronsen", "sally@crm.example", "Sales Rep"),
    ("max", "max-password1", False, "Max", "Jensen", "max@crm.example", "Account Manager"),
]


@click.command("seed-demo")
def seed_demo():
    """Create the demo users if they do not exist yet and print how to sign in."""
    for username, password, admin, first, last, email, title in DEMO_USERS:
        if db.session.scalar(select(User.id).where(User.username == username)) is None:
            directory.create_user(
                None,
                username,
                email,
                password,
                is_admin=admin,
                first_name=first,
                last_name=last,
                title=title,
            )
            db.session.commit()
        click.echo(f"  {username:<8} password: {password:<16} {'(admin)' if admin else ''}")


def init_app(app: Flask) -> None:
    """Attach the users commands to the app."""
    app.cli.add_command(users_cli)
    app.cli.add_command(seed_demo)
