"""Bytes for the demo drive: real (tiny) .docx, .pdf, .png, .csv and text files.

Everything here is deterministic, so a reset drive serves the same bytes.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from xml.sax.saxutils import escape

_FIXED_ZIP_TIME = (2024, 1, 8, 9, 0, 0)

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
)


def docx(paragraphs: list[str]) -> bytes:
    """A minimal Word document (opens in Word/LibreOffice) with one paragraph per string."""
    body = "".join(f"<w:p><w:r><w:t>{escape(p)}</w:t></w:r></w:p>" for p in paragraphs)
    document = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        f"<w:body>{body}</w:body></w:document>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in (
            ("[Content_Types].xml", _CONTENT_TYPES),
            ("_rels/.rels", _RELS),
            ("word/document.xml", document),
        ):
            info = zipfile.ZipInfo(name, date_time=_FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, text)
    return buffer.getvalue()


def pdf(lines: list[str]) -> bytes:
    """A one-page PDF showing the given lines in Helvetica."""
    text = "".join(
        f"BT /F1 14 Tf 72 {720 - 22 * i} Td ({_pdf_escape(line)}) Tj ET\n"
        for i, line in enumerate(lines)
    ).encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(text) + text + b"endstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _pdf_escape(line: str) -> str:
    return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """An RGB PNG: a vertical gradient from ``rgb`` towards white."""
    rows = bytearray()
    for y in range(height):
        shade = y / max(height - 1, 1)
        pixel = bytes(int(c + (255 - c) * shade) for c in rgb)
        rows += b"\x00" + pixel * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def seed_files(owner: str) -> list[tuple[str, bytes | None, str]]:
    """The demo tree as ``(path, bytes or None for a folder, lastModified ISO time)``.

    Listed in creation order, which is also the default (unordered) listing order;
    files and folders are deliberately interleaved.
    """
    first = owner.split(" ")[0]
    return [
        ("Documents", None, "2024-01-08T09:00:00Z"),
        (
            "Welcome.txt",
            f"Welcome to OneDrive, {first}!\nServed by the local stand-in.\n".encode(),
            "2024-01-08T09:05:00Z",
        ),
        ("Proposals", None, "2024-02-12T14:30:00Z"),
        ("Photos", None, "2024-03-03T11:15:00Z"),
        (
            "Documents/Quarterly report.docx",
            docx([f"Quarterly report - {owner}", "Revenue grew 12% quarter over quarter."]),
            "2024-04-02T16:45:00Z",
        ),
        (
            "Documents/Notes.txt",
            f"Notes by {owner}\n- call Acme on Monday\n- send the proposal\n".encode(),
            "2024-05-20T08:10:00Z",
        ),
        (
            "Documents/Budget 2024.csv",
            b"month,amount\nJanuary,1200\nFebruary,1350\nMarch,990\n",
            "2024-01-31T17:00:00Z",
        ),
        (
            "Proposals/Acme proposal.pdf",
            pdf(["Proposal for Acme Corporation", f"Prepared by {owner}"]),
            "2024-02-14T10:00:00Z",
        ),
        ("Proposals/Drafts", None, "2024-02-15T10:00:00Z"),
        ("Photos/Team offsite.png", png(48, 32, (0, 120, 212)), "2024-03-04T12:00:00Z"),
        ("Photos/Whiteboard.png", png(32, 32, (16, 124, 16)), "2024-03-05T15:30:00Z"),
    ]
