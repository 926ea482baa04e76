"""What the stand-in's mail servers keep: the outbox (every message accepted over SMTP or Graph
sendMail) and helpers to build messages for seeding mailboxes."""

from __future__ import annotations

import itertools
import re
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from .store import STORE

MAILBOX_NAME = re.compile(r"^[a-z0-9][a-z0-9._+-]{0,63}@[a-z0-9.-]{1,190}$")


@dataclass
class Sent:
    """One message the stand-in accepted for delivery."""

    id: int
    via: str  # smtp | graph
    auth_user: str
    mail_from: str
    rcpt_tos: list[str]
    subject: str
    raw: str = ""
    graph_message: dict = field(default_factory=dict)
    received_at: float = field(default_factory=time.time)


class Outbox:
    """Messages accepted by SMTP DATA or POST /me/sendMail, in arrival order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[Sent] = []
        self._ids = itertools.count(1)

    def add(self, **fields: object) -> Sent:
        """Keep one accepted message."""
        with self._lock:
            sent = Sent(id=next(self._ids), **fields)
            self._messages.append(sent)
            return sent

    def all(self) -> list[dict]:
        """Every kept message, as JSON-ready dicts."""
        with self._lock:
            return [asdict(m) for m in self._messages]

    def clear(self) -> None:
        """Forget every message."""
        with self._lock:
            self._messages.clear()


OUTBOX = Outbox()
STORE.on_reset(OUTBOX.clear)


def mailbox_name(value: object) -> str | None:
    """A mailbox (account email) name safe to use as a folder name, or None."""
    name = str(value or "").strip().lower()
    return name if MAILBOX_NAME.match(name) and ".." not in name else None


def build_message(spec: dict, index: int = 0) -> bytes:
    """An RFC 5322 message (CRLF line ends) from a seed spec: from, to, cc, subject, text,
    html, date (ISO), message_id, attachments [{name, size, content_type}]."""
    message = EmailMessage()
    message["From"] = spec.get("from") or "Megan Bowen <megan@contoso.example>"
    message["To"] = spec.get("to") or "adele@contoso.example"
    if spec.get("cc"):
        message["Cc"] = spec["cc"]
    message["Subject"] = str(spec.get("subject") or f"Seeded message {index + 1}")
    date = spec.get("date")
    when = (
        datetime.fromisoformat(date)
        if date
        else datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=index)
    )
    message["Date"] = format_datetime(when if when.tzinfo else when.replace(tzinfo=UTC))
    message["Message-ID"] = spec.get("message_id") or make_msgid(
        idstring=f"seed{index}", domain="standin.example"
    )
    message.set_content(str(spec.get("text") or f"Hello, this is message {index + 1}.\n"))
    if spec.get("html"):
        message.add_alternative(str(spec["html"]), subtype="html")
    for attachment in spec.get("attachments") or []:
        size = int(attachment.get("size") or 0)
        maintype, _, subtype = str(
            attachment.get("content_type") or "application/octet-stream"
        ).partition("/")
        message.add_attachment(
            bytes(i % 251 for i in range(size)),
            maintype=maintype,
            subtype=subtype or "octet-stream",
            filename=str(attachment.get("name") or "attachment.bin"),
        )
    return to_crlf(message.as_bytes())


def build_many(template: dict, start: int, count: int) -> list[bytes]:
    """`count` messages from one template, numbered from `start`: built once, then only the
    subject, date and Message-ID change (seeding 10,000 messages takes a moment, not a minute)."""
    if count <= 0:
        return []
    marker = build_message(
        {
            **template,
            "subject": "SEED-SUBJECT-MARK",
            "message_id": "<SEED-ID-MARK@standin.example>",
            "date": "2000-01-01T00:00:00+00:00",
        }
    )
    stamp = format_datetime(datetime(2000, 1, 1, tzinfo=UTC)).encode()
    subject = str(template.get("subject") or "Seeded message {n}")
    base = datetime(2026, 1, 1, tzinfo=UTC)
    batch = secrets.token_hex(6)
    out = []
    for index in range(start, start + count):
        when = format_datetime(base + timedelta(minutes=index)).encode()
        out.append(
            marker.replace(
                b"SEED-SUBJECT-MARK",
                subject.replace("{n}", str(index + 1)).encode("ascii", "replace"),
            )
            .replace(b"SEED-ID-MARK", f"seed{index}.{batch}".encode())
            .replace(stamp, when, 1)
        )
    return out


def to_crlf(raw: bytes) -> bytes:
    """The message with CRLF line ends, as it travels over IMAP."""
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
