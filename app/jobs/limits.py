"""A cap on concurrent IMAP connections per tenant (Exchange Online throttles a tenant's and a
mailbox's concurrent connections): PostgreSQL advisory locks, JOBS_IMAP_PER_TENANT numbered
slots per tenant, each held on a connection of its own for the length of a sync. A worker
that dies loses its connection and so its slot. Per mailbox the cap is one: procrastinate's
lock lets one sync job of a mailbox run at a time (app/jobs/queue.py). SQLite runs the syncs
one after another in one process, so it needs no cap."""

import zlib
from contextlib import contextmanager

from flask import current_app
from sqlalchemy import text

from app.extensions import db
from app.mail.models import MailAccount

SLOT_NAMESPACE = "crm-imap-tenant"


class TenantBusy(Exception):
    """Every IMAP slot of the mailbox's tenant is taken; the sync waits `wait_seconds`."""

    def __init__(self, tenant: str, limit: int, wait_seconds: int):
        self.message = (
            f"{limit} mailbox{'es' if limit != 1 else ''} of this tenant "
            f"({tenant or 'no tenant'}) are being synced already (JOBS_IMAP_PER_TENANT); "
            f"trying again in {wait_seconds} seconds."
        )
        super().__init__(self.message)
        self.wait_seconds = wait_seconds


def tenant_of(account: MailAccount) -> str:
    """Who throttles this mailbox's connections: its Microsoft tenant, else its IMAP host."""
    return account.tenant_id if account.uses_oauth and account.tenant_id else account.imap_host


def _key(tenant: str) -> int:
    """A 32-bit advisory-lock key for the tenant (collisions only make two tenants share)."""
    return zlib.crc32(f"{SLOT_NAMESPACE}:{tenant}".encode()) & 0x7FFFFFFF


@contextmanager
def imap_slot(account: MailAccount):
    """Hold one of the tenant's IMAP slots while the block runs (PostgreSQL); raise
    TenantBusy when all are taken. Without PostgreSQL, or with no limit set, it just runs."""
    limit = current_app.config["JOBS_IMAP_PER_TENANT"]
    if db.engine.dialect.name != "postgresql" or limit <= 0:
        yield
        return
    tenant = tenant_of(account)
    key = _key(tenant)
    with db.engine.connect() as connection:
        slot = _take(connection, key, limit)
        if slot is None:
            raise TenantBusy(tenant, limit, current_app.config["JOBS_TENANT_BUSY_SECONDS"])
        try:
            yield
        finally:
            connection.execute(
                text("SELECT pg_advisory_unlock(:key, :slot)"), {"key": key, "slot": slot}
            )
            connection.commit()


def _take(connection, key: int, limit: int) -> int | None:
    for slot in range(limit):
        taken = connection.execute(
            text("SELECT pg_try_advisory_lock(:key, :slot)"), {"key": key, "slot": slot}
        ).scalar()
        if taken:
            connection.commit()  # a session lock: it outlives the transaction
            return slot
    connection.commit()
    return None
