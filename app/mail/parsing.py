"""Read what the Emails list needs from a raw message: From, To, Cc, Subject, Date, Message-ID,
the text and HTML bodies, and each attachment's name, type and size (its bytes are not kept).

The standard library's `email` package reads the message (`policy.default`): decoded headers,
`get_body` for the bodies, `iter_attachments` for the attachments. Odd mail never raises: a
message whose MIME headers the library's parser trips on is read again with every header as
text, and one it cannot read at all keeps its headers."""

import functools
import hashlib
import logging
from email import message_from_bytes, policy
from email.errors import MessageError
from email.headerregistry import HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime

log = logging.getLogger(__name__)
ADDRESS_HEADERS = (("from_address", "from"), ("to_addresses", "to"), ("cc_addresses", "cc"))
# policy.default, except that the headers the list shows or keys on are read as text (encoded
# words decoded, lines unfolded) and kept as written: "bbb@ddd.com (John X. Doe)" keeps its
# name, an odd Message-ID stays whole, and de-duplication keys stay what they were.
AS_WRITTEN = HeaderRegistry()
for _name in ("from", "to", "cc", "date", "message-id"):
    AS_WRITTEN.map_to_type(_name, UnstructuredHeader)


@functools.lru_cache(maxsize=256)
def _parsed_header(name: str, value: str):
    return AS_WRITTEN(name, value)


def header_object(name: str, value: str):
    """AS_WRITTEN's header object, a short value parsed once (an LRU cache): policy.default
    parses a header again at every look-up, and the parser and get_body look up each part's
    Content-Type a dozen times. It cuts the parse time of Outlook-shaped mail 2.7x."""
    return _parsed_header(name, value) if len(value) <= 998 else AS_WRITTEN(name, value)


READING = policy.default.clone(header_factory=header_object)
# Every header as text: for the message whose MIME headers the library's parser trips on.
AS_TEXT = policy.default.clone(header_factory=HeaderRegistry(use_default_map=False))
# An attached message's size: its bytes as sent (CRLF line ends, headers as they came).
WRITING = policy.SMTP.clone(header_factory=AS_WRITTEN, refold_source="none")
# What the library raises on malformed mail (Python versions differ in which bugs they have):
# a broken RFC 2231 parameter, a header it cannot parse, MIME nested past the recursion limit.
LIBRARY_ERRORS = (MessageError, ValueError, LookupError, TypeError, AttributeError, RecursionError)
UNREADABLE = "(The body of this message could not be read; only its headers were imported.)"


def _clean(text: str) -> str:
    """Without NUL characters, which the database refuses."""
    return text.replace("\x00", "") if "\x00" in text else text


def _header(message: EmailMessage, name: str) -> str:
    """The first value of a header as the library decoded it, each run of whitespace (where
    it was folded) one space; "" when absent."""
    value = message.get(name)
    return " ".join(_clean(str(value)).split()) if value is not None else ""


def _sent_at(date: str):
    """The Date header as a datetime (one without a zone counts as UTC when stored), or None."""
    try:
        return parsedate_to_datetime(date) if date else None
    except (TypeError, ValueError, IndexError):
        return None


def _fields(message: EmailMessage, size: int) -> dict:
    """The header fields, the size and the de-duplication key: the Message-ID, or for mail
    without one its sender, subject, date and size."""
    message_id, date = _header(message, "message-id"), _header(message, "date")
    found = {key: _header(message, name) for key, name in ADDRESS_HEADERS}
    found.update(
        subject=_header(message, "subject"),
        sent_at=_sent_at(date),
        message_id_header=message_id,
        size=size,
        body_text="",
        body_html="",
        attachments=[],
    )
    identity = message_id or "|".join((found["from_address"], found["subject"], date, str(size)))
    found["dedupe_key"] = hashlib.sha256(identity.encode("utf-8", "replace")).hexdigest()
    return found


def _text(part: EmailMessage) -> str:
    """A text part decoded: its charset, else UTF-8 (also for a charset Python does not know);
    line ends as LF."""
    payload = part.get_payload(decode=True) or b""
    try:
        text = payload.decode(part.get_content_charset("utf-8"), errors="replace")
    except LookupError:
        text = payload.decode("utf-8", errors="replace")
    return _clean(text.replace("\r\n", "\n"))


def _body(message: EmailMessage, subtype: str) -> str:
    """The message's text/`subtype` body as `get_body` chooses it, or ""."""
    part = message.get_body(preferencelist=(subtype,))
    return _text(part) if part is not None else ""


def _is_listed(part: EmailMessage) -> bool:
    """Whether the Emails list shows the part as an attachment: it has a file name, says it
    is one, or is an attached message."""
    return bool(
        part.get_filename()
        or part.get_content_disposition() == "attachment"
        or part.get_content_type() == "message/rfc822"
    )


def _attachment(part: EmailMessage) -> tuple[str, str, int]:
    """(name, type, size): the size once the transfer encoding is undone (an attached
    message: its bytes as sent); the decoded bytes are dropped at once."""
    if part.is_multipart():  # message/rfc822
        size = len(part.get_payload(0).as_bytes(policy=WRITING))
    else:
        size = len(part.get_payload(decode=True) or b"")
    name = _clean(part.get_filename() or "").strip()[:255]
    return name or "(unnamed)", part.get_content_type()[:127], size


def _candidates(part: EmailMessage, depth: int = 0):
    """The parts `iter_attachments` tells from the bodies; a multipart among them (the mixed
    part of a signed message) is read the same way."""
    for attachment in part.iter_attachments():
        if attachment.get_content_maintype() != "multipart":
            yield attachment
        elif depth < 8:
            yield from _candidates(attachment, depth + 1)


def _attachments(message: EmailMessage) -> list[tuple[str, str, int]]:
    """Each attachment, in order. A message that is not multipart is its own only candidate
    (a scanner's PDF, a message forwarded whole as message/rfc822)."""
    multipart = message.get_content_maintype() == "multipart"
    parts = _candidates(message) if multipart else [message]
    return [_attachment(part) for part in parts if _is_listed(part)]


def _read_as_text(raw: bytes, found: dict) -> None:
    """Bodies and attachments with every header read AS_TEXT, where get_body and
    iter_attachments cannot work: the first text/plain and text/html parts, and every other
    part `_is_listed`."""
    for part in message_from_bytes(raw, policy=AS_TEXT).walk():
        if part.is_multipart():
            continue
        kind = part.get_content_type()
        if _is_listed(part):
            found["attachments"].append(_attachment(part))
        elif kind in ("text/plain", "text/html"):
            key = "body_text" if kind == "text/plain" else "body_html"
            found[key] = found[key] or _text(part)


def parse_message(raw: bytes, size: int, headers_only: bool = False) -> dict:
    """The fields of one message (see the module docstring); never raises on odd mail.
    `headers_only`: a message above MAIL_MAX_MESSAGE_BYTES, of which only the headers came."""
    if headers_only:
        found = _fields(BytesHeaderParser(policy=AS_TEXT).parsebytes(raw), size)
        found["body_text"] = (
            f"(This message is {size / 1048576:.1f} MB, larger than the import limit; "
            "only its headers were imported.)"
        )
        return found
    try:
        message = message_from_bytes(raw, policy=READING)
        found = _fields(message, size)
        found.update(
            body_text=_body(message, "plain"),
            body_html=_body(message, "html"),
            attachments=_attachments(message),
        )
        return found
    except LIBRARY_ERRORS:
        log.warning("MIME headers the library cannot parse; reading them as text", exc_info=True)
    found = _fields(BytesHeaderParser(policy=AS_TEXT).parsebytes(raw), size)
    try:
        _read_as_text(raw, found)
    except LIBRARY_ERRORS:
        log.warning("a message body the library cannot read; keeping its headers", exc_info=True)
        found.update(body_text=UNREADABLE, body_html="", attachments=[])
    return found
