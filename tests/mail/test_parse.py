"""The importer's fast MIME reading gives what the standard library's gives: bodies, attachment
names and sizes (base64 measured without decoding, exactly), for ordinary and odd mail."""

import base64
from email import policy
from email.message import EmailMessage

import pytest

from app.mail import parsing as mail_parse
from app.mail.parsing import parse_message


def _stdlib(raw: bytes) -> dict:
    found = {"body_text": "", "body_html": "", "attachments": []}
    mail_parse._stdlib_bodies(raw, found)
    return found


def _fast_only(raw: bytes) -> dict:
    """The fast path's reading; fails the test if it gave up and fell back."""
    found = {"body_text": "", "body_html": "", "attachments": []}
    head_end, _body = mail_parse._split_head(raw)
    headers = mail_parse._headers(raw[:head_end], mail_parse.MESSAGE_HEADERS)
    mail_parse._part(raw, 0, len(raw), found, 0, headers)
    return found


def _outlook_like(payloads: list[bytes], *, html: bool = True) -> bytes:
    message = EmailMessage()
    message["From"] = "Megan Bowen <megan@contoso.example>"
    message["To"] = "adele@contoso.example"
    message["Subject"] = "=?utf-8?q?Bericht_f=C3=BCr_M=C3=A4rz?="
    message["Date"] = "Wed, 04 Mar 2026 05:06:07 +0100"
    message["Message-ID"] = "<report@contoso.example>"
    message.set_content("Hello Adele,\n\nthe figures are attached.\n")
    if html:
        message.add_alternative("<p>Hello <b>Adele</b>, " + "é" * 200 + "</p>", subtype="html")
    for number, payload in enumerate(payloads):
        message.add_attachment(
            payload, maintype="application", subtype="pdf", filename=f"report {number}.pdf"
        )
    return message.as_bytes(policy=policy.SMTP)


@pytest.mark.parametrize("size", [0, 1, 2, 3, 57, 58, 59, 100_000])
def test_base64_attachment_sizes_without_decoding(size):
    raw = _outlook_like([bytes(range(256)) * (size // 256) + b"x" * (size % 256)])
    fields = parse_message(raw, len(raw))
    assert fields["attachments"] == [("report 0.pdf", "application/pdf", size)]
    assert _fast_only(raw) == _stdlib(raw)


def test_every_field_of_an_outlook_like_message():
    raw = _outlook_like([b"%PDF-1.7 first", b"%PDF-1.7 second one"])
    fields = parse_message(raw, len(raw))
    assert fields["subject"] == "Bericht für März"
    assert fields["sent_at"].isoformat() == "2026-03-04T05:06:07+01:00"
    assert fields["from_address"] == "Megan Bowen <megan@contoso.example>"
    assert fields["body_text"] == "Hello Adele,\n\nthe figures are attached.\n"
    assert fields["body_html"].startswith("<p>Hello <b>Adele</b>, éé")
    assert "\r" not in fields["body_html"] and fields["size"] == len(raw)
    assert fields["attachments"] == [
        ("report 0.pdf", "application/pdf", 14),
        ("report 1.pdf", "application/pdf", 19),
    ]
    assert _fast_only(raw) == _stdlib(raw)


def _single_part(body: bytes, encoding: str = "base64") -> bytes:
    return (
        b"From: a@contoso.example\r\nSubject: odd\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        b"preamble\r\n--b1\r\nContent-Type: text/plain\r\n\r\nbody\r\n"
        b"--b1\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; "
        b'filename="odd.bin"\r\nContent-Transfer-Encoding: '
        + encoding.encode()
        + b"\r\n\r\n"
        + body
        + b"\r\n--b1--\r\nepilogue\r\n"
    )


@pytest.mark.parametrize(
    "body",
    [
        base64.encodebytes(b"y" * 1000).replace(b"\n", b"\r\n"),  # 76-column lines
        base64.b64encode(b"y" * 1000),  # one long line
        b" " + base64.b64encode(b"y" * 31) + b" \t\r\n\r\n",  # spaces and blank lines
        base64.b64encode(b"y" * 30)[:-1],  # a character short: not a multiple of 4
        base64.b64encode(b"y" * 30)[:20] + b"!*" + base64.b64encode(b"y" * 30)[20:],  # junk
        b"====",  # only padding
        base64.b64encode(b"y" * 31) + b"\r\n" + base64.b64encode(b"z" * 31),  # padding inside
        b"",
    ],
)
def test_odd_base64_is_measured_as_a_decoder_would(body):
    raw = _single_part(body)
    assert parse_message(raw, len(raw))["attachments"] == _stdlib(raw)["attachments"]


@pytest.mark.parametrize(
    "raw",
    [
        _single_part(b"=E9t=C3=A9 line=\r\nbreak", "quoted-printable"),
        _single_part(b"plain bytes", "7bit"),
        # a part without headers, an empty part, a boundary that prefixes a longer line
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n\r\nno headers\r\n'
        b"--b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--bb\r\n--b--\r\n",
        # nested multipart, bare LF line ends
        b'Content-Type: multipart/mixed; boundary="o"\n\n--o\n'
        b'Content-Type: multipart/alternative; boundary="i"\n\n--i\nContent-Type: text/plain\n\n'
        b"inner text\n--i\nContent-Type: text/html\n\n<i>inner</i>\n--i--\n--o\n"
        b'Content-Type: image/png; name="dot.png"\nContent-Transfer-Encoding: base64\n\n'
        b"iVBORw0KGgo=\n--o--\n",
        # no closing delimiter: the standard library reads it
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n\r\nunclosed\r\n',
        # an RFC 2231 file name: the standard library reads it
        _single_part(b"AAAA").replace(
            b'filename="odd.bin"', b"filename*=utf-8''%C3%BCbersicht.bin"
        ),
    ],
)
def test_odd_structures_read_as_the_standard_library_reads_them(raw):
    fields = parse_message(raw, len(raw))
    reference = _stdlib(raw)
    assert (fields["body_text"], fields["body_html"], fields["attachments"]) == (
        reference["body_text"],
        reference["body_html"],
        reference["attachments"],
    )


def test_nul_characters_are_dropped_and_headers_only_when_too_large():
    raw = b"Subject: a\x00b\r\nMessage-ID: <x@y>\r\n\r\nnul\x00here\r\n"
    fields = parse_message(raw, len(raw))
    assert (fields["subject"], fields["body_text"]) == ("ab", "nulhere\n")
    large = parse_message(raw, 30 * 1048576, headers_only=True)
    assert "larger than the import limit" in large["body_text"]
    assert large["dedupe_key"] == fields["dedupe_key"]
