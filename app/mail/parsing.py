"""Read what the Emails list needs from what IMAP sends before any body: the header fields
(From, To, Cc, Subject, Date, Message-ID), the BODYSTRUCTURE (which parts are the text and HTML
bodies, which are attachments, with their sections, encodings and sizes), and then the text
parts alone, decoded. An attachment's bytes are never read here: it is fetched on demand.

The standard library's `email` package reads the headers (`policy.default`, with the headers
the list shows kept as written) and undoes the transfer encodings; the bodies are chosen the
way its `get_body` chooses them, from IMAPClient's parsed BODYSTRUCTURE. Odd mail never
raises: headers the library's parser trips on are read again as plain text."""

import functools
import hashlib
import logging
import re
from dataclasses import dataclass, field
from email import policy
from email.errors import MessageError
from email.header import decode_header, make_header
from email.headerregistry import HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser
from email.utils import collapse_rfc2231_value, decode_params, parsedate_to_datetime, unquote

log = logging.getLogger(__name__)
ADDRESS_HEADERS = (("from_address", "from"), ("to_addresses", "to"), ("cc_addresses", "cc"))
# The header fields the list shows or keys on: all the import asks the server for.
HEADER_FIELDS = ("FROM", "TO", "CC", "SUBJECT", "DATE", "MESSAGE-ID")
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
    parses a header again at every look-up. It cuts the header parse time of Outlook-shaped
    mail 2.7x."""
    return _parsed_header(name, value) if len(value) <= 998 else AS_WRITTEN(name, value)


READING = policy.default.clone(header_factory=header_object)
# Every header as text: for the headers the library's parser trips on.
AS_TEXT = policy.default.clone(header_factory=HeaderRegistry(use_default_map=False))
# What the library raises on malformed mail (Python versions differ in which bugs they have).
LIBRARY_ERRORS = (MessageError, ValueError, LookupError, TypeError, AttributeError, RecursionError)
TOKEN = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,80}$")
NESTING = 64  # deeper BODYSTRUCTURE nesting is not walked (the parts inside are not listed)


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
    )
    identity = message_id or "|".join((found["from_address"], found["subject"], date, str(size)))
    found["dedupe_key"] = hashlib.sha256(identity.encode("utf-8", "replace")).hexdigest()
    return found


def read_headers(raw: bytes, size: int) -> dict:
    """The header fields of a message (its HEADER.FIELDS), its size (RFC822.SIZE) and its
    de-duplication key; never raises on odd headers."""
    try:
        return _fields(BytesHeaderParser(policy=READING).parsebytes(raw), size)
    except LIBRARY_ERRORS:
        log.warning("headers the library cannot parse; reading them as text", exc_info=True)
        return _fields(BytesHeaderParser(policy=AS_TEXT).parsebytes(raw), size)


def decode_text(raw: bytes, encoding: str, charset: str) -> str:
    """A text part's bytes as the server keeps them, decoded: the transfer encoding undone by
    the library (lenient with broken base64), then the charset (UTF-8 when absent or unknown);
    line ends as LF, NULs dropped. A part cut short by the body cap decodes as far as it goes."""
    part = Message()
    if TOKEN.match(encoding or ""):
        part["Content-Transfer-Encoding"] = encoding
    part.set_payload(raw.decode("ascii", "surrogateescape"))
    try:
        payload = part.get_payload(decode=True) or b""
    except LIBRARY_ERRORS:
        payload = raw
    try:
        text = payload.decode(charset or "utf-8", errors="replace")
    except LookupError:  # not a charset Python knows, or not a text codec (zlib)
        text = payload.decode("utf-8", errors="replace")
    return _clean(text.replace("\r\n", "\n"))


# --- BODYSTRUCTURE ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One leaf of a BODYSTRUCTURE: where it sits (`section`, as BODY[section] names it),
    its type, transfer encoding, size on the server (encoded) and file name."""

    section: str
    content_type: str
    encoding: str
    size: int
    filename: str = ""
    charset: str = ""
    disposition: str = ""

    @property
    def decoded_size(self) -> int:
        """The size once the transfer encoding is undone: exact for anything but base64, and
        for base64 of the usual 76-column lines within 2 bytes (its padding is not counted)."""
        if self.encoding != "base64":
            return self.size
        lines = -(-self.size // 78)  # 76 characters and CRLF
        return max(0, (self.size - 2 * lines) * 3 // 4)


@dataclass
class Structure:
    """What the import takes from a BODYSTRUCTURE: the text and HTML bodies (as `get_body`
    would choose them) and the parts listed as attachments, in order."""

    plain: Part | None = None
    html: Part | None = None
    attachments: list[Part] = field(default_factory=list)


def _text(value) -> str:
    if isinstance(value, bytes):
        return _clean(value.decode("utf-8", "replace"))
    return "" if value is None else _clean(str(value))


def _params(raw) -> dict[str, object]:
    """A BODYSTRUCTURE parameter list ("name" "value" ...) with RFC 2231 continuations and
    charsets joined by the library's own `decode_params`, keyed in lower case."""
    if not isinstance(raw, tuple):
        return {}
    pairs = [(_text(raw[i]), _text(raw[i + 1])) for i in range(0, len(raw) - 1, 2)]
    try:
        decoded = decode_params([("", ""), *pairs])[1:]
    except LIBRARY_ERRORS:
        decoded = pairs
    return {name.lower(): value for name, value in decoded}


def _param_text(value) -> str:
    """A parameter's value as text: RFC 2231 charsets applied, RFC 2047 encoded words decoded."""
    if isinstance(value, tuple):
        value = (value[0], value[1], unquote(value[2]))
    else:
        value = unquote(value or "")
    text = collapse_rfc2231_value(value)
    if "=?" in text:
        try:
            text = str(make_header(decode_header(text)))
        except LIBRARY_ERRORS:
            pass
    return _clean(" ".join(text.split()))


def _disposition(value) -> tuple[str, dict]:
    if isinstance(value, tuple) and value:
        return _text(value[0]).lower(), _params(value[1] if len(value) > 1 else None)
    return "", {}


def _leaf(body, section: str) -> Part:
    """A single part; extension data sits after the lines (text/*) or the envelope, body and
    lines (message/rfc822)."""
    maintype, subtype = _text(body[0]).lower(), _text(body[1]).lower()
    params = _params(body[2])
    extension = {"text": 8, "message": 10 if subtype == "rfc822" else 7}.get(maintype, 7)
    disposition, disposition_params = _disposition(
        body[extension + 1] if len(body) > extension + 1 else None
    )
    name = disposition_params.get("filename") or params.get("name") or ""
    size = body[6] if len(body) > 6 and isinstance(body[6], int) else 0
    return Part(
        section=section,
        content_type=f"{maintype}/{subtype}"[:127],
        encoding=_text(body[5]).lower()[:40],
        size=size,
        filename=_param_text(name)[:255],
        charset=_param_text(params.get("charset", "")),
        disposition=disposition,
    )


def _walk(body, section: str, depth: int = 0):
    """(part, its multipart ancestors' types) for every leaf, depth first, in order; a
    message/rfc822 is a leaf (its inside is not walked)."""
    if not getattr(body, "is_multipart", False):
        yield _leaf(body, section or "1")
        return
    if depth > NESTING:
        return
    for number, child in enumerate(body[0], 1):
        yield from _walk(child, f"{section}.{number}" if section else str(number), depth + 1)


def _body_candidates(body, section: str, depth: int = 0):
    """The leaves `get_body` would consider: all inside a multipart, only the root (the
    `start` part, else the first) inside multipart/related; never one disposed as an
    attachment."""
    if not getattr(body, "is_multipart", False):
        part = _leaf(body, section or "1")
        if part.disposition != "attachment":
            yield part
        return
    if depth > NESTING:
        return
    children = list(enumerate(body[0], 1))
    if _text(body[1]).lower() == "related" and children:
        start = _params(body[2] if len(body) > 2 else None).get("start")
        children = [
            c for c in children if start and _content_id(c[1]) == _param_text(start)
        ] or children[:1]
    for number, child in children:
        yield from _body_candidates(
            child, f"{section}.{number}" if section else str(number), depth + 1
        )


def _content_id(body) -> str:
    return "" if getattr(body, "is_multipart", False) else _text(body[3])


def _is_listed(part: Part) -> bool:
    """Whether the Emails list shows the part as an attachment: it has a file name, says it
    is one, or is an attached message."""
    return bool(
        part.filename or part.disposition == "attachment" or part.content_type == "message/rfc822"
    )


def read_structure(body) -> Structure:
    """The bodies and attachments of a message from IMAPClient's BODYSTRUCTURE (BodyData);
    one too short or of the wrong shape (a server's bug) gives neither, never an error."""
    try:
        return _read_structure(body)
    except (IndexError, TypeError, ValueError, AttributeError):
        log.warning("a BODYSTRUCTURE of an unexpected shape; keeping the headers", exc_info=True)
        return Structure()


def _read_structure(body) -> Structure:
    found = Structure()
    for part in _body_candidates(body, ""):
        if part.content_type == "text/plain" and found.plain is None:
            found.plain = part
        elif part.content_type == "text/html" and found.html is None:
            found.html = part
    bodies = {p.section for p in (found.plain, found.html) if p is not None}
    found.attachments = [p for p in _walk(body, "") if p.section not in bodies and _is_listed(p)]
    return found
