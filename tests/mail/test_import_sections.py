"""The import reads BODYSTRUCTURE first and fetches only the headers and the text parts, each
cut at MAIL_MAX_BODY_BYTES, from Dovecot; several folders each keep their own sync state.

A counting TCP relay between the app and Dovecot proves what crossed the wire: the attachment's
bytes never do."""

import socket
import threading
from email import policy
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.mail import importing as mail_import
from app.mail.models import MailAccount, MailMessage
from tests.mail.conftest import allow_hosts, imap_settings

TEXT = "Hello Adele,\n\nthe contract is attached.\n"
ATTACHMENT = 300_000


class CountingRelay:
    """A TCP relay on loopback to a server, counting the bytes the server sends back."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.received = 0
        self._lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.pumps: list[threading.Thread] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
            for args in ((client, server, False), (server, client, True)):
                pump = threading.Thread(target=self._pump, args=args, daemon=True)
                self.pumps.append(pump)
                pump.start()

    def _pump(self, source: socket.socket, sink: socket.socket, count: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if count:
                    with self._lock:
                        self.received += len(chunk)
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            source.close()  # the other direction's pump closes the other end

    def close(self) -> None:
        """Stop accepting; wait for the connections to end (each is logged out by then)."""
        self.listener.close()
        for pump in self.pumps:
            pump.join(timeout=10)


@pytest.fixture
def relay(imap_port, app):
    """A counting relay in front of Dovecot, allowed in MAIL_ALLOWED_HOSTS."""
    counting = CountingRelay(imap_port)
    allow_hosts(app, f"127.0.0.1:{counting.port}")
    yield counting
    counting.close()


def _inbound(client, port, **overrides) -> None:
    response = client.post("/emails/settings/inbound", data=imap_settings(port, **overrides))
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]


def _account() -> MailAccount:
    db.session.expire_all()
    return db.session.scalar(select(MailAccount).where(MailAccount.role == "personal"))


def _message(subject: str) -> MailMessage:
    db.session.expire_all()
    return db.session.scalar(select(MailMessage).where(MailMessage.subject == subject))


def test_only_headers_and_text_parts_cross_the_wire(sally_mail, relay, mailctl):
    spec = {
        "subject": "Contract",
        "text": TEXT,
        "html": "<p>Hello <b>Adele</b></p>",
        "attachments": [
            {"name": "contract.pdf", "size": ATTACHMENT, "content_type": "application/pdf"}
        ],
    }
    mailctl.seed(messages=[spec])
    _inbound(sally_mail, relay.port)
    assert mail_import.check_now(_account()).imported == 1
    message = _message("Contract")
    assert message.size > ATTACHMENT * 4 // 3  # the message as stored holds it, base64
    assert relay.received < 12_000  # greeting, capabilities, headers, structure, text parts
    assert (message.body_text, message.body_html) == (TEXT, "<p>Hello <b>Adele</b></p>\n")
    assert message.body_truncated is False
    (attachment,) = message.attachments
    assert (attachment.filename, attachment.imap_section, attachment.encoding) == (
        "contract.pdf",
        "2",
        "base64",
    )
    assert abs(attachment.size - ATTACHMENT) <= 2
    before = relay.received
    assert mail_import.check_now(_account()).found == 0  # the second run fetches nothing
    assert relay.received - before < 3000


def test_a_body_longer_than_the_cap_is_cut_and_the_page_says_so(
    sally_mail, imap_port, app, mailctl
):
    app.config["MAIL_MAX_BODY_BYTES"] = 200
    long_text = "".join(f"Line {n} of a long report.\n" for n in range(400))
    mailctl.seed(messages=[{"subject": "Long", "text": long_text}, {"subject": "Short"}])
    _inbound(sally_mail, imap_port)
    assert mail_import.check_now(_account()).imported == 2
    long, short = _message("Long"), _message("Short")
    assert long.body_truncated and long_text.startswith(long.body_text)
    assert 150 <= len(long.body_text) <= 200
    assert not short.body_truncated
    page = sally_mail.get(f"/emails/{long.id}").get_data(as_text=True)
    assert "This message is longer than shown; open it in Outlook for the rest." in page
    page = sally_mail.get(f"/emails/{short.id}").get_data(as_text=True)
    assert "This message is longer than shown" not in page


def test_several_folders_each_keep_their_place(sally_mail, imap_port, mailctl):
    mailctl.seed(count=2)
    mailctl.seed(folder="Support", count=3, start=20)
    _inbound(sally_mail, imap_port, imap_folder="INBOX, Support,inbox")  # INBOX in any case
    assert _account().imap_folder == "INBOX, Support"
    sally_mail.post("/emails/settings/test-inbound")
    page = sally_mail.get("/emails/settings").get_data(as_text=True)
    assert "opened “INBOX” (2 messages), “Support” (3 messages)." in page
    assert "several separated by commas" in page  # the form's help says how
    result = mail_import.check_now(_account())
    assert (result.found, result.imported) == (5, 5)
    states = {s.folder: s.last_uid for s in _account().sync_states}
    assert states == {"INBOX": 2, "Support": 3}
    folders = db.session.execute(
        select(MailMessage.imap_folder, func.count()).group_by(MailMessage.imap_folder)
    ).all()
    assert dict(folders) == {"INBOX": 2, "Support": 3}
    mailctl.seed(folder="Support", count=1, start=40)
    result = mail_import.check_now(_account())
    assert (result.found, result.imported) == (1, 1)
    assert mail_import.check_now(_account()).found == 0
    _inbound(sally_mail, imap_port, imap_folder="Support")  # INBOX no longer listed
    assert [s.folder for s in _account().sync_states] == ["Support"]
    assert mail_import.check_now(_account()).found == 0  # Support kept its place


def _raw(message: EmailMessage) -> str:
    return message.as_bytes(policy=policy.SMTP).decode("utf-8")


def _signed_and_forwarded() -> str:
    signed = EmailMessage()
    signed["Subject"] = "Signed"
    signed["Message-ID"] = "<signed@contoso.example>"
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
    return _raw(signed)


def _related_with_inline_image() -> str:
    message = EmailMessage()
    message["Subject"] = "Related"
    message["Message-ID"] = "<related@contoso.example>"
    message.set_content("plain version")
    message.add_alternative('<p>logo <img src="cid:logo@x"></p>', subtype="html")
    html = message.get_payload()[1]
    html.add_related(
        b"\x89PNG....", maintype="image", subtype="png", cid="<logo@x>", filename="logo.png"
    )
    message.add_attachment("a;b,c", filename="Grüße, 2026.csv")
    return _raw(message)


QUOTED = (
    "Subject: Quoted\r\nMessage-ID: <q@contoso.example>\r\nMIME-Version: 1.0\r\n"
    'Content-Type: text/plain; charset="iso-8859-1"\r\n'
    "Content-Transfer-Encoding: quoted-printable\r\n\r\nGr=FC=DFe aus Berlin, eine sehr lan=\r\n"
    "ge Zeile.\r\n"
)
SCAN = (
    "Subject: Scan\r\nMessage-ID: <scan@contoso.example>\r\nContent-Type: application/pdf\r\n"
    'Content-Disposition: attachment; filename="scan.pdf"\r\n'
    "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n"
)
ENCODED_NAME = (
    "Subject: Encoded\r\nMessage-ID: <enc@contoso.example>\r\n"
    'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
    "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    "R3LDvMOfZQ==\r\n--b\r\n"
    'Content-Type: application/vnd.ms-excel; name="=?utf-8?B?w5xiZXJzaWNodC54bHM=?="\r\n'
    "Content-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--b--\r\n"
)


@pytest.mark.parametrize(
    ("raw", "subject", "text", "html", "files"),
    [
        (
            _signed_and_forwarded(),
            "Signed",
            "the text\n",
            "",
            [
                ("a.pdf", "application/pdf", "1.1.2"),
                ("(unnamed)", "message/rfc822", "1.1.3"),
                ("smime.p7s", "application/pkcs7-signature", "2"),
            ],
        ),
        (
            _related_with_inline_image(),
            "Related",
            "plain version\n",
            '<p>logo <img src="cid:logo@x"></p>\n',
            [("logo.png", "image/png", "1.2.2"), ("Grüße, 2026.csv", "text/plain", "2")],
        ),
        (QUOTED, "Quoted", "Grüße aus Berlin, eine sehr lange Zeile.\n", "", []),
        (SCAN, "Scan", "", "", [("scan.pdf", "application/pdf", "1")]),
        (
            ENCODED_NAME,
            "Encoded",
            "Grüße",
            "",
            [("Übersicht.xls", "application/vnd.ms-excel", "2")],
        ),
    ],
    ids=[
        "signed-forwarded",
        "related-inline-image",
        "quoted-printable",
        "lone-file",
        "encoded-name",
    ],
)
def test_bodies_and_attachments_as_bodystructure_tells_them(
    sally_mail, imap_port, mailctl, raw, subject, text, html, files
):
    mailctl.seed(raw=[raw])
    _inbound(sally_mail, imap_port)
    assert mail_import.check_now(_account()).imported == 1
    message = _message(subject)
    assert (message.body_text, message.body_html) == (text, html)
    assert [(a.filename, a.content_type, a.imap_section) for a in message.attachments] == files
