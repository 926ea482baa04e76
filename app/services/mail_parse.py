"""Read what the Emails list needs from a raw message — From, To, Cc, Subject, Date,
Message-ID, the first text and HTML bodies, attachment names and sizes — quickly.

The MIME structure is split with bytes operations (headers, boundaries, transfer encodings in
C through binascii), which is an order of magnitude faster than the standard library's
feed parser; any message this splitter does not understand is read by the standard library
instead, so odd mail costs time, never data."""

import binascii
import hashlib
import re
from datetime import datetime, timedelta, timezone
from email import policy
from email.header import decode_header, make_header
from email.parser import BytesParser
from email.utils import parsedate_to_datetime

MAX_DEPTH = 8
_DATE = re.compile(
    r"^\s*(?:[A-Za-z]{3},\s*)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+"
    r"(\d{1,2}):(\d{2})(?::(\d{2}))?\s+([+-]\d{4})\s*(?:\(.*\))?$"
)
_MONTHS = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}
_ZONES: dict[str, timezone] = {}
_FOLD = re.compile(r"\r?\n[ \t]+")
_PARAM = re.compile(r';\s*([A-Za-z0-9_.*-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]*)')
_STDLIB = BytesParser(policy=policy.compat32)
ADDRESS_HEADERS = (("from_address", "from"), ("to_addresses", "to"), ("cc_addresses", "cc"))
PART_HEADERS = frozenset({"content-type", "content-disposition", "content-transfer-encoding"})
MESSAGE_HEADERS = PART_HEADERS | {"from", "to", "cc", "subject", "date", "message-id"}


class _Unsupported(Exception):
    """The fast path gives up; the standard library reads the message."""


def _clean(text: str) -> str:
    return text.replace("\x00", "")


def decode_words(value: str) -> str:
    """A header value with RFC 2047 encoded words decoded, folding whitespace collapsed."""
    if "=?" not in value:
        return _clean(" ".join(value.split()) if "\n" in value or "\t" in value else value)
    try:
        return _clean(str(make_header(decode_header(value))))
    except (ValueError, LookupError, UnicodeError):
        return _clean(value)


def _split_head(raw: bytes) -> tuple[bytes, bytes]:
    end = raw.find(b"\r\n\r\n")
    if end >= 0:
        return raw[:end], raw[end + 4 :]
    end = raw.find(b"\n\n")
    if end >= 0:
        return raw[:end], raw[end + 2 :]
    if raw.startswith((b"\r\n", b"\n")):
        return b"", raw.lstrip(b"\r\n")
    return raw, b""


def _headers(head: bytes, wanted: frozenset[str]) -> dict[str, str]:
    """The first value of each wanted header (lower-case names), unfolded."""
    text = head.decode("utf-8", "replace")
    if "\n " in text or "\n\t" in text:
        text = _FOLD.sub(" ", text)
    headers: dict[str, str] = {}
    for line in text.splitlines():
        name, colon, value = line.partition(":")
        key = name.lower()
        if colon and key in wanted and key not in headers:
            headers[key] = value.strip()
    return headers


def _params(value: str) -> tuple[str, dict[str, str]]:
    if ";" not in value:
        return value.strip().lower(), {}
    main = value.split(";", 1)[0].strip().lower()
    if "*" in value:
        raise _Unsupported  # RFC 2231 continuations: let the standard library decode them
    params = {}
    for name, raw in _PARAM.findall(value):
        if raw.startswith('"'):
            raw = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        params.setdefault(name.lower(), raw)
    return main, params


def _transfer_decode(body: bytes, encoding: str) -> bytes:
    if encoding == "base64":
        try:
            return binascii.a2b_base64(body)
        except binascii.Error:
            raise _Unsupported from None
    if encoding == "quoted-printable":
        return binascii.a2b_qp(body)
    return body


def _text(payload: bytes, charset: str) -> str:
    payload = payload.replace(b"\r\n", b"\n")
    try:
        return _clean(payload.decode(charset or "utf-8", errors="replace"))
    except LookupError:
        return _clean(payload.decode("utf-8", errors="replace"))


def _multipart(body: bytes, boundary: str, found: dict, depth: int) -> None:
    if not boundary or depth > MAX_DEPTH:
        raise _Unsupported
    pieces = (b"\n" + body).split(b"\n--" + boundary.encode("ascii", "replace"))
    closing = next((i for i, p in enumerate(pieces) if i and p.startswith(b"--")), None)
    if closing is None:
        raise _Unsupported  # no closing delimiter: malformed
    for piece in pieces[1:closing]:
        start = piece.find(b"\n") + 1  # past the rest of the delimiter line
        if start == 0 or piece[:start].strip():
            raise _Unsupported  # the boundary was only a prefix of a longer line
        part = piece[start:]
        _part(part[:-1] if part.endswith(b"\r") else part, found, depth + 1)


def _part(raw: bytes, found: dict, depth: int, headers: dict | None = None) -> None:
    head, body = _split_head(raw)
    headers = headers if headers is not None else _headers(head, PART_HEADERS)
    kind, params = _params(headers.get("content-type", "text/plain"))
    if kind.startswith("multipart/"):
        _multipart(body, params.get("boundary", ""), found, depth)
        return
    disposition, disposition_params = _params(headers.get("content-disposition", ""))
    filename = disposition_params.get("filename") or params.get("name")
    encoding = headers.get("content-transfer-encoding", "7bit").strip().lower()
    if filename or disposition == "attachment" or kind == "message/rfc822":
        size = len(_transfer_decode(body, encoding))
        name = decode_words(filename) if filename else ""
        found["attachments"].append((name[:255] or "(unnamed)", kind[:127], size))
    elif kind == "text/plain" and not found["body_text"]:
        found["body_text"] = _text(_transfer_decode(body, encoding), params.get("charset", ""))
    elif kind == "text/html" and not found["body_html"]:
        found["body_html"] = _text(_transfer_decode(body, encoding), params.get("charset", ""))


def _date(value: str) -> datetime | None:
    match = _DATE.match(value)
    if match:  # the usual "Thu, 01 Jan 2026 00:05:00 +0000", without the slow general parser
        day, month, year, hour, minute, second, zone = match.groups()
        offset = _ZONES.get(zone)
        if offset is None:
            sign = -1 if zone[0] == "-" else 1
            offset = _ZONES.setdefault(
                zone, timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5])))
            )
        try:
            return datetime(
                int(year),
                _MONTHS[month.lower()],
                int(day),
                int(hour),
                int(minute),
                int(second or 0),
                tzinfo=offset,
            )
        except (KeyError, ValueError):
            pass
    try:
        return parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError, IndexError):
        return None


def _fields(headers: dict[str, str], size: int) -> dict:
    message_id = decode_words(headers.get("message-id", "")).strip()
    found = {key: decode_words(headers.get(name, "")) for key, name in ADDRESS_HEADERS}
    found.update(
        subject=decode_words(headers.get("subject", "")),
        sent_at=_date(headers.get("date", "")),
        message_id_header=message_id,
        size=size,
        body_text="",
        body_html="",
        attachments=[],
    )
    identity = message_id or "|".join(
        (found["from_address"], found["subject"], headers.get("date", ""), str(size))
    )
    found["dedupe_key"] = hashlib.sha256(identity.encode("utf-8", "replace")).hexdigest()
    return found


def parse_message(raw: bytes, size: int, headers_only: bool = False) -> dict:
    """The fields of one message (see the module docstring); never raises on odd mail."""
    head, _body = _split_head(raw)
    headers = _headers(head, MESSAGE_HEADERS)
    found = _fields(headers, size)
    if headers_only:
        found["body_text"] = (
            f"(This message is {size / 1048576:.1f} MB, larger than the import limit; "
            "only its headers were imported.)"
        )
        return found
    try:
        _part(raw, found, 0, headers)
    except (_Unsupported, ValueError, UnicodeError):
        found.update(body_text="", body_html="", attachments=[])
        _stdlib_bodies(raw, found)
    return found


def _stdlib_bodies(raw: bytes, found: dict) -> None:
    """The standard library's reading of the bodies and attachments (the slow, sure path)."""
    for part in _STDLIB.parsebytes(raw).walk():
        if part.is_multipart():
            continue
        filename = part.get_filename()
        kind = part.get_content_type()
        disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower()
        if filename or disposition == "attachment" or kind == "message/rfc822":
            payload = part.get_payload(decode=True) or b""
            name = decode_words(str(filename)) if filename else ""
            found["attachments"].append((name[:255] or "(unnamed)", kind[:127], len(payload)))
        elif kind in ("text/plain", "text/html"):
            key = "body_text" if kind == "text/plain" else "body_html"
            if not found[key]:
                found[key] = _text(part.get_payload(decode=True) or b"", part.get_content_charset())
