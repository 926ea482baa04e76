"""Import a mailbox's folders over IMAP into the Emails list, fetching only what the list and a
message's page show, incrementally by UIDVALIDITY/UID.

For each folder (MailAccount.imap_folder: names separated by commas) a run reads UIDVALIDITY
and UIDNEXT; when nothing is newer than the folder's last imported UID (its MailSyncState) it
fetches nothing. New messages come in batches of MAIL_FETCH_BATCH: first their size,
BODYSTRUCTURE and the header fields the list shows; then only the text/plain and text/html
parts, each cut at MAIL_MAX_BODY_BYTES, in fetches bounded by MAIL_FETCH_BATCH_BYTES.
Attachments are recorded (name, type, size, section, encoding) and fetched only when someone
opens one (app/mail/attachments.py). Each batch is committed with the UID it reached, so an
interrupted run resumes there. A changed UIDVALIDITY starts that folder over from UID 1, and
Message-IDs already imported are skipped, so nothing is duplicated. One run per account at a
time (a lease on the account row)."""

import imaplib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from imapclient import IMAPClient
from sqlalchemy import insert, or_, select, update

from app.core.db import utcnow
from app.extensions import db
from app.mail import hosts as mail_hosts
from app.mail.authorizations import PURPOSE, stored_password, with_token
from app.mail.models import (
    INBOUND,
    PERSONAL,
    RECEIVED,
    MailAccount,
    MailAttachment,
    MailMessage,
    MailSyncState,
    folder_names,
)
from app.mail.parsing import HEADER_FIELDS, Part, Structure, decode_text, read_headers
from app.mail.parsing import read_structure as structure_of
from app.mail.transport import (
    MailError,
    Server,
    imap_oauth,
    imap_password,
    imap_session,
    security_problem,
)

LEASE = timedelta(minutes=10)
HEADER_BYTES = 65536  # the header fields are cut here (a run of huge headers stays bounded)
HEADERS = f"BODY.PEEK[HEADER.FIELDS ({' '.join(HEADER_FIELDS)})]<0.{HEADER_BYTES}>"
MAILBOX_GONE = "This mailbox was deleted while it was being checked."


class MailboxGone(MailError):
    """The mailbox was deleted (in another tab, by another admin) while a run imported it."""

    def __init__(self):
        super().__init__(MAILBOX_GONE)


class FolderUnopened(MailError):
    """The server would not open a folder the settings name (misspelt, deleted, no rights)."""


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


def folders_of(account: MailAccount) -> list[str]:
    """The folders an account imports (its Folder setting, as `folder_names` reads it)."""
    return folder_names(account.imap_folder)


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


def session(account: MailAccount, work):
    """Run `work(connection)` signed in to the account's mailbox (an IMAPClient; XOAUTH2 as
    the mailbox's address with the authorization's token, refreshed once on NO)."""
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
        with imap_session(server, imap_oauth(account.mailbox_address, token)) as connection:
            return work(connection)

    return with_token(account, PURPOSE, attempt, mailbox=account.mailbox_address)


@dataclass
class FolderState:
    """What EXAMINE said about the folder."""

    uidvalidity: int
    uidnext: int | None
    exists: int


def examine(connection: IMAPClient, folder: str) -> FolderState:
    """Open a folder read-only (IMAPClient sends its name in modified UTF-7)."""
    try:
        state = connection.select_folder(folder, readonly=True)
    except imaplib.IMAP4.abort:
        raise
    except imaplib.IMAP4.error as error:
        reason = str(error).removeprefix("select failed: ")
        raise FolderUnopened(f"The folder “{folder}” could not be opened: {reason}") from error
    return FolderState(
        state.get(b"UIDVALIDITY") or 0, state.get(b"UIDNEXT"), state.get(b"EXISTS") or 0
    )


def test_inbound(account: MailAccount) -> str:
    """Sign in and open each folder: proves server, security, authorization and folders."""

    def work(connection: IMAPClient) -> str:
        opened = []
        for folder in folders_of(account):
            state = examine(connection, folder)
            opened.append(f"“{folder}” ({state.exists} messages)")
        return f"Connection works: signed in to {account.imap_host} and opened {', '.join(opened)}."

    return session(account, work)


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
    """Import the messages that arrived since the last run (raises MailError; MailboxGone when
    the mailbox was deleted meanwhile). Only a mailbox saved with Import into Emails on is
    imported: authorizing to send never imports it. Whoever started the run (a page's Check
    now, Admin > Connections, cron, a worker), its outcome is kept on the account."""
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
        result = session(account, lambda connection: _run(account, connection, progress))
    except MailError as error:
        _finish(account_id, f"Failed: {error.message}", error=error.message)
        raise
    except BaseException:
        _finish(account_id, "Failed unexpectedly.", error="Failed unexpectedly.")
        raise
    _finish(account_id, result.message)
    return result


def _finish(account_id: int, message: str, error: str = "") -> None:
    """Release the run's lease and keep its outcome: its message, and its error ("" after a
    run that worked), which Admin > Connections shows; no sync is due any more (a job that
    retries sets when). Raises MailboxGone when the mailbox was deleted during the run."""
    db.session.rollback()
    account = db.session.get(MailAccount, account_id)
    if account is None:
        raise MailboxGone()
    account.sync_lock_until = None
    account.last_checked_at, account.last_check_message = utcnow(), message[:2000]
    account.last_sync_error, account.next_sync_at = error[:2000], None
    db.session.commit()  # a commit is the point: lease released, outcome kept, even on failure


@dataclass
class FolderPlan:
    """One folder's part of a run: its sync state row, its numbering and the new UIDs."""

    folder: str
    state_id: int
    uidvalidity: int
    uids: list[int]


def _sync_state(account: MailAccount, folder: str) -> MailSyncState:
    state = db.session.scalar(
        select(MailSyncState).where(
            MailSyncState.account_id == account.id, MailSyncState.folder == folder
        )
    )
    if state is None:
        state = MailSyncState(account_id=account.id, folder=folder, last_uid=0)
        db.session.add(state)
    return state


def _plan(account: MailAccount, connection: IMAPClient, folder: str, result) -> FolderPlan:
    """Open the folder, start it over when its UIDVALIDITY changed, list the UIDs after the
    last one imported (none asked for when UIDNEXT says nothing is newer)."""
    found = examine(connection, folder)
    state = _sync_state(account, folder)
    if state.uidvalidity != found.uidvalidity:
        result.resynced = result.resynced or state.uidvalidity is not None
        state.uidvalidity, state.last_uid = found.uidvalidity, 0
    db.session.commit()  # a commit is the point: batches resume from the folder's numbering
    last = state.last_uid or 0
    uids: list[int] = []
    if found.exists and (found.uidnext is None or found.uidnext > last + 1):
        uids = sorted(uid for uid in connection.search(["UID", f"{last + 1}:*"]) if uid > last)
    return FolderPlan(folder, state.id, found.uidvalidity, uids)


def _plans(account: MailAccount, connection: IMAPClient, result) -> tuple[list, list[str], str]:
    """Each folder's plan, why those that would not open did not (one misspelt or deleted
    folder does not stop the others), and the folder left selected ("" after a failed SELECT,
    which leaves none selected: RFC 3501)."""
    plans, unopened, selected = [], [], ""
    for folder in folders_of(account):
        try:
            plans.append(_plan(account, connection, folder, result))
            selected = folder
        except FolderUnopened as error:
            unopened.append(error.message)
            selected = ""
    return plans, unopened, selected


def _run(account: MailAccount, connection: IMAPClient, progress: Progress | None):
    result = FetchResult()
    plans, unopened, selected = _plans(account, connection, result)
    result.found = sum(len(plan.uids) for plan in plans)
    if progress:
        progress.start(result.found)
    for plan in plans:
        if not plan.uids:
            continue
        if selected != plan.folder:
            selected = plan.folder
            if examine(connection, plan.folder).uidvalidity != plan.uidvalidity:
                continue  # renumbered since it was listed: the next run starts it over
        destination = Destination.of(account, plan)
        for batch in _batches(connection, plan.uids):  # one batch's text parts in memory
            _store_batch(destination, batch, result)
            if progress:
                progress.advance(batch.count)
    if unopened:  # the run failed, but what the other folders had is imported
        done = f"{result.message} " if plans else ""
        raise FolderUnopened(f"{done}{' '.join(unopened)} Check the Folder setting.")
    return result


@dataclass
class Incoming:
    """One new message: what its first fetch said, and then its text parts decoded."""

    uid: int
    fields: dict
    structure: Structure
    body_text: str = ""
    body_html: str = ""
    truncated: bool = False

    def text_bytes(self, cap: int) -> int:
        """How many bytes fetching its text parts moves (each at most `cap`)."""
        return sum(min(p.size, cap) for p in (self.structure.plain, self.structure.html) if p)


@dataclass
class Batch:
    """Messages stored together, the UID the folder's import reaches with them and how many
    new UIDs they cover (a message expunged meanwhile is passed over)."""

    messages: list[Incoming]
    last_uid: int
    count: int


def _batches(connection: IMAPClient, uids: list[int]) -> Iterator[Batch]:
    """Batches in UID order of at most MAIL_FETCH_BATCH messages whose text parts add up to
    at most MAIL_FETCH_BATCH_BYTES (a message above that comes alone)."""
    config = current_app.config
    count, limit = max(1, config["MAIL_FETCH_BATCH"]), config["MAIL_FETCH_BATCH_BYTES"]
    cap = config["MAIL_MAX_BODY_BYTES"]
    for start in range(0, len(uids), count):
        chunk = uids[start : start + count]
        messages = _described(connection, chunk)
        current, total, covered = [], 0, 0
        for message in messages:
            size = message.text_bytes(cap)
            if current and total + size > limit:
                _fetch_texts(connection, current, cap)
                yield Batch(current, current[-1].uid, len(current))
                covered += len(current)
                current, total = [], 0
            current.append(message)
            total += size
        _fetch_texts(connection, current, cap)
        yield Batch(current, chunk[-1], len(chunk) - covered)


def _described(connection: IMAPClient, uids: list[int]) -> list[Incoming]:
    """Size, BODYSTRUCTURE and header fields of these messages, in UID order."""
    answer = connection.fetch(uids, ["RFC822.SIZE", "BODYSTRUCTURE", HEADERS])
    messages = []
    for uid in uids:
        data = answer.get(uid)
        if data is None or b"BODYSTRUCTURE" not in data:
            continue  # expunged since the search
        headers = next((v for k, v in data.items() if k.startswith(b"BODY[HEADER")), b"")
        fields = read_headers(headers or b"", data.get(b"RFC822.SIZE") or 0)
        messages.append(Incoming(uid, fields, structure_of(data[b"BODYSTRUCTURE"])))
    return messages


def _fetch_texts(connection: IMAPClient, messages: list[Incoming], cap: int) -> None:
    """Fetch and decode the text parts: one FETCH per shape (the same sections), each part
    cut at `cap` bytes (BODY.PEEK[section]<0.cap>), never an attachment."""
    shapes: dict[tuple, list[Incoming]] = {}
    for message in messages:
        sections = tuple(p.section for p in (message.structure.plain, message.structure.html) if p)
        if sections:
            shapes.setdefault(sections, []).append(message)
    for sections, group in shapes.items():
        items = [f"BODY.PEEK[{section}]<0.{cap}>" for section in sections]
        answer = connection.fetch([m.uid for m in group], items)
        for message in group:
            data = answer.get(message.uid, {})
            message.body_text = _decoded(data, message.structure.plain, cap, message)
            message.body_html = _decoded(data, message.structure.html, cap, message)


def _decoded(data: dict, part: Part | None, cap: int, message: Incoming) -> str:
    if part is None:
        return ""
    name = f"BODY[{part.section}]".encode()
    raw = data.get(name + b"<0>", data.get(name)) or b""
    message.truncated = message.truncated or part.size > cap
    return decode_text(raw, part.encoding, part.charset)


@dataclass(frozen=True)
class Destination:
    """Where a run's messages of one folder go: the account and folder, and the columns every
    imported row shares, read once per folder rather than once per message."""

    account_id: int
    state_id: int
    columns: dict

    @classmethod
    def of(cls, account: MailAccount, plan: FolderPlan) -> "Destination":
        """The destination for one folder of the account."""
        return cls(
            account.id,
            plan.state_id,
            {
                "account_id": account.id,
                "user_id": account.user_id if account.role == PERSONAL else None,
                "direction": INBOUND,
                "status": RECEIVED,
                "status_reason": "",
                "imap_folder": plan.folder,
                "imap_uidvalidity": plan.uidvalidity,
                "attempts": 0,
                "sent_via": "",
            },
        )


def _store_batch(destination: Destination, batch: Batch, result: FetchResult) -> None:
    """Insert the batch's new messages (Message-IDs seen before are skipped: one query per
    batch) and move the folder's import state past the batch, in one transaction."""
    known = _existing(destination, {m.fields["dedupe_key"] for m in batch.messages})
    rows, attachments, now = [], {}, utcnow()
    for message in batch.messages:
        key = message.fields["dedupe_key"]
        if key in known:
            result.duplicates += 1
            continue
        known.add(key)
        if message.structure.attachments:
            attachments[key] = message.structure.attachments
        rows.append(
            {
                **destination.columns,
                **message.fields,
                "body_text": message.body_text,
                "body_html": message.body_html,
                "body_truncated": message.truncated,
                "imap_uid": message.uid,
                "created_at": now,
                "updated_at": now,
            }
        )
    if rows:
        db.session.execute(insert(MailMessage.__table__), rows)  # one executemany
    if attachments:
        _store_attachments(destination, attachments)
    result.imported += len(rows)
    db.session.execute(
        update(MailSyncState.__table__)
        .where(MailSyncState.__table__.c.id == destination.state_id)
        .values(last_uid=batch.last_uid)
    )
    db.session.execute(
        update(MailAccount.__table__)
        .where(MailAccount.__table__.c.id == destination.account_id)
        .values(sync_lock_until=utcnow() + LEASE)
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


def _store_attachments(destination: Destination, attachments: dict[str, list[Part]]) -> None:
    """The attachments' rows, tied to the messages just inserted by their keys."""
    table = MailMessage.__table__
    ids = db.session.execute(
        select(table.c.dedupe_key, table.c.id).where(
            table.c.account_id == destination.account_id,
            table.c.dedupe_key.in_(list(attachments)),
        )
    )
    files = [
        {
            "message_id": message_id,
            "filename": part.filename or "(unnamed)",
            "content_type": part.content_type,
            "size": part.decoded_size,
            "imap_section": part.section,
            "encoding": part.encoding,
        }
        for key, message_id in ids
        for part in attachments[key]
    ]
    db.session.execute(insert(MailAttachment.__table__), files)


def mailbox_name(account: MailAccount) -> str:
    """How the CLI and Admin > Connections name a mailbox: an inbound mailbox's name, else
    the address it signs in as, else its owner's username (never its internal slot)."""
    named = account.name or account.authorized_email or account.username
    if named:
        return named
    return account.user.username if account.user else account.role.capitalize()


def inbound_accounts() -> list[MailAccount]:
    """Mailboxes saved with Import into Emails on (for `flask mail fetch` and the task
    queue's jobs), whether or not they can sign in now (the callers skip and name those whose
    authorization is dead)."""
    return list(
        db.session.scalars(
            select(MailAccount)
            .where(MailAccount.import_enabled.is_(True), MailAccount.imap_host != "")
            .order_by(MailAccount.id)
        )
    )
