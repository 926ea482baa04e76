"""Inbound: a user's mailbox and Admin > Inbound Email imported over IMAP XOAUTH2 from Dovecot,
incrementally by UIDVALIDITY/UID, in bounded batches; every failure in words."""

import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.mail import importing as mail_import
from app.mail.models import MailAccount, MailAttachment, MailMessage, MailSyncState
from app.users.models import AuditEvent, User
from tests.mail.conftest import (
    ADELE_MAIL,
    MEGAN,
    MEGAN_MAIL,
    authorize,
    imap_settings,
    smtp_settings,
)

ATTACHED = {
    "from": "Megan Bowen <megan@contoso.example>",
    "to": "Adele Vance <adele@contoso.example>",
    "cc": "alex@fabrikam.example",
    "subject": "Contract =?utf-8?q?f=C3=BCr?= review",
    "date": "2026-03-04T05:06:07+01:00",
    "text": "Please review the contract.\n",
    "html": "<p>Please review the <b>contract</b>.</p>",
    "message_id": "<contract-1@contoso.example>",
    "attachments": [
        {"name": "contract.pdf", "size": 12345, "content_type": "application/pdf"},
        {"name": "Übersicht.xlsx", "size": 2048},
    ],
}


def _inbound(client, port, path="/emails/settings", **overrides):
    response = client.post(f"{path}/inbound", data=imap_settings(port, **overrides))
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]


def _account(role="personal") -> MailAccount:
    db.session.expire_all()
    return db.session.scalar(select(MailAccount).where(MailAccount.role == role))


def _state(folder="INBOX") -> MailSyncState:
    """The sync state of one folder of the personal mailbox."""
    return next(s for s in _account().sync_states if s.folder == folder)


def _count() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count(MailMessage.id)))


def _flash(client, path="/emails/settings") -> str:
    return client.get(path).get_data(as_text=True)


def test_check_now_imports_every_field_then_nothing_new(sally_mail, imap_port, mailctl):
    _inbound(sally_mail, imap_port)
    mailctl.seed(messages=[ATTACHED], count=2)
    assert sally_mail.post("/emails/settings/test-inbound").status_code == 302
    assert "Connection works: signed in to 127.0.0.1 and opened “INBOX” (3 messages)." in _flash(
        sally_mail
    )
    sally_mail.post("/emails/settings/check")
    assert "Imported 3 new messages." in _flash(sally_mail)
    message = db.session.scalar(
        select(MailMessage).where(MailMessage.message_id_header == "<contract-1@contoso.example>")
    )
    assert message.direction == "inbound" and message.status == "received"
    assert message.from_address == "Megan Bowen <megan@contoso.example>"
    assert message.to_addresses == "Adele Vance <adele@contoso.example>"
    assert message.cc_addresses == "alex@fabrikam.example"
    assert message.subject == "Contract für review"
    assert message.sent_at.isoformat() == "2026-03-04T04:06:07+00:00"
    assert message.body_text == "Please review the contract.\n"
    assert message.body_html == "<p>Please review the <b>contract</b>.</p>\n"
    # sizes from BODYSTRUCTURE: base64's decoded size, within its padding (2 bytes)
    assert [(a.filename, a.content_type, a.size // 10) for a in message.attachments] == [
        ("contract.pdf", "application/pdf", 1234),
        ("Übersicht.xlsx", "application/octet-stream", 204),
    ]
    assert message.imap_uid == 1 and message.user_id is not None
    page = sally_mail.get(f"/emails/{message.id}").get_data(as_text=True)
    assert "contract.pdf" in page and 'sandbox srcdoc="&lt;p&gt;Please' in page
    assert _state().last_uid == 3
    assert _state().uidvalidity == mailctl.mailbox()["uidvalidity"]
    result = mail_import.check_now(_account())  # the second run fetches nothing
    assert (result.found, result.imported, result.message) == (0, 0, "No new messages.")
    mailctl.seed(count=2, start=10)
    result = mail_import.check_now(_account())
    assert (result.found, result.imported) == (2, 2) and _count() == 5


def test_folders_named_in_any_language_are_opened_and_imported(sally_mail, imap_port, mailctl):
    mailctl.seed(folder="Entwürfe", count=2)
    mailctl.seed(folder="客户 & Partner", count=3, start=50)
    _inbound(sally_mail, imap_port, imap_folder="Entwürfe")
    sally_mail.post("/emails/settings/test-inbound")
    assert "opened “Entwürfe” (2 messages)" in _flash(sally_mail)
    assert mail_import.check_now(_account()).imported == 2
    _inbound(sally_mail, imap_port, imap_folder="客户 & Partner")
    result = mail_import.check_now(_account())
    assert (result.found, result.imported) == (3, 3) and _count() == 5
    assert [s.folder for s in _account().sync_states] == ["客户 & Partner"]


def test_uidvalidity_change_resyncs_without_duplicates(sally_mail, imap_port, mailctl):
    _inbound(sally_mail, imap_port)
    mailctl.seed(count=4)
    assert mail_import.check_now(_account()).imported == 4
    mailctl.renumber()
    mailctl.seed(count=1, start=100)
    result = mail_import.check_now(_account())
    assert (result.found, result.imported, result.duplicates) == (5, 1, 4)
    assert result.resynced and "re-synced" in result.message
    assert _count() == 5


def test_small_batches_and_a_large_message(sally_mail, imap_port, mailctl, app):
    app.config.update(MAIL_FETCH_BATCH=3, MAIL_FETCH_BATCH_BYTES=2000)
    _inbound(sally_mail, imap_port)
    mailctl.seed(count=7)
    big = {"subject": "Big one", "attachments": [{"name": "video.mp4", "size": 40000}]}
    mailctl.seed(messages=[big])
    calls = []

    class Counting(mail_import.Progress):
        def start(self, total):
            calls.append(("start", total))

        def advance(self, count):
            calls.append(("advance", count))

    result = mail_import.check_now(_account(), Counting())
    assert result.imported == 8 and calls[0] == ("start", 8)
    assert sum(n for kind, n in calls if kind == "advance") == 8
    assert max(n for kind, n in calls if kind == "advance") <= 3
    big = db.session.scalar(select(MailMessage).where(MailMessage.subject == "Big one"))
    assert big.body_text.startswith("Hello, this is message") and big.size > 40000
    assert [(a.filename, a.imap_section, a.encoding) for a in big.attachments] == [
        ("video.mp4", "2", "base64")
    ]


def test_flask_mail_fetch_with_a_progress_bar(sally_mail, imap_port, mailctl, runner):
    _inbound(sally_mail, imap_port)
    mailctl.seed(count=3)
    result = runner.invoke(args=["mail", "fetch", "--inline"])
    assert result.exit_code == 0, result.output
    assert "personal adele@contoso.example" in result.output
    assert f"{ADELE_MAIL}: Imported 3 new messages." in result.output
    again = runner.invoke(args=["mail", "fetch", "--inline"])
    assert f"{ADELE_MAIL}: No new messages." in again.output and _count() == 3


def test_group_mailbox_from_admin_inbound_email(auth, client, mail_app, imap_port, mailctl):
    auth.login("admin", "admin-password")
    admin_page = client.get("/admin/").get_data(as_text=True)
    assert "System Email Settings" in admin_page and "Inbound Email" in admin_page
    created = client.post("/admin/email/inbound/new", data={"name": "Team", "visibility": "all"})
    path = created.headers["Location"]
    page = client.get(path).get_data(as_text=True)
    assert 'value="outlook.office365.com"' in page and 'value="993"' in page
    _inbound(client, imap_port, path=path)
    authorize(client, f"{path}/authorize/mail", oid=MEGAN)
    mailctl.seed(MEGAN_MAIL, messages=[{"subject": "Support request", "to": MEGAN_MAIL}])
    client.post(f"{path}/check")
    assert "Imported 1 new message." in _flash(client, path)
    assert _account("group").authorized_email == MEGAN_MAIL
    auth.logout()
    auth.login()
    listing = client.get(f"/emails/?folder={_account('group').id}").get_data(as_text=True)
    assert "Support request" in listing
    assert "Support request" not in client.get("/emails/").get_data(as_text=True)
    assert client.get(path).status_code == 403
    assert client.post(f"{path}/check").status_code == 403


def test_a_folder_that_will_not_open_does_not_stop_the_others(sally_mail, imap_port, mailctl):
    mailctl.seed(count=2)
    _inbound(sally_mail, imap_port, imap_folder="INBOX, Archiv")  # misspelt
    sally_mail.post("/emails/settings/check")
    page = _flash(sally_mail)
    assert "Check failed: Imported 2 new messages. The folder “Archiv” could not be opened" in page
    assert "Check the Folder setting." in page
    assert _count() == 2 and _state("INBOX").last_uid == 2  # INBOX's mail is in
    assert db.session.scalar(select(MailSyncState).where(MailSyncState.folder == "Archiv")) is None
    _inbound(sally_mail, imap_port)  # fixed: INBOX alone, nothing new, nothing twice
    sally_mail.post("/emails/settings/check")
    assert "No new messages." in _flash(sally_mail) and _count() == 2


def test_imap_down_wrong_port_and_tls_mismatch(sally_mail, imap_port, mailctl, closed_port):
    mailctl.seed(count=1)
    _inbound(sally_mail, closed_port)
    sally_mail.post("/emails/settings/check")
    page = _flash(sally_mail)
    assert f"Check failed: The mail server 127.0.0.1:{closed_port} refused the connection." in page
    assert "Failed: The mail server" in page  # the last check, shown on the page
    _inbound(sally_mail, imap_port, imap_security="ssl")
    sally_mail.post("/emails/settings/test-inbound")
    assert "Test failed: TLS mismatch:" in _flash(sally_mail)
    _inbound(sally_mail, imap_port, imap_folder="Archive")
    sally_mail.post("/emails/settings/check")
    assert "The folder “Archive” could not be opened" in _flash(sally_mail)
    _inbound(sally_mail, imap_port)
    sally_mail.post("/emails/settings/check")
    assert "Imported 1 new message." in _flash(sally_mail) and _count() == 1


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_import_over_verified_tls(sally_mail, imap_port, mail_servers, mailctl, app, security):
    app.config["MAIL_CA_FILE"] = mail_servers.ca_file
    mailctl.seed(count=2)
    port = mail_servers.imaps_port if security == "ssl" else imap_port
    _inbound(sally_mail, port, imap_security=security)
    sally_mail.post("/emails/settings/check")
    assert "Imported 2 new messages." in _flash(sally_mail) and _count() == 2


def test_imaps_to_a_certificate_nobody_vouches_for_fails_in_words(
    sally_mail, imap_port, mail_servers, mailctl
):
    mailctl.seed(count=1)
    _inbound(sally_mail, mail_servers.imaps_port, imap_security="ssl")
    sally_mail.post("/emails/settings/test-inbound")
    assert "Test failed: The certificate of 127.0.0.1 could not be verified" in _flash(sally_mail)
    assert _count() == 0


def test_timeout_on_a_silent_server(sally_mail, silent_server, app):
    app.config["MAIL_TIMEOUT"] = 1
    _inbound(sally_mail, silent_server)
    # Without Dovecot the IMAP host was Exchange's until now: moving it drops the grant.
    authorize(sally_mail)
    sally_mail.post("/emails/settings/test-inbound")
    assert "did not answer within 1 second." in _flash(sally_mail)


def test_rejected_token_is_refreshed_once_then_not_authorized(sally_mail, imap_port, mailctl, ms):
    _inbound(sally_mail, imap_port)
    mailctl.seed(count=1)
    ms.fault("imap", "reject", count=1)
    assert mail_import.check_now(_account()).imported == 1
    assert ms.stats()["token.refresh_token"] == 1
    ms.fault("imap", "reject")
    sally_mail.post("/emails/settings/check")
    assert "Check failed: Not Authorized, please authorize again." in _flash(sally_mail)
    assert _account().status == "needs_reconnect" and _account().sync_lock_until is None


def test_one_check_at_a_time(sally_mail, imap_port):
    _inbound(sally_mail, imap_port)
    account = _account()
    assert mail_import._claim(account)
    sally_mail.post("/emails/settings/check")
    assert "A check of this mailbox is already running" in _flash(sally_mail)


def test_deleting_the_user_deletes_mail_tokens_but_not_other_data(sally_mail, imap_port, mailctl):
    from app.connect.models import Credential
    from app.users import directory as users
    from app.users.models import User

    _inbound(sally_mail, imap_port)
    mailctl.seed(count=1)
    mail_import.check_now(_account())
    assert db.session.scalar(select(func.count(Credential.id))) == 1
    sally = db.session.scalar(select(User).where(User.username == "sally"))
    users.delete_user(None, sally)
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Credential.id))) == 0
    assert db.session.scalar(select(func.count(MailAccount.id))) == 0
    assert db.session.scalar(select(func.count(MailAttachment.id))) == 0


def test_duplicates_are_skipped_and_each_batch_is_one_insert(sally_mail, imap_port, mailctl, app):
    from sqlalchemy import event

    app.config.update(MAIL_FETCH_BATCH=3)
    _inbound(sally_mail, imap_port)
    twice = {
        "subject": "Forwarded twice",
        "message_id": "<twice@contoso.example>",
        "attachments": [{"name": "a.txt", "size": 10}],
    }
    mailctl.seed(messages=[twice, twice])  # the same Message-ID in one batch…
    mailctl.seed(count=3)
    mailctl.seed(messages=[twice])  # …and in the next one
    inserts = []

    def seen(_connection, _cursor, statement, _parameters, _context, executemany):
        if statement.startswith("INSERT INTO mail_"):
            inserts.append((statement.split()[2], executemany))

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        result = mail_import.check_now(_account())
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert (result.found, result.imported, result.duplicates) == (6, 4, 2)
    assert "2 already imported were skipped" in result.message and _count() == 4
    stored = db.session.scalar(select(MailMessage).where(MailMessage.subject == "Forwarded twice"))
    assert [a.filename for a in stored.attachments] == ["a.txt"]
    assert 10 <= stored.attachments[0].size <= 12  # base64's size less its line ends
    # the folder's sync state, made at its first run; then two batches: each stores its
    # messages with one statement, the first also its attachments
    assert [table for table, _many in inserts] == [
        "mail_sync_states",
        "mail_messages",
        "mail_attachments",
        "mail_messages",
    ]
    assert _state().last_uid == 6 and _account().sync_lock_until is None


def test_uidvalidity_change_imports_only_what_is_new(sally_mail, imap_port, mailctl, app):
    app.config.update(MAIL_FETCH_BATCH=2)
    _inbound(sally_mail, imap_port)
    mailctl.seed(count=3, messages=[ATTACHED])
    assert mail_import.check_now(_account()).imported == 4
    old = _state().uidvalidity
    assert mailctl.renumber() != old
    mailctl.seed(count=1, start=50)
    result = mail_import.check_now(_account())
    assert (result.found, result.imported, result.duplicates) == (5, 1, 4) and result.resynced
    assert _state().uidvalidity != old and _count() == 5
    assert db.session.scalar(select(func.count(MailAttachment.id))) == 2  # not copied again
    assert mail_import.check_now(_account()).found == 0


# --- import only on request ------------------------------------------------------------------


def _import_checkbox(page: str) -> bool:
    """Whether the page's Import into Emails box is ticked."""
    match = re.search(r'<input[^>]*name="import_enabled"[^>]*>', page)
    assert match, "no Import into Emails checkbox"
    return " checked" in match.group(0)


def test_authorizing_to_send_never_imports_the_mailbox(sally_mail, imap_port, mailctl, runner):
    mailctl.seed(count=2)
    assert not _import_checkbox(_flash(sally_mail))
    fetched = runner.invoke(args=["mail", "fetch", "--inline"])
    assert fetched.exit_code == 0, fetched.output
    assert "No mailbox has Import into Emails turned on" in fetched.output and _count() == 0
    sally_mail.post("/emails/settings/check")
    page = _flash(sally_mail)
    assert "Check failed: Import into Emails is off for this mailbox. Turn it on" in page
    assert _count() == 0
    sally_mail.post("/emails/settings/test-inbound")  # Test still signs in and opens the folder
    assert "Connection works: signed in to 127.0.0.1" in _flash(sally_mail)

    _inbound(sally_mail, imap_port)  # the owner turns it on
    page = _flash(sally_mail)
    assert _import_checkbox(page) and 'data-import="on"' in page
    event = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == "mail.settings_saved")
        .order_by(AuditEvent.id.desc())
    ).first()
    assert event.actor_name == "sally" and "import on" in event.detail
    assert runner.invoke(args=["mail", "fetch", "--inline"]).exit_code == 0 and _count() == 2


def test_fetch_names_a_mailbox_to_authorize_again_once_and_skips_it(
    sally_mail, imap_port, auth, client, mail_servers, runner
):
    _inbound(sally_mail, imap_port)
    sally_mail.post("/emails/settings/deauthorize/mail")
    auth.logout()
    auth.login("admin", "admin-password")  # a system account never set up for import
    outbound = smtp_settings(mail_servers.smtp_port)
    assert client.post("/admin/email/system/outbound", data=outbound).status_code == 302
    fetched = runner.invoke(args=["mail", "fetch", "--inline"])
    assert fetched.exit_code == 0  # as the workers' rounds: skipped until authorized again
    assert fetched.output == "Not synced until authorized again: sally.\n"
    assert _account().last_checked_at is None  # not tried


def test_the_group_mailbox_imports_by_default_a_persons_only_on_request(auth, client, mail_app):
    sally = db.session.scalar(select(User).where(User.username == "sally"))
    auth.login("admin", "admin-password")
    created = client.post("/admin/email/inbound/new", data={"name": "Team", "visibility": "all"})
    path = created.headers["Location"]
    assert _import_checkbox(client.get(path).get_data(as_text=True))
    assert not _import_checkbox(client.get(f"/admin/email/users/{sally.id}").get_data(as_text=True))
    assert not _import_checkbox(client.get("/emails/settings").get_data(as_text=True))
    data = imap_settings(993, imap_host="outlook.office365.com", imap_security="ssl")
    del data["import_enabled"]  # an admin may turn it off for the group mailbox too
    assert client.post(f"{path}/inbound", data=data).status_code == 302
    assert _account("group").import_enabled is False
    assert not _import_checkbox(client.get(path).get_data(as_text=True))
