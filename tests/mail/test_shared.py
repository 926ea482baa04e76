"""Exchange Online shared mailboxes against the stand-in over loopback: an inbound mailbox
support@ read over IMAP with a delegate's token (XOAUTH2 `user=` the shared address), and the
system account sending as a shared mailbox (SMTP From, Graph /users/{shared}/sendMail); the
faults in words: the delegate loses Full Access (nothing lost), IMAP turned off for the mailbox,
Send As refused, the delegate's sign-in dies (Needs reconnect)."""

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.mail.models import MailAccount, MailMessage
from tests.mail.conftest import ADELE, ADELE_MAIL, MEGAN, SUPPORT, authorize, smtp_settings

SALES = "sales@contoso.example"  # Megan holds its rights, Adele none


@pytest.fixture
def delegation(ms):
    """Grant, revoke and switch IMAP in the stand-in's Exchange delegation."""

    class Delegation:
        def revoke(self, mailbox, user, right="full_access"):
            ms.control(
                "POST",
                "/mail/delegation/revoke",
                {"mailbox": mailbox, "user": user, "right": right},
            )

        def grant(self, mailbox, user, right="full_access"):
            ms.control(
                "POST", "/mail/delegation/grant", {"mailbox": mailbox, "user": user, "right": right}
            )

        def imap(self, mailbox, enabled):
            ms.control("POST", "/mail/delegation/imap", {"mailbox": mailbox, "enabled": enabled})

    return Delegation()


def _mailbox() -> MailAccount:
    db.session.expire_all()
    return db.session.scalar(select(MailAccount).where(MailAccount.role == "group"))


def _imported() -> int:
    return db.session.scalar(select(func.count()).select_from(MailMessage))


def _page(client, path) -> str:
    return client.get(path).get_data(as_text=True)


def test_a_shared_mailbox_is_read_with_its_delegates_sign_in(client, support, mailctl, ms):
    authorize(client, f"{support}/authorize/mail", oid=ADELE)
    page = _page(client, support)
    assert f"Signed in as Adele Vance (delegate) for {SUPPORT}" in page
    assert _mailbox().authorized_email == ADELE_MAIL and _mailbox().mailbox_address == SUPPORT
    mailctl.seed(SUPPORT, messages=[{"subject": "Printer on fire", "to": SUPPORT}])
    mailctl.seed(ADELE_MAIL, messages=[{"subject": "Adele's own mail"}])
    client.post(f"{support}/test-inbound")
    assert "Connection works: signed in to 127.0.0.1 and opened “INBOX” (1 messages)" in _page(
        client, support
    )
    client.post(f"{support}/check")
    assert "Imported 1 new message." in _page(client, support)
    listing = _page(client, f"/emails/?folder={_mailbox().id}")
    assert "Printer on fire" in listing and "Adele&#39;s own mail" not in listing
    assert ms.stats().get("imap.auth.ok", 0) >= 2


def test_the_delegate_loses_full_access_clear_words_nothing_lost(
    client, support, mailctl, delegation
):
    authorize(client, f"{support}/authorize/mail", oid=ADELE)
    mailctl.seed(SUPPORT, messages=[{"subject": "First ticket", "to": SUPPORT}])
    client.post(f"{support}/check")
    assert _imported() == 1
    delegation.revoke(SUPPORT, ADELE_MAIL)
    mailctl.seed(SUPPORT, messages=[{"subject": "Second ticket", "to": SUPPORT}])
    client.post(f"{support}/check")
    page = _page(client, support)
    assert f"Exchange Online refused to open {SUPPORT} with the sign-in of Adele Vance" in page
    assert f"Adele Vance has no Full Access to {SUPPORT}" in page
    assert "AUTHENTICATE failed." in page  # Exchange's own words, quoted
    assert "nothing imported before was lost" in page
    mailbox = _mailbox()
    assert mailbox.status == "connected"  # the sign-in works: no Reconnect asked for
    assert mailbox.last_check_message.startswith("Failed: Exchange Online refused")
    assert _imported() == 1  # the first ticket stays
    delegation.grant(SUPPORT, ADELE_MAIL)
    client.post(f"{support}/check")
    assert "Imported 1 new message." in _page(client, support)
    subjects = set(db.session.scalars(select(MailMessage.subject)))
    assert subjects == {"First ticket", "Second ticket"}


def test_imap_turned_off_for_the_shared_mailbox_is_named(client, support, delegation):
    authorize(client, f"{support}/authorize/mail", oid=ADELE)
    delegation.imap(SUPPORT, False)
    client.post(f"{support}/test-inbound")
    page = _page(client, support)
    assert "Test failed: Exchange Online refused to open" in page
    assert f"IMAP is turned off for {SUPPORT}" in page and "Email apps &gt; IMAP" in page
    assert _mailbox().status == "connected"


def test_a_delegate_without_full_access_is_told_at_test(client, support):
    saved = client.post(
        f"{support}/details", data={"name": "Sales", "shared_address": SALES, "visibility": "all"}
    )
    assert saved.status_code == 302
    authorize(client, f"{support}/authorize/mail", oid=ADELE)
    client.post(f"{support}/test-inbound")
    assert f"Adele Vance has no Full Access to {SALES}" in _page(client, support)


def test_the_delegates_dead_sign_in_is_needs_reconnect(client, support, ms):
    authorize(client, f"{support}/authorize/mail", oid=ADELE)
    ms.control("POST", "/revoke", {"oid": ADELE})
    ms.control("POST", "/expire", {"access_tokens": True})
    client.post(f"{support}/check")
    assert _mailbox().status == "needs_reconnect"
    listing = _page(client, "/admin/email/inbound")
    assert "Needs reconnect" in listing
    assert "the inbound mailbox “Support”" in listing  # the Admin pages' banner names it
    page = _page(client, support)
    assert f"a person with Full Access to {SUPPORT} signs in" in page


def _system(client, port, **overrides) -> None:
    data = smtp_settings(port, shared_address=SUPPORT, **overrides)
    response = client.post("/admin/email/system/outbound", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]


def _last_message() -> MailMessage:
    db.session.expire_all()
    return db.session.scalars(select(MailMessage).order_by(MailMessage.id.desc())).first()


def test_the_system_account_sends_as_a_shared_mailbox_over_smtp(
    auth, client, mail_app, mail_servers, mailctl, delegation
):
    auth.login("admin", "admin-password")
    _system(client, mail_servers.smtp_port)
    authorize(client, "/admin/email/system/authorize/mail", oid=ADELE)
    page = _page(client, "/admin/email/system")
    assert f"Signed in as Adele Vance (delegate) for {SUPPORT}" in page
    client.post("/admin/email/system/test-email")
    (sent,) = mailctl.outbox()
    assert sent["auth_user"] == ADELE_MAIL and sent["mail_from"] == SUPPORT
    assert f"From: {SUPPORT}" in sent["raw"] or f"<{SUPPORT}>" in sent["raw"]
    delegation.revoke(SUPPORT, ADELE_MAIL, "send_as")
    client.post("/admin/email/system/test-email")
    message = _last_message()
    assert message.status == "failed"
    assert "554 5.2.252 SendAsDenied" in message.status_reason
    assert "give them Send As on that mailbox" in message.status_reason
    assert len(mailctl.outbox()) == 1


def test_the_system_account_sends_as_a_shared_mailbox_through_graph(
    auth, client, mail_app, mail_servers, mailctl, delegation
):
    auth.login("admin", "admin-password")
    _system(client, mail_servers.smtp_port, send_via="graph")
    page = _page(client, "/admin/email/system")
    assert 'data-authorization="graph_mail_shared"' in page
    authorize_url = authorize(client, "/admin/email/system/authorize/graph_mail", oid=ADELE)
    assert "Mail.Send.Shared" in authorize_url
    assert _system_account().graph_authorization.credential.purpose == "graph_mail_shared"
    client.post("/admin/email/system/test-email")
    (sent,) = mailctl.outbox()
    assert sent["via"] == "graph" and sent["mail_from"] == SUPPORT
    assert sent["auth_user"] == ADELE_MAIL
    delegation.revoke(SUPPORT, ADELE_MAIL, "send_as")
    client.post("/admin/email/system/test-email")
    message = _last_message()
    assert message.status == "failed"
    assert f"did not let the signed-in person send as {SUPPORT} (ErrorSendAsDenied)" in (
        message.status_reason
    )


def test_changing_the_shared_address_removes_the_graph_authorization(
    auth, client, mail_app, mail_servers
):
    auth.login("admin", "admin-password")
    _system(client, mail_servers.smtp_port, send_via="graph")
    authorize(client, "/admin/email/system/authorize/graph_mail", oid=MEGAN)
    data = smtp_settings(mail_servers.smtp_port, send_via="graph", shared_address=SALES)
    client.post("/admin/email/system/outbound", data=data)
    page = _page(client, "/admin/email/system")
    assert "The Microsoft Graph authorization was removed" in page
    account = _system_account()
    assert account.shared_address == SALES and account.graph_authorization.credential is None


def _system_account() -> MailAccount:
    db.session.expire_all()
    return db.session.scalar(select(MailAccount).where(MailAccount.role == "system"))


def test_another_shared_address_starts_the_import_afresh(client, support, mailctl, ms):
    authorize(client, f"{support}/authorize/mail", oid=ADELE)
    mailctl.seed(SUPPORT, messages=[{"subject": "Old ticket", "to": SUPPORT}])
    client.post(f"{support}/check")
    assert [s.folder for s in _mailbox().sync_states] == ["INBOX"]
    help_desk = "helpdesk@contoso.example"
    ms.control("POST", "/mail/delegation/shared", {"address": help_desk, "name": "Help desk"})
    ms.control(
        "POST",
        "/mail/delegation/grant",
        {"mailbox": help_desk, "user": ADELE_MAIL, "right": "full_access"},
    )
    data = {"name": "Support", "shared_address": help_desk, "visibility": "all"}
    assert client.post(f"{support}/details", data=data).status_code == 302
    assert _mailbox().sync_states == []  # another mailbox: its UIDs start over
    mailctl.seed(help_desk, messages=[{"subject": "New ticket", "to": help_desk}])
    client.post(f"{support}/check")
    assert "Imported 1 new message." in _page(client, support)
    assert set(db.session.scalars(select(MailMessage.subject))) == {"Old ticket", "New ticket"}
