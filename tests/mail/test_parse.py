"""What the importer reads without a server: the header fields as written and the
de-duplication key, text parts decoded (transfer encodings, charsets, a part cut by the body
cap), base64 sizes from BODYSTRUCTURE, and the choice of bodies and attachments from a
BODYSTRUCTURE as IMAPClient parses it. tests/mail/test_import_sections.py reads odd mail from
Dovecot itself."""

import base64
import hashlib
from email import policy

import pytest
from imapclient.response_parser import parse_fetch_response

from app.mail import parsing
from app.mail.parsing import Part, decode_text, read_headers, read_structure


def test_headers_are_kept_as_written_and_keys_as_before():
    raw = (
        b'From: bbb@ddd.com (John X. Doe)\r\nTo: "Vance, Adele" <adele@contoso.example>,\r\n'
        b"\t<alex@fabrikam.example>\r\nSubject: =?iso-8859-1?q?Gr=FC=DFe?= aus\r\n"
        b" Berlin\r\nDate: Thu, 01 Jan 2026 00:05:00 +0000\r\n\r\n"
    )
    fields = read_headers(raw, 1234)
    assert fields["from_address"] == "bbb@ddd.com (John X. Doe)"
    assert (
        fields["to_addresses"] == '"Vance, Adele" <adele@contoso.example>, <alex@fabrikam.example>'
    )
    assert fields["subject"] == "Grüße aus Berlin" and fields["message_id_header"] == ""
    assert fields["sent_at"].isoformat() == "2026-01-01T00:05:00+00:00"
    # without a Message-ID the key is sender, subject, date and size, as imports always stored it
    identity = "bbb@ddd.com (John X. Doe)|Grüße aus Berlin|Thu, 01 Jan 2026 00:05:00 +0000|1234"
    assert fields["dedupe_key"] == hashlib.sha256(identity.encode()).hexdigest()
    with_id = read_headers(b"Message-ID:  <odd;id@x> \r\n\r\n", 10)
    assert with_id["dedupe_key"] == hashlib.sha256(b"<odd;id@x>").hexdigest()
    assert read_headers(b"Subject: a\x00b\r\nDate: not a date\r\n\r\n", 5)["subject"] == "ab"


@pytest.mark.parametrize(
    ("payload", "encoding", "charset", "text"),
    [
        (b"Gr\xfc\xdfe", "8bit", "iso-8859-1", "Grüße"),
        (b"Gr\xc3\xbc\xc3\x9fe", "", "", "Grüße"),  # no charset: UTF-8
        (b"Gr\xc3\xbc\xc3\x9fe", "8bit", "x-no-such-charset", "Grüße"),
        (b"Gr\xc3\xbc\xc3\x9fe", "8bit", "zlib", "Grüße"),  # not a text codec
        (b"Gr\xfc\xdfe", "8bit", "utf-8", "Gr\ufffd\ufffde"),
        (b"Gr=FC=DFe line=\r\nbreak\r\n", "quoted-printable", "iso-8859-1", "Grüße linebreak\n"),
        (base64.encodebytes("Grüße\r\n".encode()), "base64", "utf-8", "Grüße\n"),
        (base64.b64encode(b"y" * 30)[:-1], "base64", "", "y" * 29),  # a character short
        (b"nul\x00here", "7bit", "", "nulhere"),
        (b"odd", "x-unknown; injected", "", "odd"),
    ],
)
def test_text_parts_are_decoded(payload, encoding, charset, text):
    assert decode_text(payload, encoding, charset) == text


def test_a_utf8_body_cut_inside_a_character_decodes_as_far_as_it_goes():
    cut = "Grüße".encode()[:3]
    assert decode_text(cut, "8bit", "utf-8") == "Gr\ufffd"


@pytest.mark.parametrize("size", [0, 1, 2, 3, 57, 58, 59, 1000, 12345, 100_000])
def test_base64_sizes_from_bodystructure_are_the_decoded_sizes_within_the_padding(size):
    encoded = base64.encodebytes(b"y" * size).replace(b"\n", b"\r\n")
    part = Part("2", "application/pdf", "base64", len(encoded))
    assert size <= part.decoded_size <= size + 2
    assert Part("2", "text/plain", "quoted-printable", 99).decoded_size == 99


def _structure(text: bytes):
    """A BODYSTRUCTURE as IMAPClient parses it from the server's FETCH answer."""
    return parse_fetch_response([b"1 (UID 7 BODYSTRUCTURE (" + text + b"))"])[7][b"BODYSTRUCTURE"]


def test_bodies_and_attachments_from_an_outlook_bodystructure():
    body = _structure(
        b'((("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" 120 4 NIL NIL NIL NIL)'
        b'("text" "html" ("charset" "utf-8") NIL NIL "base64" 9000 120 NIL NIL NIL NIL)'
        b' "alternative" ("boundary" "a") NIL NIL NIL)'
        b'("image" "png" ("name" "image001.png") "<image001@x>" NIL "base64" 2804 NIL'
        b' ("inline" ("filename" "image001.png")) NIL NIL) "related" ("boundary" "r") NIL NIL NIL)'
        b'("application" "pdf" ("name" "=?utf-8?B?w5xiZXJzaWNodC5wZGY=?=") NIL NIL "base64"'
        b' 16894 NIL ("attachment" ("filename*0*" "utf-8\'\'%C3%9Cber" "filename*1" "sicht.pdf"))'
        b" NIL NIL)"
        b'("message" "rfc822" NIL NIL NIL "7bit" 500 ("date" "subj" NIL NIL NIL NIL NIL NIL NIL'
        b' NIL) ("text" "plain" NIL NIL NIL "7bit" 10 1 NIL NIL NIL NIL) 12 NIL NIL NIL NIL)'
        b' "mixed" ("boundary" "m") NIL NIL NIL'
    )
    found = read_structure(body)
    assert (found.plain.section, found.plain.encoding, found.plain.charset) == (
        "1.1.1",
        "quoted-printable",
        "utf-8",
    )
    assert (found.html.section, found.html.size) == ("1.1.2", 9000)
    assert [(p.filename, p.content_type, p.section, p.encoding) for p in found.attachments] == [
        ("image001.png", "image/png", "1.2", "base64"),
        ("Übersicht.pdf", "application/pdf", "2", "base64"),
        ("", "message/rfc822", "3", "7bit"),
    ]


def test_a_single_part_message_is_section_1():
    text = read_structure(_structure(b'"text" "plain" NIL NIL NIL "7bit" 5 1 NIL NIL NIL NIL'))
    assert (text.plain.section, text.html, text.attachments) == ("1", None, [])
    scan = read_structure(
        _structure(
            b'"application" "pdf" NIL NIL NIL "base64" 10 NIL ("attachment" ("filename" "s.pdf"))'
            b" NIL NIL"
        )
    )
    assert (scan.plain, [(p.filename, p.section) for p in scan.attachments]) == (
        None,
        [("s.pdf", "1")],
    )


@pytest.mark.parametrize(
    "raw",
    [
        b'From: "Vance, Adele" <adele@contoso.example>\r\nSubject: =?utf-8?q?f=C3=BCr?=\r\n\r\n',
        b"From: bbb@ddd.com (John X. Doe)\r\nMessage-ID: <x@y>\r\n\r\n",
    ],
)
def test_cached_header_parsing_reads_what_the_library_reads(raw, monkeypatch):
    cached = [read_headers(raw, len(raw)) for _ in range(2)]  # the second from the cache
    uncached = policy.default.clone(header_factory=parsing.AS_WRITTEN)
    monkeypatch.setattr(parsing, "READING", uncached)
    assert cached[0] == cached[1] == read_headers(raw, len(raw))
    for name, value in [
        ("Content-Type", 'multipart/mixed; boundary="===============1=="'),
        ("From", "bbb@ddd.com (John X. Doe)"),
        ("Subject", "x" * 2000),  # long values are not kept in the cache
    ]:
        header, library = parsing.header_object(name, value), parsing.AS_WRITTEN(name, value)
        assert header is parsing.header_object(name, value) or len(value) > 998
        assert (str(header), type(header).__name__) == (str(library), type(library).__name__)


def test_a_bodystructure_of_the_wrong_shape_gives_no_bodies_and_no_error():
    for broken in [_structure(b'"text" "plain"'), None, (b"text",)]:
        found = read_structure(broken)
        assert (found.plain, found.html, found.attachments) == (None, None, [])
