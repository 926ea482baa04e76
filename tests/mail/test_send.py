"""Sending: Email Settings, Send Test Email, Compose, Graph sendMail, and every bad input."""

import smtplib
from email import message_from_string, policy

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.mail import authorizations, sending, settings, transport
from app.mail.models import MailAccount, MailMessage
from app.users.models import AuditEvent
from tests.conftest import free_port
from tests.mail.conftest import ADELE_MAIL, MEGAN, allow_hosts, authorize, smtp_settings


def _messages() -> list[MailMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(MailMessage).order_by(MailMessage.id)))


def _account() -> MailAccount:
    db.session.expire_all()
    return db.session.scalar(select(MailAccount).where(MailAccount.role == "personal"))


def test_send_test_email_over_smtp_xoauth2(sally_mail, mailctl):
    client = sally_mail
    page = client.get("/emails/settings").get_data(as_text=True)
    assert "Authorized" in page and ADELE_MAIL in page
    response = client.post("/emails/settings/test-email")
    assert response.status_code == 302
    page = client.get("/emails/settings").get_data(as_text=True)
    assert f"The test email was sent to {ADELE_MAIL}" in page
    (sent,) = mailctl.outbox()
    assert sent["via"] == "smtp" and sent["auth_user"] == ADELE_MAIL
    assert sent["rcpt_tos"] == [ADELE_MAIL]
    parsed = message_from_string(sent["raw"], policy=policy.default)
    assert parsed["From"] == f"Sally Bronsen <{ADELE_MAIL}>"
    (message,) = _messages()
    assert message.status == "sent" and message.attempts == 1 and message.sent_via == "smtp"
    assert message.message_id_header == parsed["Message-ID"]


def test_email_settings_are_prefilled_for_exchange_online(auth, client, mail_app):
    auth.login()
    home = client.get("/home").get_data(as_text=True)
    assert 'href="/emails/"' in home and ">Emails<" in home
    page = client.get("/emails/settings").get_data(as_text=True)
    for expected in (
        'value="smtp.office365.com"',
        'value="587"',
        'selected value="starttls"',
        'value="outlook.office365.com"',
        'value="993"',
        'selected value="ssl"',
        'value="INBOX"',
        "Not Authorized",
        "Authorized Email Address",
        "Exchange Online",
        "Send via",
        "Microsoft Graph",
        "Send Test Email",
    ):
        assert expected in page, expected
    assert db.session.scalar(select(func.count(MailAccount.id))) == 0  # nothing saved by a visit


def test_authorize_asks_for_mail_scopes_only_and_is_audited(auth, client, mail_app, mail_servers):
    auth.login()
    authorize_url = authorize(client)
    assert "Files.ReadWrite" not in authorize_url and "User.Read" not in authorize_url
    assert (
        "scope=openid+profile+email+offline_access+https%3A%2F%2Foutlook.office.com%2FSMTP"
        ".Send+https%3A%2F%2Foutlook.office.com%2FIMAP.AccessAsUser.All&" in authorize_url
    )
    account = _account()
    assert account.status == "connected" and account.authorized_email == ADELE_MAIL
    assert account.credential.purpose == "mail" and account.credential.account_id is None
    assert "outlook.office.com/SMTP.Send" in account.credential.scopes
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "mail.authorized"))
    assert event.actor_name == "sally" and ADELE_MAIL in event.detail
    page = client.get("/emails/settings?flow=x").get_data(as_text=True)
    assert 'data-authorization="mail">Authorized<' in page


def test_the_callback_page_reports_the_result(auth, client, mail_app, mail_servers):
    auth.login()
    start = client.post("/emails/settings/authorize/mail", data={"mode": "redirect"})
    assert start.status_code == 302  # the pop-up was blocked: same window
    from tests.mail.conftest import app_path, sign_in_at_standin

    back = client.get(
        app_path(
            sign_in_at_standin(start.headers["Location"], "a11ce000-0000-4000-8000-00000000ade1")
        )
    )
    assert back.status_code == 302 and back.headers["Location"].startswith("/emails/settings?flow=")
    page = client.get(back.headers["Location"]).get_data(as_text=True)
    assert f"Authorized {ADELE_MAIL} for SMTP and IMAP." in page


def test_authorize_needs_a_configured_connector(auth, client, app):
    auth.login()
    page = client.get("/emails/settings").get_data(as_text=True)
    assert "Admin &gt; Connectors" in page
    response = client.post(
        "/emails/settings/authorize/mail",
        data={"mode": "popup"},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 409
    assert "Admin > Connectors" in response.get_json()["error"]
    assert (
        client.post(
            "/emails/settings/authorize/onedrive",
            data={"mode": "popup"},
            headers={"Accept": "application/json"},
        ).status_code
        == 404
    )


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (
            {"smtp_host": "smtp.example.com", "smtp_security": "none"},
            "only allowed for a server on this machine",
        ),
        ({"smtp_port": "0"}, "Ports go from 1 to 65535."),
        ({"smtp_port": "70000"}, "Ports go from 1 to 65535."),
        ({"smtp_host": ""}, "Enter the SMTP server."),
        ({"smtp_host": "smtp.example.com/x"}, "Enter the server&#39;s host name"),
        ({"email_provider": "other", "username": ""}, "Enter the username of the SMTP account."),
        ({"email_provider": "other", "username": "u@x.example"}, "Enter the password"),
        ({"smtp_security": "tls13"}, "Not a valid choice"),
    ],
)
def test_bad_outbound_settings_are_refused_in_words(auth, client, app, overrides, words):
    auth.login()
    response = client.post("/emails/settings/outbound", data=smtp_settings(2525, **overrides))
    assert response.status_code == 400
    assert words in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(MailAccount.id))) == 0


def test_other_smtp_with_a_password_kept_encrypted(auth, client, mail_app, mail_servers, mailctl):
    from standin.smtp import BASIC_PASSWORD

    auth.login()
    data = smtp_settings(
        mail_servers.smtp_port, email_provider="other", username=ADELE_MAIL, password=BASIC_PASSWORD
    )
    assert client.post("/emails/settings/outbound", data=data).status_code == 302
    account = _account()
    assert BASIC_PASSWORD not in account.password_encrypted
    assert BASIC_PASSWORD not in client.get("/emails/settings").get_data(as_text=True)
    client.post("/emails/settings/test-email")
    assert [m["auth_user"] for m in mailctl.outbox()] == [ADELE_MAIL]
    data["password"] = ""  # blank keeps the stored password
    assert client.post("/emails/settings/outbound", data=data).status_code == 302
    assert _account().password_encrypted == account.password_encrypted


def test_a_password_no_key_opens_fails_the_message_with_words(
    auth, client, mail_app, mail_servers, mailctl
):
    from cryptography.fernet import Fernet

    from standin.smtp import BASIC_PASSWORD

    auth.login()
    data = smtp_settings(
        mail_servers.smtp_port, email_provider="other", username=ADELE_MAIL, password=BASIC_PASSWORD
    )
    client.post("/emails/settings/outbound", data=data)
    account = _account()
    account.password_encrypted = Fernet(Fernet.generate_key()).encrypt(b"old").decode()
    db.session.commit()
    response = client.post("/emails/settings/test-email")
    assert response.status_code == 302
    page = client.get("/emails/settings").get_data(as_text=True)
    assert "stored password of this mail account can no longer be read" in page
    assert mailctl.outbox() == []


@pytest.mark.parametrize(
    ("typed", "addresses"),
    [
        ('"Smith, John" <john@fabrikam.example>', ["john@fabrikam.example"]),
        (
            '"Lee; Max" <lee@fabrikam.example>; "Doe, J." <j@contoso.example>,x@contoso.example',
            ["lee@fabrikam.example", "j@contoso.example", "x@contoso.example"],
        ),
        ("Max <max@fabrikam.example> ;; ,", ["max@fabrikam.example"]),
    ],
)
def test_recipient_names_may_hold_commas_and_semicolons(typed, addresses):
    assert sending.parse_addresses(typed, "to") == addresses


@pytest.mark.parametrize("typed", ['"Smith, John" <john@>', "Smith <>", "two words", "a@b, c@d"])
def test_recipients_that_are_not_addresses_are_named(typed):
    with pytest.raises(settings.MailSettingsError, match="is not a valid email address"):
        sending.parse_addresses(typed, "to")


def test_compose_to_and_cc_is_stored_then_sent(sally_mail, mailctl):
    response = sally_mail.post(
        "/emails/compose",
        data={
            "to": '"Max, from Fabrikam" <max@fabrikam.example>; lee@fabrikam.example',
            "cc": "boss@contoso.example",
            "subject": "Quarterly numbers",
            "body": "Hello,\nsee attached.\n",
        },
    )
    assert response.status_code == 302
    (message,) = _messages()
    assert response.headers["Location"] == f"/emails/{message.id}"
    assert (
        message.status == "sent"
        and message.to_addresses == "max@fabrikam.example, lee@fabrikam.example"
    )
    (sent,) = mailctl.outbox()
    assert sent["rcpt_tos"] == [
        "max@fabrikam.example",
        "lee@fabrikam.example",
        "boss@contoso.example",
    ]
    assert sent["subject"] == "Quarterly numbers"
    page = sally_mail.get(response.headers["Location"]).get_data(as_text=True)
    assert "The message was sent." in page and "Quarterly numbers" in page
    listing = sally_mail.get("/emails/").get_data(as_text=True)
    assert "Quarterly numbers" in listing and ">Sent<" in listing


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"to": ""}, "Enter at least one recipient."),
        ({"to": "not-an-address"}, "is not a valid email address"),
        ({"to": "a@b.example", "cc": "x@"}, "is not a valid email address"),
        ({"to": "a@b.example", "subject": "two\r\nlines"}, "one line"),
    ],
)
def test_compose_bad_input_is_refused_and_kept(sally_mail, mailctl, data, words):
    response = sally_mail.post("/emails/compose", data={"subject": "s", "body": "keep me", **data})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert words in page and "keep me" in page  # the form keeps what was typed
    assert _messages() == [] and mailctl.outbox() == []


def test_compose_without_an_account_says_where_to_set_one_up(auth, client, app):
    auth.login()
    response = client.post("/emails/compose", data={"to": "a@b.example", "body": "kept"})
    assert response.status_code == 409
    assert "Set one up in Emails &gt; Email Settings" in response.get_data(as_text=True)
    assert _messages() == []


def test_users_send_through_the_system_account_when_allowed(
    auth, client, mail_app, mail_servers, mailctl
):
    auth.login("admin", "admin-password")
    data = smtp_settings(mail_servers.smtp_port, allow_user_fallback="y")
    assert client.post("/admin/email/system/outbound", data=data).status_code == 302
    authorize(
        client, "/admin/email/system/authorize/mail", oid="a11ce000-0000-4000-8000-00000000e6a0"
    )
    auth.logout()
    auth.login()
    response = client.post("/emails/compose", data={"to": "a@b.example", "subject": "via system"})
    assert response.status_code == 302
    (sent,) = mailctl.outbox()
    assert sent["auth_user"] == "megan@contoso.example"
    (message,) = _messages()
    assert message.user_id is not None and message.account.role == "system"


def test_send_via_microsoft_graph_needs_its_own_authorization(
    sally_mail, mail_servers, mailctl, ms
):
    data = smtp_settings(mail_servers.smtp_port, send_via="graph")
    assert sally_mail.post("/emails/settings/outbound", data=data).status_code == 302
    page = sally_mail.get("/emails/settings").get_data(as_text=True)
    assert 'data-authorization="graph_mail">Not Authorized<' in page
    refused = sally_mail.post("/emails/compose", data={"to": "a@b.example"})
    assert refused.status_code == 409 and "Not Authorized" in refused.get_data(as_text=True)
    authorize_url = authorize(sally_mail, "/emails/settings/authorize/graph_mail")
    scopes = "User.Read+Mail.Send+Mail.ReadWrite&"
    assert f"scope=openid+profile+email+offline_access+{scopes}" in authorize_url
    account = _account()
    assert account.graph_authorization.credential.purpose == "graph_mail"
    assert account.credential.purpose == "mail"  # the Outlook token stays apart
    assert (
        sally_mail.post(
            "/emails/compose", data={"to": "a@b.example", "cc": "c@d.example", "subject": "Graph"}
        ).status_code
        == 302
    )
    (sent,) = mailctl.outbox()
    assert sent["via"] == "graph" and sent["rcpt_tos"] == ["a@b.example", "c@d.example"]
    assert sent["graph_message"]["body"] == {"contentType": "Text", "content": ""}
    (message,) = _messages()
    assert message.status == "sent" and message.sent_via == "graph"
    assert ms.stats().get("graph.sendMail") == 1


def test_graph_401_refreshes_once_then_says_not_authorized(sally_mail, mail_servers, mailctl, ms):
    sally_mail.post(
        "/emails/settings/outbound", data=smtp_settings(mail_servers.smtp_port, send_via="graph")
    )
    authorize(sally_mail, "/emails/settings/authorize/graph_mail")
    ms.control("POST", "/expire", {"access_tokens": True})
    sally_mail.post("/emails/compose", data={"to": "a@b.example"})
    assert _messages()[-1].status == "sent"  # the refreshed token worked
    ms.fault("graph", "401")
    ms.fault("graph", "401", count=2)
    sally_mail.post("/emails/compose", data={"to": "a@b.example"})
    message = _messages()[-1]
    assert message.status == "failed" and message.status_reason.startswith(
        authorizations.NOT_AUTHORIZED
    )
    assert _account().graph_authorization.status == "needs_reconnect"


# --- bad input: each a clear message, the message kept -------------------------------------


def _send_after(client, **settings) -> MailMessage:
    if settings:
        response = client.post("/emails/settings/outbound", data=smtp_settings(**settings))
        assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    response = client.post(
        "/emails/compose", data={"to": "a@b.example", "subject": "kept", "body": "never lost"}
    )
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    message = _messages()[-1]
    assert message.subject == "kept" and message.body_text == "never lost"
    if message.status == "failed":
        assert "could not be sent" in page and "Send again" in page
    return message


def test_wrong_server_name(sally_mail, app):
    # A relay the operator listed, whose name does not exist: the send fails in words.
    allow_hosts(app, "no-such-host.invalid")
    account = _account()
    account.smtp_host, account.smtp_port, account.smtp_security = "no-such-host.invalid", 25, "ssl"
    db.session.commit()
    message = _send_after(sally_mail)
    assert message.status == "failed"
    assert message.status_reason == (
        "The mail server name “no-such-host.invalid” could not be found. Check the server."
    )


def test_wrong_port(sally_mail, closed_port):
    message = _send_after(sally_mail, port=closed_port)
    assert message.status == "failed" and "refused the connection" in message.status_reason
    assert f"127.0.0.1:{closed_port}" in message.status_reason


def test_tls_mismatch_ssl_on_a_plain_port(sally_mail, mail_servers):
    message = _send_after(sally_mail, port=mail_servers.smtp_port, smtp_security="ssl")
    assert message.status == "failed" and message.status_reason.startswith("TLS mismatch:")


@pytest.fixture
def smtp_without_tls(app):
    """An SMTP server that offers no STARTTLS (the stand-in's offers it, as Microsoft's does);
    listed in MAIL_ALLOWED_HOSTS."""
    from aiosmtpd.controller import Controller

    class Sink:
        async def handle_DATA(self, server, session, envelope):
            return "250 OK"

    controller = Controller(Sink(), hostname="127.0.0.1", port=free_port())
    allow_hosts(app, f"127.0.0.1:{controller.port}")
    controller.start()
    yield controller.port
    controller.stop()


def test_tls_mismatch_starttls_not_offered(sally_mail, smtp_without_tls):
    message = _send_after(sally_mail, port=smtp_without_tls, smtp_security="starttls")
    assert message.status == "failed"
    assert "does not offer STARTTLS" in message.status_reason


def test_starttls_with_a_verified_certificate_sends(sally_mail, mail_servers, mailctl, app):
    app.config["MAIL_CA_FILE"] = mail_servers.ca_file
    message = _send_after(sally_mail, port=mail_servers.smtp_port, smtp_security="starttls")
    assert message.status == "sent", message.status_reason
    (sent,) = mailctl.outbox()
    assert sent["rcpt_tos"] == ["a@b.example"] and sent["subject"] == "kept"


def test_starttls_to_a_certificate_nobody_vouches_for_fails_in_words(sally_mail, mail_servers):
    message = _send_after(sally_mail, port=mail_servers.smtp_port, smtp_security="starttls")
    assert message.status == "failed"
    assert message.status_reason.startswith("The certificate of 127.0.0.1 could not be verified")


def test_an_unreadable_ca_file_is_named(sally_mail, mail_servers, app, tmp_path):
    app.config["MAIL_CA_FILE"] = str(tmp_path / "missing.pem")
    message = _send_after(sally_mail, port=mail_servers.smtp_port, smtp_security="starttls")
    assert message.status == "failed" and "MAIL_CA_FILE" in message.status_reason


def test_timeout(sally_mail, silent_server, app):
    app.config["MAIL_TIMEOUT"] = 1
    message = _send_after(sally_mail, port=silent_server)
    assert message.status == "failed" and "did not answer within 1 second." in message.status_reason


def test_server_hangs_up(sally_mail, ms):
    ms.fault("smtp", "disconnect", count=1)
    message = _send_after(sally_mail)
    assert (
        message.status == "failed" and "closed the connection unexpectedly" in message.status_reason
    )


def test_expired_token_is_refreshed_once(sally_mail, ms, mailctl):
    ms.control("POST", "/expire", {"access_tokens": True})  # the app still thinks it is valid
    message = _send_after(sally_mail)
    assert message.status == "sent"
    stats = ms.stats()
    assert stats["smtp.auth.rejected.expired"] == 1 and stats["token.refresh_token"] == 1
    assert len(mailctl.outbox()) == 1


def test_rejected_twice_means_not_authorized_and_retry_after_authorizing(sally_mail, ms, mailctl):
    ms.fault("smtp", "535")
    message = _send_after(sally_mail)
    assert message.status == "failed"
    assert message.status_reason.startswith("Not Authorized, please authorize again.")
    assert "535 5.7.3 Authentication unsuccessful" in message.status_reason
    account = _account()
    assert account.status == "needs_reconnect" and ms.stats()["token.refresh_token"] == 1
    page = sally_mail.get("/emails/settings").get_data(as_text=True)
    assert "Not Authorized, please authorize again." in page
    ms.control("DELETE", "/faults")
    authorize(sally_mail)
    response = sally_mail.post(f"/emails/{message.id}/retry")
    assert response.status_code == 302
    message = _messages()[-1]
    assert message.status == "sent" and message.attempts == 2 and len(mailctl.outbox()) == 1


def test_smtp_auth_turned_off_is_said_and_the_authorization_kept(sally_mail, ms, mailctl):
    """535 5.7.139: SMTP AUTH is off for the mailbox or the tenant, an Exchange administrator's
    setting. The message says so; no token is refreshed and the authorization stays, since
    signing in again cannot change it."""
    ms.fault("smtp", "auth_disabled", count=1)
    message = _send_after(sally_mail)
    assert message.status == "failed"
    assert "SMTP AUTH is turned off for this mailbox or tenant" in message.status_reason
    assert "5.7.139" in message.status_reason
    assert _account().status == "connected"
    assert ms.stats().get("token.refresh_token", 0) == 0 and mailctl.outbox() == []


def test_a_temporary_smtp_auth_failure_is_not_a_refused_token(sally_mail, ms, mailctl):
    """454 4.7.0 (RFC 4954): try again later. Not a refused sign-in: no refresh, no reconnect."""
    ms.fault("smtp", "454", count=1)
    message = _send_after(sally_mail)
    assert message.status == "failed" and "454 4.7.0" in message.status_reason
    assert _account().status == "connected"
    assert ms.stats().get("token.refresh_token", 0) == 0
    response = sally_mail.post(f"/emails/{message.id}/retry")  # it passed: Send again works
    assert response.status_code == 302 and _messages()[-1].status == "sent"
    assert len(mailctl.outbox()) == 1


def test_smtp_4xx_replies_are_passing_failures():
    """A 4xx reply is a MailError that may be tried again; a 5xx one is not."""
    server = transport.Server("smtp.example", 587, "starttls", 5.0)
    for code, transient in ((454, True), (451, True), (535, False), (554, False)):
        with pytest.raises(transport.MailError) as raised:
            with transport.words_for_errors(server):
                raise smtplib.SMTPAuthenticationError(code, b"4.7.0 or 5.7.0 reply")
        assert raised.value.transient is transient, code


def test_revoked_grant_needs_reconnect(sally_mail, ms):
    ms.control("POST", "/revoke", {"oid": "a11ce000-0000-4000-8000-00000000ade1"})
    ms.control("POST", "/expire", {"access_tokens": True})
    message = _send_after(sally_mail)
    assert message.status == "failed" and message.status_reason == authorizations.NOT_AUTHORIZED
    assert _account().status == "needs_reconnect"
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "mail_account.needs_reconnect")
    )
    assert event is not None


def test_retry_after_fixing_the_port(sally_mail, closed_port, mail_servers, mailctl):
    message = _send_after(sally_mail, port=closed_port)
    assert message.status == "failed"
    sally_mail.post("/emails/settings/outbound", data=smtp_settings(mail_servers.smtp_port))
    sally_mail.post(f"/emails/{message.id}/retry")
    message = _messages()[-1]
    assert message.status == "sent" and message.attempts == 2
    assert sally_mail.post(f"/emails/{message.id}/retry").status_code == 302  # refused, kept
    assert _messages()[-1].attempts == 2


def test_another_user_cannot_open_or_retry_my_message(sally_mail, make_user, auth, closed_port):
    message = _send_after(sally_mail, port=closed_port)
    make_user("max", "max-password1")
    auth.logout()
    auth.login("max", "max-password1")
    assert sally_mail.get(f"/emails/{message.id}").status_code == 404
    assert sally_mail.post(f"/emails/{message.id}/retry").status_code == 404


# --- input that cannot become a header, and accounts that cannot send ----------------------


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"from_name": "Sally\r\nBcc: spy@evil.example"}, "from_name", "must be one line"),
        ({"from_name": "Sally\nBronsen"}, "from_name", "must be one line"),
        (
            {"email_provider": "other", "username": "sally", "password": "pw"},
            "username",
            "Enter the username as an email address",
        ),
        (
            {"email_provider": "other", "username": "sally@", "password": "pw"},
            "username",
            "Enter the username as an email address",
        ),
    ],
)
def test_sender_fields_that_cannot_be_headers_are_refused(
    auth, client, app, overrides, field, words
):
    auth.login()
    response = client.post("/emails/settings/outbound", data=smtp_settings(587, **overrides))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert words in page and f'id="{field}-errors"' in page
    assert db.session.scalar(select(func.count(MailAccount.id))) == 0


def test_a_stored_from_name_with_a_line_break_fails_the_message_in_words(sally_mail, mailctl):
    account = _account()
    account.from_name = "Sally\r\nBcc: spy@evil.example"  # saved before the form refused it
    db.session.commit()
    message = _send_after(sally_mail)
    assert message.status == "failed"
    assert message.status_reason.startswith("The message could not be built:")
    assert "Check the From Name" in message.status_reason
    assert mailctl.outbox() == []


def _not_authorized(client):
    client.post("/emails/settings/deauthorize/mail")


def _graph_not_authorized(client):
    data = smtp_settings(_account().smtp_port, send_via="graph")
    assert client.post("/emails/settings/outbound", data=data).status_code == 302


def _no_sender_address(_client):
    account = _account()
    account.authorized_email = ""
    db.session.commit()


def _other_without_password(_client):
    account = _account()
    account.email_provider, account.username, account.password_encrypted = "other", ADELE_MAIL, ""
    db.session.commit()


@pytest.mark.parametrize(
    ("break_it", "words"),
    [
        (_not_authorized, "Exchange Online is Not Authorized: press Authorize"),
        (_graph_not_authorized, "Send via Microsoft Graph is Not Authorized"),
        (_no_sender_address, "There is no sender address yet"),
        (_other_without_password, "Enter the SMTP password and save."),
    ],
)
def test_send_test_email_is_refused_up_front_when_the_account_cannot_send(
    sally_mail, mailctl, break_it, words
):
    break_it(sally_mail)
    response = sally_mail.post("/emails/settings/test-email")
    assert response.status_code == 302
    page = sally_mail.get("/emails/settings").get_data(as_text=True)
    assert f"Send Test Email cannot send yet. {words}" in page
    assert _messages() == [] and mailctl.outbox() == []  # nothing stored, nothing sent


# --- retry follows the system account's fallback setting as it is now ---------------------


def _compose(client, subject: str) -> MailMessage:
    response = client.post("/emails/compose", data={"to": "a@b.example", "subject": subject})
    assert response.status_code == 302
    return _messages()[-1]


def test_retry_through_the_system_account_follows_its_fallback_setting_now(
    auth, client, mail_app, mail_servers, mailctl, ms
):
    system = smtp_settings(mail_servers.smtp_port, allow_user_fallback="y")
    auth.login("admin", "admin-password")
    assert client.post("/admin/email/system/outbound", data=system).status_code == 302
    authorize(client, "/admin/email/system/authorize/mail", oid=MEGAN)
    ms.fault("smtp", "disconnect", count=2)
    admins = _compose(client, "admin's")
    auth.logout()
    auth.login()
    sallys = _compose(client, "sally's")
    assert (admins.status, sallys.status) == ("failed", "failed")
    assert admins.account.role == sallys.account.role == "system"
    auth.logout()
    auth.login("admin", "admin-password")
    del system["allow_user_fallback"]  # users may no longer send through it
    assert client.post("/admin/email/system/outbound", data=system).status_code == 302
    auth.logout()

    auth.login()
    assert client.post(f"/emails/{sallys.id}/retry").status_code == 302
    page = client.get(f"/emails/{sallys.id}").get_data(as_text=True)
    assert "Users may no longer send through the system email account." in page
    assert (_messages()[1].status, _messages()[1].attempts) == ("failed", 1)
    assert mailctl.outbox() == []
    own = smtp_settings(mail_servers.smtp_port)  # with an account of her own, it goes through it
    assert client.post("/emails/settings/outbound", data=own).status_code == 302
    authorize(client)
    client.post(f"/emails/{sallys.id}/retry")
    retried = _messages()[1]
    assert retried.status == "sent" and retried.account.role == "personal"
    assert [m["auth_user"] for m in mailctl.outbox()] == [ADELE_MAIL]
    auth.logout()

    auth.login("admin", "admin-password")  # an admin still may
    client.post(f"/emails/{admins.id}/retry")
    retried = _messages()[0]
    assert retried.status == "sent" and retried.account.role == "system"
    assert mailctl.outbox()[-1]["auth_user"] == "megan@contoso.example"
