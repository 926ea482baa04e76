"""SQLite settings that make it fit for several processes: WAL, busy timeout, foreign keys.

Under WAL, synchronous=NORMAL syncs at checkpoints instead of at every commit: a crash of the
app (or of the OS's processes) loses nothing committed; only a power cut can lose the last
commits, never the database's consistency. A new database gets 16 KiB pages, which suits
rows of mail bodies (a few KiB to tens of KiB): fewer overflow pages, a quarter of the writes.
An existing database keeps the page size it was created with."""

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

PAGE_SIZE = 16384
_configured = False


def configure(app: Flask) -> None:
    """Turn on foreign keys, WAL (synchronous=NORMAL) and a busy timeout on every SQLite
    connection; a database created through it gets PAGE_SIZE pages."""
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
        cursor.execute(f"PRAGMA page_size={PAGE_SIZE}")  # ignored once the file has pages
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=15000")
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        except Exception:  # noqa: BLE001, S110  (in-memory databases have no WAL)
            pass
        cursor.close()
