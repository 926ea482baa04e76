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
_BASE64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
ADDRESS_HEADERS = (("from_address", "from"), ("to_addresses", "to"), ("cc_addresses", "cc"))
PART_HEADERS = frozenset({"content-type", "content-disposition", "content-transfer-encoding"})
MESSAGE_HEADERS = PART_HEADERS | {"from", "to", "cc", "subject", "date", "message-id"}


class _Unsupported(Exception):
    """The fast path gives up; the standard library reads the message."""


def _clean(text: str) -> str:
    return text.replace("\x00", "") if "\x00" in text else text


def decode_words(value: str) -> str:
    """A header value with RFC 2047 encoded words decoded, folding whitespace collapsed."""
    if "=?" not in value:
        return _clean(" ".join(value.split()) if "\n" in value or "\t" in value else value)
    try:
        return _clean(str(make_header(decode_header(value))))
    except (ValueError, LookupError, UnicodeError):
        return _clean(value)


def _split_head(raw: bytes, start: int = 0, end: int | None = None) -> tuple[int, int]:
    """Where the header block of raw[start:end] ends and its body begins (offsets, no copies)."""
    end = len(raw) if end is None else end
    if raw.startswith((b"\r\n", b"\n"), start, end):  # an empty header block
        body = start
        while body < end and raw[body] in (10, 13):
            body += 1
        return start, body
    found = raw.find(b"\r\n\r\n", start, end)
    if found >= 0:
        return found, found + 4
    found = raw.find(b"\n\n", start, end)
    if found >= 0:
        return found, found + 2
    return end, end


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


def _decoded_size(raw: bytes, start: int, end: int, encoding: str) -> int:
    """The size of raw[start:end] once decoded (base64 measured without decoding)."""
    if encoding == "base64":
        size = _base64_size(raw, start, end)
        if size is not None:
            return size
    return len(_transfer_decode(raw[start:end], encoding))


def _base64_size(raw: bytes, start: int, end: int) -> int | None:
    """The decoded size of base64 as mailers write it — the alphabet in lines, "=" padding at
    the end — in one pass; None for anything else (stray characters, a broken length), which
    is then decoded as a decoder would read it."""
    rest = raw[start:end].translate(None, _BASE64)  # line breaks, padding, anything else
    padding = rest.count(b"=")
    data = end - start - len(rest)
    if padding > 2 or (data + padding) % 4 or rest.translate(None, b" \t\r\n="):
        return None
    if padding and not raw[max(start, end - 80) : end].rstrip(b" \t\r\n").endswith(b"=" * padding):
        return None
    return (data + padding) // 4 * 3 - padding


def _text(payload: bytes, charset: str) -> str:
    if b"\r\n" in payload:
        payload = b"\n".join(payload.split(b"\r\n"))
    try:
        return _clean(payload.decode(charset or "utf-8", errors="replace"))
    except LookupError:
        return _clean(payload.decode("utf-8", errors="replace"))


def _multipart(raw: bytes, start: int, end: int, boundary: str, found: dict, depth: int) -> None:
    """Each body part between the delimiter lines of raw[start:end] (RFC 2046 5.1.1)."""
    if not boundary or depth > MAX_DEPTH:
        raise _Unsupported
    marker = b"--" + boundary.encode("ascii", "replace")
    delimiter = b"\n" + marker
    if raw.startswith(marker, start, end):
        at = start
    else:
        at = raw.find(delimiter, start, end) + 1
        if at == 0:
            raise _Unsupported  # no delimiter at all: malformed
    while True:
        after = at + len(marker)
        if raw.startswith(b"--", after, end):
            return  # the closing delimiter
        line_end = raw.find(b"\n", after, end)
        if line_end < 0 or raw[after:line_end].strip():
            raise _Unsupported  # the boundary was only a prefix of a longer line
        following = raw.find(delimiter, line_end, end)
        if following <= line_end:
            raise _Unsupported  # no closing delimiter, or no line break after this one
        part_end = following - 1 if raw[following - 1] == 13 else following
        _part(raw, line_end + 1, max(part_end, line_end + 1), found, depth + 1)
        at = following + 1


def _part(
    raw: bytes, start: int, end: int, found: dict, depth: int, headers: dict | None = None
) -> None:
    head_end, body = _split_head(raw, start, end)
    headers = headers if headers is not None else _headers(raw[start:head_end], PART_HEADERS)
    kind, params = _params(headers.get("content-type", "text/plain"))
    if kind.startswith("multipart/"):
        _multipart(raw, body, end, params.get("boundary", ""), found, depth)
        return
    disposition, disposition_params = _params(headers.get("content-disposition", ""))
    filename = disposition_params.get("filename") or params.get("name")
    encoding = headers.get("content-transfer-encoding", "7bit").strip().lower()
    if filename or disposition == "attachment" or kind == "message/rfc822":
        size = _decoded_size(raw, body, end, encoding)
        name = decode_words(filename) if filename else ""
        found["attachments"].append((name[:255] or "(unnamed)", kind[:127], size))
    elif kind == "text/plain" and not found["body_text"]:
        payload = _transfer_decode(raw[body:end], encoding)
        found["body_text"] = _text(payload, params.get("charset", ""))
    elif kind == "text/html" and not found["body_html"]:
        payload = _transfer_decode(raw[body:end], encoding)
        found["body_html"] = _text(payload, params.get("charset", ""))


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
    head_end, _body = _split_head(raw)
    headers = _headers(raw[:head_end], MESSAGE_HEADERS)
    found = _fields(headers, size)
    if headers_only:
        found["body_text"] = (
            f"(This message is {size / 1048576:.1f} MB, larger than the import limit; "
            "only its headers were imported.)"
        )
        return found
    try:
        _part(raw, 0, len(raw), found, 0, headers)
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
