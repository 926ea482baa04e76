"""SQLite settings that make it fit for several processes: WAL, busy timeout, foreign keys."""

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

_configured = False


def configure(app: Flask) -> None:
    """Turn on foreign keys, WAL and a busy timeout on every SQLite connection."""
    global _configured
    if _configured:
        return
    _configured = True

    @event.listens_for(Engine, "connect")
    def _on_connect(dbapi_connection, connection_record):
        module = type(dbapi_connection).__module__
        if not module.startswith("sqlite3"):
            return
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=15000")
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        except Exception:  # noqa: BLE001, S110  (in-memory databases have no WAL)
            pass
        cursor.close()
