"""Database helpers: timestamps stored as UTC, and SQLite settings fit for several processes.

SQLite gets foreign keys, WAL and a busy timeout on every connection. Under WAL,
synchronous=NORMAL syncs at checkpoints instead of at every commit: a crash of the app (or of
the OS's processes) loses nothing committed; only a power cut can lose the last commits, never
the database's consistency. A new database gets 16 KiB pages, which suits rows of mail bodies (a
few KiB to tens of KiB): fewer overflow pages, a quarter of the writes. An existing database
keeps the page size it was created with."""

from datetime import UTC, datetime

from flask import Flask
from sqlalchemy import DateTime, event
from sqlalchemy.engine import Engine
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A datetime stored as UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        """Store aware datetimes converted to UTC."""
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        """Give back an aware datetime even where the database forgot the zone."""
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


PAGE_SIZE = 16384
_configured = False


def configure_sqlite(app: Flask) -> None:
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
