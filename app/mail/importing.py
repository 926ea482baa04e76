"""Import a mailbox over IMAP into the Emails list, incrementally by UIDVALIDITY/UID.

A run reads the folder's UIDVALIDITY and UIDNEXT; when nothing is newer than the last imported
UID it fetches nothing. New messages are fetched in batches bounded by count and bytes
(MAIL_FETCH_BATCH, MAIL_FETCH_BATCH_BYTES) and committed batch by batch together with the UID
reached, so an interrupted run resumes where it stopped. A changed UIDVALIDITY starts over from
UID 1, and Message-IDs already imported are skipped, so nothing is duplicated. One run per
account at a time (a lease on the account row)."""

import imaplib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from sqlalchemy import insert, or_, select, update

from app.core.db import utcnow
from app.extensions import db
from app.mail import hosts as mail_hosts
from app.mail.authorizations import PURPOSE, stored_password, with_token
from app.mail.models import INBOUND, PERSONAL, RECEIVED, MailAccount, MailAttachment, MailMessage
from app.mail.parsing import parse_message
from app.mail.transport import (
    MailError,
    Server,
    imap_oauth,
    imap_password,
    imap_quoted,
    imap_session,
    security_problem,
)

LEASE = timedelta(minutes=10)
UID_AND_SIZE = re.compile(rb"UID (\d+)|RFC822\.SIZE (\d+)")


class Progress:
    """Told how many new messages a run found, then how many it has done (a CLI bar)."""

    def start(self, total: int) -> None:
        """The run found `total` new messages."""

    def advance(self, count: int) -> None:
        """`count` more messages were handled."""


@dataclass
class FetchResult:
    """What one run did."""

    imported: int = 0
    duplicates: int = 0
    found: int = 0
    resynced: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        """The outcome in words."""
        if not self.found:
            return "No new messages."
        words = f"Imported {self.imported} new message{'s' if self.imported != 1 else ''}."
        if self.duplicates:
            words += f" {self.duplicates} already imported were skipped."
        if self.resynced:
            words = "The mailbox was renumbered (UIDVALIDITY changed); re-synced. " + words
        return words


def imap_server(account: MailAccount) -> Server:
    """The account's IMAP server with the configured timeout, checked against the host rules
    now (mail_hosts; raises HostRefused, a MailError, when it may not be used)."""
    timeout = current_app.config["MAIL_TIMEOUT"]
    addresses = mail_hosts.destination(
        account.imap_host, account.imap_port, exchange=account.uses_oauth, timeout=timeout
    )
    return Server(
        account.imap_host,
        account.imap_port,
        account.imap_security,
        timeout,
        current_app.config["MAIL_CA_FILE"],
        addresses,
    )


def _session(account: MailAccount, work):
    """Run `work(connection)` signed in to the account's IMAP server (one refresh on NO)."""
    server = imap_server(account)
    problem = security_problem(server.host, server.security)
    if problem:
        raise MailError(problem)
    if not account.uses_oauth:
        login = imap_password(account.username, stored_password(account))
        with imap_session(server, login) as connection:
            return work(connection)
    if not account.authorized_email:
        raise MailError("Not Authorized, please authorize again.")

    def attempt(token: str):
        with imap_session(server, imap_oauth(account.authorized_email, token)) as connection:
            return work(connection)

    return with_token(account, PURPOSE, attempt)


@dataclass
class FolderState:
    """What EXAMINE said about the folder."""

    uidvalidity: int
    uidnext: int | None
    exists: int


def _examine(connection: imaplib.IMAP4, folder: str) -> FolderState:
    status, data = connection.select(imap_quoted(folder), readonly=True)
    if status != "OK":
        reason = data[0].decode("utf-8", "replace") if data and data[0] else status
        raise MailError(f"The folder “{folder}” could not be opened: {reason}")
    responses = connection.untagged_responses

    def number(name: str) -> int | None:
        values = responses.get(name) or [b""]
        return int(values[-1]) if values[-1] and values[-1].isdigit() else None

    return FolderState(number("UIDVALIDITY") or 0, number("UIDNEXT"), number("EXISTS") or 0)


def test_inbound(account: MailAccount) -> str:
    """Sign in and open the folder: proves server, security, authorization and folder."""

    def work(connection: imaplib.IMAP4) -> str:
        state = _examine(connection, account.imap_folder)
        return (
            f"Connection works: signed in to {account.imap_host} and opened "
            f"“{account.imap_folder}” ({state.exists} messages)."
        )

    return _session(account, work)


# --- the import run ----------------------------------------------------------------------------


def _claim(account: MailAccount) -> bool:
    now = utcnow()
    claimed = db.session.execute(
        update(MailAccount)
        .where(
            MailAccount.id == account.id,
            or_(MailAccount.sync_lock_until.is_(None), MailAccount.sync_lock_until < now),
        )
        .values(sync_lock_until=now + LEASE)
    )
    db.session.commit()  # a commit is the point: other workers see the lease before the run
    return claimed.rowcount == 1


def check_now(account: MailAccount, progress: Progress | None = None) -> FetchResult:
    """Import the messages that arrived since the last run (raises MailError). Only a mailbox
    saved with Import into Emails on is imported: authorizing to send never imports it."""
    if account.id is None or not account.imap_host:
        raise MailError("Save the inbound settings first.")
    if not account.import_enabled:
        raise MailError(
            "Import into Emails is off for this mailbox. Turn it on in the inbound settings "
            "and save, then Check now."
        )
    if not _claim(account):
        raise MailError("A check of this mailbox is already running. Please wait a moment.")
    account_id = account.id
    try:
        result = _session(account, lambda connection: _run(account, connection, progress))
    except MailError as error:
        _finish(account_id, f"Failed: {error.message}")
        raise
    except BaseException:
        _finish(account_id, "Failed unexpectedly.")
        raise
    _finish(account_id, result.message)
    return result


def _finish(account_id: int, message: str) -> None:
    db.session.rollback()
    account = db.session.get(MailAccount, account_id)
    account.sync_lock_until = None
    account.last_checked_at, account.last_check_message = utcnow(), message[:2000]
    db.session.commit()  # a commit is the point: lease released, outcome kept, even on failure


def _run(account: MailAccount, connection: imaplib.IMAP4, progress: Progress | None):
    result = FetchResult()
    folder = account.imap_folder
    state = _examine(connection, folder)
    if account.sync_folder != folder or account.sync_uidvalidity != state.uidvalidity:
        result.resynced = account.sync_uidvalidity is not None and account.sync_folder == folder
        account.sync_folder, account.sync_uidvalidity, account.sync_last_uid = (
            folder,
            state.uidvalidity,
            0,
        )
        db.session.commit()  # a commit is the point: batches resume from the new numbering
    last = account.sync_last_uid or 0
    if state.exists == 0 or (state.uidnext is not None and state.uidnext <= last + 1):
        return result
    uids = _new_uids(connection, last)
    result.found = len(uids)
    if progress:
        progress.start(len(uids))
    destination = Destination.of(account)
    for batch in _batches(connection, uids, last):  # one batch's messages in memory at a time
        _store_batch(destination, batch, _parse(batch, _fetch(connection, batch)), result)
        if progress:
            progress.advance(len(batch.uids))
    return result


def _parse(batch: "Batch", messages: Iterator[tuple[int, bytes]]) -> list[tuple[int, dict]]:
    """The fields of each fetched message of the batch."""
    return [
        (uid, parse_message(raw, batch.sizes.get(uid, len(raw)), batch.headers_only))
        for uid, raw in messages
    ]


def _search(connection: imaplib.IMAP4, criteria: str) -> list[int]:
    status, data = connection.uid("SEARCH", criteria)
    if status != "OK":
        raise MailError("The IMAP server refused to list the new messages.")
    return [int(u) for u in b" ".join(d for d in data if d).split()]


def _new_uids(connection: imaplib.IMAP4, last: int) -> list[int]:
    return sorted(u for u in _search(connection, f"UID {last + 1}:*") if u > last)


def _sizes(connection: imaplib.IMAP4, uids: list[int]) -> dict[int, int]:
    status, data = connection.uid("FETCH", _uid_set(uids), "(UID RFC822.SIZE)")
    if status != "OK":
        raise MailError("The IMAP server refused to list the message sizes.")
    sizes = {}
    for entry in data:
        uid, size = _uid_size(entry if isinstance(entry, bytes) else entry[0])
        if uid is not None:
            sizes[uid] = size or 0
    return sizes


def _uid_size(header: bytes) -> tuple[int | None, int | None]:
    uid = size = None
    for found_uid, found_size in UID_AND_SIZE.findall(header or b""):
        uid = int(found_uid) if found_uid else uid
        size = int(found_size) if found_size else size
    return uid, size


def _uid_set(uids: list[int]) -> str:
    """A compact UID set: runs become ranges (1:500 instead of 500 numbers)."""
    parts, start, previous = [], None, None
    for uid in uids:
        if start is None:
            start = previous = uid
        elif uid == previous + 1:
            previous = uid
        else:
            parts.append(f"{start}:{previous}" if previous != start else str(start))
            start = previous = uid
    if start is not None:
        parts.append(f"{start}:{previous}" if previous != start else str(start))
    return ",".join(parts)


@dataclass
class Batch:
    """UIDs to fetch in one command, and whether to fetch only headers (too large)."""

    uids: list[int]
    sizes: dict[int, int]
    headers_only: bool = False


def _batches(connection: imaplib.IMAP4, uids: list[int], last: int) -> Iterator[Batch]:
    """Batches in UID order of at most MAIL_FETCH_BATCH messages and MAIL_FETCH_BATCH_BYTES.

    One SEARCH names the messages LARGER than bytes/count; only their sizes are fetched, every
    other message counts as that bound. Messages above MAIL_MAX_MESSAGE_BYTES come alone,
    headers only."""
    config = current_app.config
    count, limit = max(1, config["MAIL_FETCH_BATCH"]), config["MAIL_FETCH_BATCH_BYTES"]
    small = max(1, limit // count)
    wanted = set(uids)
    large = [u for u in _search(connection, f"UID {last + 1}:* LARGER {small}") if u in wanted]
    sizes = _sizes(connection, sorted(large)) if large else {}
    current, total = [], 0
    for uid in uids:
        size = sizes.get(uid, small)
        if size > config["MAIL_MAX_MESSAGE_BYTES"]:
            yield Batch([uid], sizes, headers_only=True)
            continue
        if current and (len(current) >= count or total + size > limit):
            yield Batch(current, sizes)
            current, total = [], 0
        current.append(uid)
        total += size
    if current:
        yield Batch(current, sizes)


def _fetch(connection: imaplib.IMAP4, batch: Batch) -> Iterator[tuple[int, bytes]]:
    item = "BODY.PEEK[HEADER]" if batch.headers_only else "BODY.PEEK[]"
    status, data = connection.uid("FETCH", _uid_set(batch.uids), f"(UID {item})")
    if status != "OK":
        raise MailError("The IMAP server refused to send the messages.")
    pending: bytes | None = None
    for entry in data:
        if isinstance(entry, tuple):
            uid, _size = _uid_size(entry[0])
            if uid is not None:
                yield uid, entry[1]
            else:
                pending = entry[1]
        elif pending is not None:  # the UID came after the literal
            uid, _size = _uid_size(entry)
            if uid is not None:
                yield uid, pending
            pending = None


@dataclass(frozen=True)
class Destination:
    """Where a run's messages go: the account, and the columns every imported row shares,
    read from the account once per run rather than once per message."""

    account_id: int
    columns: dict

    @classmethod
    def of(cls, account: MailAccount) -> "Destination":
        """The destination for the account's current import state."""
        return cls(
            account.id,
            {
                "account_id": account.id,
                "user_id": account.user_id if account.role == PERSONAL else None,
                "direction": INBOUND,
                "status": RECEIVED,
                "status_reason": "",
                "imap_folder": account.sync_folder,
                "imap_uidvalidity": account.sync_uidvalidity,
                "attempts": 0,
                "sent_via": "",
            },
        )


def _store_batch(destination: Destination, batch: Batch, parsed: list, result) -> None:
    """Insert the batch's new messages (Message-IDs seen before are skipped: one query per
    batch) and move the import state past the batch, in one transaction."""
    table = MailMessage.__table__
    known = _existing(destination, {fields["dedupe_key"] for _uid, fields in parsed})
    rows, attachments, now = [], {}, utcnow()
    for uid, fields in parsed:
        key = fields["dedupe_key"]
        if key in known:
            result.duplicates += 1
            continue
        known.add(key)
        files = fields.pop("attachments")
        if files:
            attachments[key] = files
        rows.append(
            {**destination.columns, **fields, "imap_uid": uid, "created_at": now, "updated_at": now}
        )
    if rows:
        db.session.execute(insert(table), rows)  # one executemany
    if attachments:
        _store_attachments(destination, attachments)
    result.imported += len(rows)
    db.session.execute(
        update(MailAccount.__table__)
        .where(MailAccount.__table__.c.id == destination.account_id)
        .values(sync_last_uid=max(batch.uids), sync_lock_until=utcnow() + LEASE)
    )
    db.session.commit()  # a commit is the point: a batch kept with its UID, a run resumes there


def _existing(destination: Destination, keys: set[str]) -> set[str]:
    """Which of these de-duplication keys the account already has."""
    table = MailMessage.__table__
    return set(
        db.session.scalars(
            select(table.c.dedupe_key).where(
                table.c.account_id == destination.account_id, table.c.dedupe_key.in_(keys)
            )
        )
    )


def _store_attachments(destination: Destination, attachments: dict[str, list]) -> None:
    """The attachments' rows, tied to the messages just inserted by their keys."""
    table = MailMessage.__table__
    ids = db.session.execute(
        select(table.c.dedupe_key, table.c.id).where(
            table.c.account_id == destination.account_id,
            table.c.dedupe_key.in_(list(attachments)),
        )
    )
    files = [
        {"message_id": message_id, "filename": name, "content_type": kind, "size": size}
        for key, message_id in ids
        for name, kind, size in attachments[key]
    ]
    db.session.execute(insert(MailAttachment.__table__), files)


def inbound_accounts() -> list[MailAccount]:
    """Mailboxes saved with Import into Emails on (for `flask mail fetch`), whether or not they
    can sign in now: one that cannot is reported, not skipped."""
    return list(
        db.session.scalars(
            select(MailAccount)
            .where(MailAccount.import_enabled.is_(True), MailAccount.imap_host != "")
            .order_by(MailAccount.id)
        )
    )
