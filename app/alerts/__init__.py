"""Alerts: tell people before they notice — an authorization that needs reconnecting, a client
secret that expires or was refused — on the page at once and by email once."""

from flask import Flask

from app.alerts import models  # noqa: F401  (the table is part of the schema)


def init_app(app: Flask) -> None:
    """Nothing to hang on the shell yet."""
