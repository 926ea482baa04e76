"""Alerts: tell people before they notice — an authorization that needs reconnecting, a client
secret that expires or was refused — on the page at once and by email once."""

from flask import Flask

from app.alerts import models  # noqa: F401  (the table is part of the schema)


def init_app(app: Flask) -> None:
    """The banners' template functions (Home's Reauthenticate lines, the Admin pages' connector
    warning) and `flask alerts send`."""
    from app.alerts import cli, pages

    app.context_processor(pages.context)
    app.cli.add_command(cli.alerts_cli)
