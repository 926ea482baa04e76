"""Open an attachment of a message: one written in Compose streams the bytes kept with it; an
imported one is fetched from the mailbox on demand (BODY.PEEK[section] of the message's UID,
after checking the folder's UIDVALIDITY) and streamed with its transfer encoding undone.

Memory: IMAPClient returns the part's encoded bytes whole, so they are held once (a 25 MB file
sent as base64 is about 34 MB); decoding then walks them in CHUNK-sized slices of a memoryview,
so at most one chunk more is alive at a time and the decoded file is never assembled."""

import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass

from imapclient import IMAPClient
from sqlalchemy import select

from app.extensions import db
from app.mail.importing import examine, session
from app.mail.models import MailAttachment, MailMessage
from app.mail.transport import MailError

CHUNK = 64 * 1024
GONE = "This message is no longer in the mailbox, so its attachment can't be opened."
NOT_KEPT = (
    "This attachment can't be opened: it was imported before the app noted where attachments "
    "sit in a message."
)
SECTION = re.compile(r"^[1-9][0-9]{0,5}(\.[1-9][0-9]{0,5}){0,30}$")
CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")
BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
NOT_BASE64 = bytes(c for c in range(256) if c not in BASE64_ALPHABET)


class AttachmentGone(MailError):
    """The attachment cannot be had: its message left the mailbox (or it was never placed)."""


@dataclass
class Download:
    """What the download response sends: a name, a type, the length when known, the bytes."""

    filename: str
    content_type: str
    length: int | None
    chunks: Iterator[bytes]


def attachment_of(message: MailMessage, attachment_id: int) -> MailAttachment | None:
    """The attachment with this id when it belongs to the message, else None."""
    return db.session.scalar(
        select(MailAttachment).where(
            MailAttachment.id == attachment_id, MailAttachment.message_id == message.id
        )
    )


def open_attachment(message: MailMessage, attachment: MailAttachment) -> Download:
    """The attachment's bytes as a stream (raises AttachmentGone, or MailError when the
    mailbox cannot be reached)."""
    kind = attachment.content_type.lower()
    kind = kind if CONTENT_TYPE.match(kind) else "application/octet-stream"
    content = attachment.content  # deferred: loaded only here
    if content is not None:
        return Download(attachment.filename, kind, len(content), _slices(memoryview(content)))
    encoded = _fetch(message, attachment)
    encoding = attachment.encoding.lower()
    length = len(encoded) if encoding not in ("base64", "quoted-printable") else None
    return Download(attachment.filename, kind, length, decoded_chunks(encoded, encoding))


def _fetch(message: MailMessage, attachment: MailAttachment) -> bytes:
    """The part's bytes as the server keeps them (encoded), from the message's folder."""
    section = attachment.imap_section
    if not SECTION.match(section or "") or message.account is None or not message.imap_uid:
        raise AttachmentGone(NOT_KEPT)

    def work(connection: IMAPClient) -> bytes:
        try:
            state = examine(connection, message.imap_folder)
        except MailError as error:  # the folder itself is gone
            raise AttachmentGone(GONE) from error
        if state.uidvalidity != message.imap_uidvalidity:
            raise AttachmentGone(GONE)  # renumbered: this UID may now be another message
        answer = connection.fetch([message.imap_uid], [f"BODY.PEEK[{section}]"])
        data = answer.get(message.imap_uid)
        if not data:
            raise AttachmentGone(GONE)  # expunged
        return data.get(f"BODY[{section}]".encode()) or b""

    return session(message.account, work)


def _slices(view: memoryview) -> Iterator[bytes]:
    for start in range(0, len(view), CHUNK):
        yield bytes(view[start : start + CHUNK])


def decoded_chunks(encoded: bytes, encoding: str) -> Iterator[bytes]:
    """The bytes with their transfer encoding undone, a chunk at a time (base64 and
    quoted-printable decoded; 7bit, 8bit and binary as they are)."""
    view = memoryview(encoded)
    if encoding == "base64":
        return _base64(view)
    if encoding == "quoted-printable":
        return _quoted_printable(view)
    return _slices(view)


def _base64(view: memoryview) -> Iterator[bytes]:
    """Line ends, padding and stray characters dropped; whole 4-character groups decoded,
    the rest carried to the next chunk."""
    carry = b""
    for start in range(0, len(view), CHUNK):
        piece = carry + bytes(view[start : start + CHUNK]).translate(None, NOT_BASE64)
        usable = len(piece) - len(piece) % 4
        if usable:
            yield binascii.a2b_base64(piece[:usable])
        carry = piece[usable:]
    if len(carry) > 1:  # a last group of 2 or 3 characters: its padding was dropped
        yield binascii.a2b_base64(carry + b"=" * (-len(carry) % 4))


def _quoted_printable(view: memoryview) -> Iterator[bytes]:
    """Decoded up to each chunk's last line end (an escape never spans a line end); a chunk
    without one keeps a trailing escape whole for the next."""
    carry = b""
    for start in range(0, len(view), CHUNK):
        piece = carry + bytes(view[start : start + CHUNK])
        cut = piece.rfind(b"\n") + 1
        if cut == 0:
            cut = len(piece) - (2 if b"=" in piece[-2:] else 0)
        yield binascii.a2b_qp(piece[:cut])
        carry = piece[cut:]
    if carry:
        yield binascii.a2b_qp(carry)
