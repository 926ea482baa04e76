"""Attachments on a message's page: each downloads, an imported one fetched from the mailbox on
demand (BODY.PEEK[section]) and decoded as it streams, one written in Compose from its kept
bytes; the Cloud Drive's download headers; the message page's access rule; and the words when
the message has left the mailbox."""

import base64
import binascii
import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.mail import attachments as mail_attachments
from app.mail import importing as mail_import
from app.mail.models import INBOUND, RECEIVED, MailAccount, MailAttachment, MailMessage
from app.users.models import User
from tests.mail.conftest import ADELE_MAIL, imap_settings

GONE = "This message is no longer in the mailbox, so its attachment can&#39;t be opened."


def _generated(size: int) -> bytes:
    """The bytes the stand-in's message builder puts in a seeded attachment."""
    return bytes(i % 251 for i in range(size))


def _import(client, port) -> MailMessage:
    response = client.post("/emails/settings/inbound", data=imap_settings(port))
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    db.session.expire_all()
    account = db.session.scalar(select(MailAccount).where(MailAccount.role == "personal"))
    assert mail_import.check_now(account).imported >= 1
    db.session.expire_all()
    return db.session.scalars(select(MailMessage).order_by(MailMessage.id)).first()


def _links(page: str) -> list[str]:
    return re.findall(r'href="(/emails/\d+/attachments/\d+)" data-attachment', page)


def test_an_imported_attachment_downloads_with_its_bytes_and_drive_headers(
    sally_mail, imap_port, mailctl
):
    files = [
        {"name": "Übersicht 2026.pdf", "size": 700_001, "content_type": "application/pdf"},
        {"name": "notes.bin", "size": 1},
    ]
    mailctl.seed(messages=[{"subject": "Files", "attachments": files}])
    message = _import(sally_mail, imap_port)
    page = sally_mail.get(f"/emails/{message.id}").get_data(as_text=True)
    links = _links(page)
    assert len(links) == 2
    response = sally_mail.get(links[0])
    assert response.status_code == 200
    assert response.get_data() == _generated(700_001)
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"_bersicht 2026.pdf\"; filename*=UTF-8''%C3%9Cbersicht%202026.pdf"
    )
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert sally_mail.get(links[1]).get_data() == _generated(1)


@pytest.mark.parametrize("size", [0, 1, 2, 3, 57, 58, 59, 65_535, 65_536, 200_003])
def test_base64_and_quoted_printable_decode_in_chunks_as_the_library_would(size):
    data = bytes(range(256)) * (size // 256) + b"\x00=\r\n" * (size % 256 // 4)
    data += b"x" * (size - len(data))
    for encoded, encoding in [
        (base64.encodebytes(data).replace(b"\n", b"\r\n"), "base64"),
        (base64.b64encode(data), "base64"),  # one long line
        # binary in quoted-printable: CR and LF as =0D =0A, soft line breaks as sent (=CRLF)
        (binascii.b2a_qp(data, istext=False).replace(b"\n", b"\r\n"), "quoted-printable"),
        (data, "binary"),
    ]:
        chunks = list(mail_attachments.decoded_chunks(encoded, encoding))
        assert b"".join(chunks) == data
        assert all(len(chunk) <= mail_attachments.CHUNK for chunk in chunks)


def test_a_quoted_printable_attachment_downloads_decoded(sally_mail, imap_port, mailctl):
    raw = (
        "Subject: Minutes\r\nMessage-ID: <minutes@contoso.example>\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n'
        "\r\nSee attached.\r\n--b\r\nContent-Type: text/plain; charset=utf-8; name=minutes.txt\r\n"
        "Content-Disposition: attachment; filename=minutes.txt\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        "Gr=C3=BC=C3=9Fe, a long line that is =\r\ncontinued.\r\n--b--\r\n"
    )
    mailctl.seed(raw=[raw])
    message = _import(sally_mail, imap_port)
    (link,) = _links(sally_mail.get(f"/emails/{message.id}").get_data(as_text=True))
    response = sally_mail.get(link)
    assert (
        response.get_data() == "Grüße, a long line that is continued.".encode()
    )  # CRLF before --b is the boundary's
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_an_attachment_asked_for_after_the_message_was_deleted_in_the_mailbox(
    sally_mail, imap_port, mailctl, ms
):
    mailctl.seed(
        messages=[{"subject": "Soon gone", "attachments": [{"name": "a.pdf", "size": 10}]}]
    )
    message = _import(sally_mail, imap_port)
    (link,) = _links(sally_mail.get(f"/emails/{message.id}").get_data(as_text=True))
    assert sally_mail.get(link).status_code == 200
    old = mailctl.mailbox()["uidvalidity"]
    ms.control("DELETE", f"/mail/mailboxes/{ADELE_MAIL}")  # emptied: UID 1 is gone
    mailctl.seed(count=0)
    ms.control("POST", f"/mail/mailboxes/{ADELE_MAIL}/uidvalidity", {"value": old})
    response = sally_mail.get(link)
    assert response.status_code == 404 and GONE in response.get_data(as_text=True)
    # The words show in the page (the link has no download attribute, which would save the
    # error page as a file), with the way back to the message.
    back = f'<a href="/emails/{message.id}">Back to the message</a>'
    assert back in response.get_data(as_text=True)
    mailctl.renumber()  # the same UID under another UIDVALIDITY is another message
    mailctl.seed(messages=[{"subject": "Another", "attachments": [{"name": "b.pdf", "size": 9}]}])
    response = sally_mail.get(link)
    assert response.status_code == 404 and GONE in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(MailMessage, message.id) is not None  # nothing stored is lost


def test_the_message_pages_access_rule_guards_its_attachments(
    sally_mail, imap_port, mailctl, auth, client, make_user
):
    make_user("bob", "bob-password")
    mailctl.seed(messages=[{"subject": "Mine", "attachments": [{"name": "a.pdf", "size": 10}]}])
    message = _import(sally_mail, imap_port)
    (link,) = _links(sally_mail.get(f"/emails/{message.id}").get_data(as_text=True))
    attachment_id = message.attachments[0].id
    assert (
        sally_mail.get(f"/emails/{message.id}/attachments/{attachment_id + 1}").status_code == 404
    )
    auth.logout()
    auth.login("bob", "bob-password")
    assert client.get(f"/emails/{message.id}").status_code == 404
    assert client.get(link).status_code == 404
    auth.logout()
    assert client.get(link).status_code in (302, 401)


def test_an_attachment_kept_with_a_composed_message_streams_its_bytes(auth, client, app):
    sally = db.session.scalar(select(User).where(User.username == "sally"))
    message = MailMessage(
        user_id=sally.id, direction=INBOUND, status=RECEIVED, subject="Kept", body_text="x"
    )
    content = bytes(range(256)) * 600
    message.attachments.append(
        MailAttachment(
            filename="plan.xlsx",
            content_type="application/vnd.ms-excel",
            size=len(content),
            content=content,
        )
    )
    db.session.add(message)
    db.session.commit()
    auth.login()
    (link,) = _links(client.get(f"/emails/{message.id}").get_data(as_text=True))
    response = client.get(link)
    assert response.get_data() == content and response.content_length == len(content)
    assert response.headers["Content-Disposition"].startswith('attachment; filename="plan.xlsx"')
    assert response.headers["Cache-Control"] == "no-store"
