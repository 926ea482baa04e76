"""`flask seed-demo`: the demo users `make run` prints, created once."""

import click
from sqlalchemy import select

from app.extensions import db
from app.models import User
from app.services import users

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
            users.create_user(
                None,
                username,
                email,
                password,
                is_admin=admin,
                first_name=first,
                last_name=last,
                title=title,
            )
        click.echo(f"  {username:<8} password: {password:<16} {'(admin)' if admin else ''}")
