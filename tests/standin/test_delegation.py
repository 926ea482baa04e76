"""The stand-in's Exchange delegation over real loopback: shared mailboxes, Full Access and Send
As granted and revoked through the control API, IMAP turned off per mailbox; its IMAP, SMTP and
Graph refuse the way Exchange Online does."""

from __future__ import annotations

import base64
import imaplib
import smtplib

import pytest
import requests

from standin import imap as standin_imap
from tests.conftest import missing
from tests.mail.conftest import REQUIRE_DOVECOT

from .conftest import start_standin, stop_standin
from .driver import Standin

ADELE, MEGAN = "a11ce000-0000-4000-8000-00000000ade1", "a11ce000-0000-4000-8000-00000000e6a0"
ADELE_MAIL, SUPPORT, SALES = (
    "adele@contoso.example",
    "support@contoso.example",
    "sales@contoso.example",
)
TIMEOUT = 10


@pytest.fixture(scope="module")
def mail_standin(tmp_path_factory):
    """A stand-in with SMTP and (when Dovecot is installed) IMAP; its servers' ports."""
    log = tmp_path_factory.mktemp("standin-delegation") / "standin.log"
    process, base = start_standin("--smtp-port", "0", "--imap-port", "0", log=log)
    yield Standin(base)
    assert stop_standin(process) == 0, log.read_text()


@pytest.fixture
def stand(mail_standin) -> Standin:
    mail_standin.control("POST", "/reset")
    return mail_standin


def _servers(stand: Standin) -> dict:
    return stand.control("GET", "/mail/servers")


def _token(stand: Standin, oid: str, audience: str, *scopes: str) -> str:
    body = {"oid": oid, "audience": audience, "scopes": list(scopes)}
    return stand.control("POST", "/tokens", body)["access_token"]


@pytest.fixture
def imap(stand) -> int:
    """The stand-in's IMAP port; skips (fails where REQUIRE_DOVECOT=1) without Dovecot."""
    servers = _servers(stand)
    if servers["imap"] is None or not standin_imap.available():
        missing("Dovecot", "apt-get install -y dovecot-imapd", REQUIRE_DOVECOT)
    return servers["imap"]["port"]


def _imap_sign_in(stand: Standin, user: str, token: str) -> imaplib.IMAP4:
    connection = imaplib.IMAP4("127.0.0.1", _servers(stand)["imap"]["port"], timeout=TIMEOUT)
    sasl = f"user={user}\x01auth=Bearer {token}\x01\x01".encode()
    try:
        connection.authenticate("XOAUTH2", lambda _challenge: sasl)
    except imaplib.IMAP4.error:
        connection.shutdown()
        raise
    return connection


def test_the_seeded_shared_mailboxes_and_their_rights(stand):
    state = stand.control("GET", "/mail/delegation")
    rows = {m["address"]: m for m in state["shared"]}
    assert rows[SUPPORT]["full_access"] == [ADELE_MAIL] and rows[SUPPORT]["send_as"] == [ADELE_MAIL]
    assert rows[SALES]["full_access"] == ["megan@contoso.example"]
    assert state["imap_disabled"] == []


def test_imap_opens_a_shared_mailbox_with_full_access_only(stand, imap):
    token = _token(stand, ADELE, "outlook", "IMAP.AccessAsUser.All")
    stand.control("POST", f"/mail/mailboxes/{SUPPORT}/messages", {"count": 2})
    connection = _imap_sign_in(stand, SUPPORT, token)
    try:
        status, data = connection.select("INBOX", readonly=True)
        assert status == "OK" and data == [b"2"]
    finally:
        connection.logout()
    with pytest.raises(imaplib.IMAP4.error, match=r"AUTHENTICATE failed\."):
        _imap_sign_in(stand, SALES, token)  # Megan's, not Adele's
    stand.control(
        "POST",
        "/mail/delegation/revoke",
        {"mailbox": SUPPORT, "user": ADELE_MAIL, "right": "full_access"},
    )
    with pytest.raises(imaplib.IMAP4.error, match=r"AUTHENTICATE failed\."):
        _imap_sign_in(stand, SUPPORT, token)  # revoked mid-life: the next sign-in is refused
    _imap_sign_in(stand, ADELE_MAIL, token).logout()  # her own mailbox still opens
    stats = stand.control("GET", "/stats")
    assert stats["imap.auth.rejected.no_full_access"] == 2


def test_imap_turned_off_for_a_mailbox(stand, imap):
    token = _token(stand, ADELE, "outlook", "IMAP.AccessAsUser.All")
    stand.control("POST", "/mail/delegation/imap", {"mailbox": SUPPORT, "enabled": False})
    with pytest.raises(imaplib.IMAP4.error, match=r"AUTHENTICATE failed\."):
        _imap_sign_in(stand, SUPPORT, token)
    assert stand.control("GET", "/stats")["imap.auth.rejected.imap_disabled"] == 1
    stand.control("POST", "/mail/delegation/imap", {"mailbox": SUPPORT, "enabled": True})
    _imap_sign_in(stand, SUPPORT, token).logout()


def _smtp(stand: Standin, token: str, sender: str) -> None:
    port = _servers(stand)["smtp"]["port"]
    with smtplib.SMTP("127.0.0.1", port, timeout=TIMEOUT) as smtp:
        smtp.ehlo()
        blob = base64.b64encode(f"user={ADELE_MAIL}\x01auth=Bearer {token}\x01\x01".encode())
        code, _ = smtp.docmd("AUTH", f"XOAUTH2 {blob.decode()}")
        assert code == 235
        smtp.sendmail(sender, ["customer@fabrikam.example"], b"Subject: hi\r\n\r\nhello\r\n")


def test_smtp_sends_as_a_shared_mailbox_only_with_send_as(stand):
    token = _token(stand, ADELE, "outlook", "SMTP.Send")
    _smtp(stand, token, SUPPORT)
    (sent,) = stand.control("GET", "/mail/outbox")["messages"]
    assert sent["auth_user"] == ADELE_MAIL and sent["mail_from"] == SUPPORT
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        _smtp(stand, token, SALES)
    assert refused.value.smtp_code == 554
    assert refused.value.smtp_error.decode() == (
        f"5.2.252 SendAsDenied; {ADELE_MAIL} not allowed to send as {SALES}"
    )


def _graph_send(stand: Standin, token: str, mailbox: str) -> requests.Response:
    body = {
        "message": {"subject": "hi", "toRecipients": [{"emailAddress": {"address": "c@f.example"}}]}
    }
    return requests.post(
        f"{stand.base}/v1.0/users/{mailbox}/sendMail",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    )


def test_graph_send_mail_without_mail_send_is_403_as_graph_answers(stand):
    """A valid token without the permission is refused with 403 ErrorAccessDenied, not the
    401 that tells a client its token is bad and to refresh it."""
    token = _token(stand, ADELE, "graph", "Mail.ReadWrite")
    refused = _graph_send(stand, token, ADELE_MAIL)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "ErrorAccessDenied"


def test_graph_send_mail_as_a_shared_mailbox_needs_the_scope_and_send_as(stand):
    plain = _token(stand, ADELE, "graph", "Mail.Send")
    refused = _graph_send(stand, plain, SUPPORT)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "ErrorAccessDenied"
    shared = _token(stand, ADELE, "graph", "Mail.Send", "Mail.Send.Shared")
    assert _graph_send(stand, shared, SUPPORT).status_code == 202
    assert _graph_send(stand, plain, ADELE_MAIL).status_code == 202  # her own, by UPN
    assert _graph_send(stand, plain, ADELE).status_code == 202  # and by id
    denied = _graph_send(stand, shared, SALES)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "ErrorSendAsDenied"
    unknown = _graph_send(stand, shared, "nobody@contoso.example")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "ErrorInvalidUser"
    froms = [m["mail_from"] for m in stand.control("GET", "/mail/outbox")["messages"]]
    assert froms == [SUPPORT, ADELE_MAIL, ADELE_MAIL]


def test_the_control_api_refuses_bad_input(stand):
    def post(path: str, body: dict) -> int:
        return requests.post(
            f"{stand.base}/_standin/mail/delegation{path}", json=body, timeout=TIMEOUT
        ).status_code

    assert post("/grant", {"mailbox": SUPPORT, "user": ADELE_MAIL, "right": "owner"}) == 400
    assert (
        post("/grant", {"mailbox": SUPPORT, "user": "ghost@contoso.example", "right": "send_as"})
        == 404
    )
    assert (
        post("/grant", {"mailbox": "desk@contoso.example", "user": ADELE_MAIL, "right": "send_as"})
        == 404
    )
    assert post("/shared", {"address": ADELE_MAIL}) == 409
    assert post("/shared", {"address": "desk@contoso.example", "name": "Desk"}) == 201
    assert (
        post("/grant", {"mailbox": "desk@contoso.example", "user": ADELE_MAIL, "right": "send_as"})
        == 200
    )
    assert post("/imap", {"mailbox": SUPPORT}) == 400
    stand.control("POST", "/reset")
    shared = {m["address"] for m in stand.control("GET", "/mail/delegation")["shared"]}
    assert shared == {SUPPORT, SALES}
