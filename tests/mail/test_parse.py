"""What the importer reads from a message: headers as written, the text and HTML bodies,
attachment names, types and decoded sizes, for ordinary and odd mail; odd mail never raises."""

import base64
import hashlib
from email import policy
from email.message import EmailMessage

import pytest

from app.mail import parsing
from app.mail.parsing import UNREADABLE, parse_message


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
def test_base64_attachment_sizes_are_the_decoded_sizes(size):
    raw = _outlook_like([bytes(range(256)) * (size // 256) + b"x" * (size % 256)])
    fields = parse_message(raw, len(raw))
    assert fields["attachments"] == [("report 0.pdf", "application/pdf", size)]


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
    ("body", "size"),
    [
        (base64.encodebytes(b"y" * 1000).replace(b"\n", b"\r\n"), 1000),  # 76-column lines
        (base64.b64encode(b"y" * 1000), 1000),  # one long line
        (b" " + base64.b64encode(b"y" * 31) + b" \t\r\n\r\n", 31),  # spaces and blank lines
        (base64.b64encode(b"y" * 30)[:-1], 29),  # a character short: not a multiple of 4
        (base64.b64encode(b"y" * 30)[:20] + b"!*" + base64.b64encode(b"y" * 30)[20:], 30),  # junk
        (b"====", 0),  # only padding
        (base64.b64encode(b"y" * 31) + b"\r\n" + base64.b64encode(b"z" * 31), 31),  # padding inside
        (b"", 0),
    ],
)
def test_odd_base64_is_measured_as_a_decoder_would(body, size):
    raw = _single_part(body)
    assert parse_message(raw, len(raw))["attachments"] == [
        ("odd.bin", "application/octet-stream", size)
    ]


@pytest.mark.parametrize(
    ("raw", "text", "html", "attachments"),
    [
        (
            _single_part(b"=E9t=C3=A9 line=\r\nbreak", "quoted-printable"),
            "body",
            "",
            [("odd.bin", "application/octet-stream", 14)],
        ),
        (
            _single_part(b"plain bytes", "7bit"),
            "body",
            "",
            [("odd.bin", "application/octet-stream", 11)],
        ),
        # a part without headers, an empty part, a boundary that prefixes a longer line
        (
            b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n\r\nno headers\r\n'
            b"--b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--bb\r\n--b--\r\n",
            "no headers",
            "<p>x</p>\n--bb",
            [],
        ),
        # nested multipart, bare LF line ends
        (
            b'Content-Type: multipart/mixed; boundary="o"\n\n--o\n'
            b'Content-Type: multipart/alternative; boundary="i"\n\n--i\n'
            b"Content-Type: text/plain\n\ninner text\n--i\nContent-Type: text/html\n\n"
            b"<i>inner</i>\n--i--\n--o\n"
            b'Content-Type: image/png; name="dot.png"\nContent-Transfer-Encoding: base64\n\n'
            b"iVBORw0KGgo=\n--o--\n",
            "inner text",
            "<i>inner</i>",
            [("dot.png", "image/png", 8)],
        ),
        # no closing delimiter
        (
            b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n\r\nunclosed\r\n',
            "unclosed",
            "",
            [],
        ),
        # an RFC 2231 file name
        (
            _single_part(b"AAAA").replace(
                b'filename="odd.bin"', b"filename*=utf-8''%C3%BCbersicht.bin"
            ),
            "body",
            "",
            [("übersicht.bin", "application/octet-stream", 3)],
        ),
    ],
)
def test_odd_structures(raw, text, html, attachments):
    fields = parse_message(raw, len(raw))
    assert (fields["body_text"], fields["body_html"], fields["attachments"]) == (
        text,
        html,
        attachments,
    )


def test_nul_characters_are_dropped_and_headers_only_when_too_large():
    raw = b"Subject: a\x00b\r\nMessage-ID: <x@y>\r\n\r\nnul\x00here\r\n"
    fields = parse_message(raw, len(raw))
    assert (fields["subject"], fields["body_text"]) == ("ab", "nulhere\n")
    large = parse_message(raw, 30 * 1048576, headers_only=True)
    assert "larger than the import limit" in large["body_text"]
    assert large["dedupe_key"] == fields["dedupe_key"]


def test_headers_are_kept_as_written_and_keys_as_before():
    raw = (
        b'From: bbb@ddd.com (John X. Doe)\r\nTo: "Vance, Adele" <adele@contoso.example>,\r\n'
        b"\t<alex@fabrikam.example>\r\nSubject: =?iso-8859-1?q?Gr=FC=DFe?= aus\r\n"
        b" Berlin\r\nDate: Thu, 01 Jan 2026 00:05:00 +0000\r\n\r\nhi\r\n"
    )
    fields = parse_message(raw, 1234)
    assert fields["from_address"] == "bbb@ddd.com (John X. Doe)"
    assert (
        fields["to_addresses"] == '"Vance, Adele" <adele@contoso.example>, <alex@fabrikam.example>'
    )
    assert fields["subject"] == "Grüße aus Berlin" and fields["message_id_header"] == ""
    # without a Message-ID the key is sender, subject, date and size, as imports always stored it
    identity = "bbb@ddd.com (John X. Doe)|Grüße aus Berlin|Thu, 01 Jan 2026 00:05:00 +0000|1234"
    assert fields["dedupe_key"] == hashlib.sha256(identity.encode()).hexdigest()
    with_id = parse_message(b"Message-ID:  <odd;id@x> \r\n\r\n", 10)
    assert with_id["dedupe_key"] == hashlib.sha256(b"<odd;id@x>").hexdigest()


@pytest.mark.parametrize(
    ("content_type", "payload", "text"),
    [
        (b"text/plain; charset=iso-8859-1", b"Gr\xfc\xdfe", "Grüße"),
        (b"text/plain", b"Gr\xc3\xbc\xc3\x9fe", "Grüße"),  # no charset: UTF-8
        (b"text/plain; charset=x-no-such-charset", b"Gr\xc3\xbc\xc3\x9fe", "Grüße"),
        (b"text/plain; charset=zlib", b"Gr\xc3\xbc\xc3\x9fe", "Grüße"),  # not a text codec
        (b"text/plain; charset=utf-8", b"Gr\xfc\xdfe", "Gr\ufffd\ufffde"),
    ],
)
def test_odd_charsets(content_type, payload, text):
    raw = b"Subject: s\r\nContent-Type: " + content_type + b"\r\n\r\n" + payload
    assert parse_message(raw, len(raw))["body_text"] == text


def test_attachments_of_a_signed_message_a_forwarded_one_and_a_lone_file():
    signed = EmailMessage()
    signed["Subject"] = "Signed"
    inner = EmailMessage()
    inner.set_content("the text")
    inner.add_attachment(b"%PDF", maintype="application", subtype="pdf", filename="a.pdf")
    forwarded = EmailMessage()
    forwarded["Subject"] = "Forwarded"
    forwarded.set_content("forwarded text")
    inner.add_attachment(forwarded)
    signed.make_mixed()
    signed.set_payload([inner])
    signed.replace_header("Content-Type", 'multipart/signed; boundary="s"')
    signed.add_attachment(
        b"sig", maintype="application", subtype="pkcs7-signature", filename="smime.p7s"
    )
    raw = signed.as_bytes(policy=policy.SMTP)
    fields = parse_message(raw, len(raw))
    assert fields["body_text"] == "the text\n"
    forwarded_size = len(forwarded.as_bytes(policy=policy.SMTP))
    assert fields["attachments"] == [
        ("a.pdf", "application/pdf", 4),
        ("(unnamed)", "message/rfc822", forwarded_size),
        ("smime.p7s", "application/pkcs7-signature", 3),
    ]
    scan = (
        b"Subject: Scan\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment;"
        b' filename="scan.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n'
    )
    lone = parse_message(scan, len(scan))
    assert (lone["body_text"], lone["attachments"]) == ("", [("scan.pdf", "application/pdf", 5)])


def test_mime_headers_the_library_trips_on_still_give_bodies_and_files():
    # "name*" with no value makes policy.default's parameter parser raise (Python 3.11-3.13)
    raw = (
        b"Subject: s\r\nMessage-ID: <t@x>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nGr\xc3\xbc\xc3\x9fe\r\n--b\r\n"
        b"Content-Type: application/pdf; name*\r\nContent-Disposition: attachment;"
        b' filename="scan.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n'
    )
    fields = parse_message(raw, len(raw))
    assert (fields["subject"], fields["message_id_header"]) == ("s", "<t@x>")
    assert fields["body_text"] == "Grüße"
    assert fields["attachments"] == [("scan.pdf", "application/pdf", 5)]


def test_mime_nested_past_the_recursion_limit_keeps_the_headers():
    depth = 3000
    raw = b"Subject: deep\r\n" + b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(depth)
    )
    raw += b"Content-Type: text/plain\r\n\r\nhi\r\n"
    raw += b"".join(b"--b%d--\r\n" % i for i in reversed(range(depth)))
    fields = parse_message(raw, len(raw))
    assert (fields["subject"], fields["body_text"], fields["attachments"]) == (
        "deep",
        UNREADABLE,
        [],
    )


@pytest.mark.parametrize(
    "raw",
    [
        _outlook_like([b"%PDF-1.7 first", b"%PDF-1.7 second one"]),
        _single_part(b"AAAA").replace(
            b'filename="odd.bin"', b"filename*=utf-8''%C3%BCbersicht.bin"
        ),
        b'From: "Vance, Adele" <adele@contoso.example>\r\nContent-Type: text/plain;'
        b' charset="iso-8859-1"; format=flowed\r\n\r\nGr\xfc\xdfe\r\n',
    ],
)
def test_cached_header_parsing_reads_what_the_library_reads(raw, monkeypatch):
    cached = [parse_message(raw, len(raw)) for _ in range(2)]  # the second from the cache
    uncached = policy.default.clone(header_factory=parsing.AS_WRITTEN)
    monkeypatch.setattr(parsing, "READING", uncached)
    assert cached[0] == cached[1] == parse_message(raw, len(raw))
    for name, value in [
        ("Content-Type", 'multipart/mixed; boundary="===============1=="'),
        ("Content-Disposition", "attachment; filename*=utf-8''%C3%BCbersicht.bin"),
        ("From", "bbb@ddd.com (John X. Doe)"),
        ("Subject", "x" * 2000),  # long values are not kept in the cache
    ]:
        header, library = parsing.header_object(name, value), parsing.AS_WRITTEN(name, value)
        assert header is parsing.header_object(name, value) or len(value) > 998
        assert (str(header), type(header).__name__) == (str(library), type(library).__name__)
        assert [type(d) for d in header.defects] == [type(d) for d in library.defects]
        assert dict(getattr(header, "params", {})) == dict(getattr(library, "params", {}))
