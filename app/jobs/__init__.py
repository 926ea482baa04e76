"""Background jobs: mailbox sync, token keep-alive and alert emails. The job functions
(`functions`) are the same in both modes; with PostgreSQL procrastinate schedules and runs
them (`queue`, `flask worker`), with SQLite cron runs them inline. `flask jobs status`."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register `flask worker` and `flask jobs`."""
    from app.jobs import cli

    app.cli.add_command(cli.worker)
    app.cli.add_command(cli.jobs_cli)
