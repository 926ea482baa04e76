"""Email and OneDrive are authorized and stored apart, and neither token serves the other:
each direction is tested in the app (purpose checks) and at the stand-in (audience checks)."""

import imaplib
import smtplib

import pytest
import requests
from sqlalchemy import select

from app.connect import tokens
from app.connect.models import Credential, ExternalAccount
from app.extensions import db
from app.mail.models import MailAccount
from app.mail.transport import xoauth2
from standin.smtp import REJECTED
from tests.connect.conftest import connect
from tests.mail.conftest import ADELE_MAIL, TIMEOUT


def _mail_account() -> MailAccount:
    db.session.expire_all()
    return db.session.scalar(select(MailAccount))


def test_authorizing_email_is_not_an_external_account(sally_mail):
    account = _mail_account()
    assert account.is_authorized
    assert db.session.scalar(select(ExternalAccount)) is None
    tab = sally_mail.get("/profile/edit/external-accounts").get_data(as_text=True)
    assert ADELE_MAIL not in tab
    with pytest.raises(tokens.TokenUnavailable):
        tokens.access_token_for(account, "onedrive")  # a mail token never serves OneDrive
    assert tokens.access_token_for(account, "mail")


def test_connecting_onedrive_does_not_authorize_email(auth, client, mail_app, mail_servers):
    auth.login()
    flow = connect(client)
    assert flow.callback.status_code == 200
    external = db.session.scalar(select(ExternalAccount))
    assert external.status == "connected" and external.credential.purpose == "onedrive"
    with pytest.raises(tokens.TokenUnavailable):
        tokens.access_token_for(external, "mail")  # a OneDrive token never serves mail
    assert db.session.scalar(select(MailAccount)) is None
    page = client.get("/emails/settings").get_data(as_text=True)
    assert 'data-authorization="mail">Not Authorized<' in page
    response = client.post("/emails/compose", data={"to": "a@b.example"})
    assert response.status_code == 409
    assert (
        db.session.scalar(select(Credential).where(Credential.mail_account_id.is_not(None))) is None
    )


def test_the_standin_refuses_a_token_of_the_other_resource(mailctl, mail_servers, imap_port, ms):
    mail_token = mailctl.token(scopes=["SMTP.Send", "IMAP.AccessAsUser.All"])
    drive_token = mailctl.token(audience="graph", scopes=["Files.ReadWrite.All", "Mail.Send"])
    drive = requests.get(
        f"{ms.base}/v1.0/me/drive/root/children",
        headers={"Authorization": f"Bearer {mail_token}"},
        timeout=TIMEOUT,
    )
    assert drive.status_code == 401 and drive.json()["error"]["message"] == "Invalid audience."
    send = requests.post(
        f"{ms.base}/v1.0/me/sendMail",
        json={"message": {"toRecipients": [{"emailAddress": {"address": "a@b.example"}}]}},
        headers={"Authorization": f"Bearer {mail_token}"},
        timeout=TIMEOUT,
    )
    assert send.status_code == 401
    with smtplib.SMTP("127.0.0.1", mail_servers.smtp_port, timeout=TIMEOUT) as smtp:
        smtp.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            smtp.auth("XOAUTH2", lambda challenge=None: xoauth2(ADELE_MAIL, drive_token))
        assert refused.value.smtp_code == 535 and REJECTED.endswith(
            refused.value.smtp_error.decode()
        )
        assert (
            smtp.auth("XOAUTH2", lambda challenge=None: xoauth2(ADELE_MAIL, mail_token))[0] == 235
        )
    imap = imaplib.IMAP4("127.0.0.1", imap_port, timeout=TIMEOUT)
    with pytest.raises(imaplib.IMAP4.error):
        imap.authenticate("XOAUTH2", lambda _: xoauth2(ADELE_MAIL, drive_token).encode())
    imap.shutdown()
    imap = imaplib.IMAP4("127.0.0.1", imap_port, timeout=TIMEOUT)
    assert (
        imap.authenticate("XOAUTH2", lambda _: xoauth2(ADELE_MAIL, mail_token).encode())[0] == "OK"
    )
    imap.logout()
    stats = ms.stats()
    assert stats["smtp.auth.rejected.audience"] == 1 and stats["imap.auth.rejected"] == 1


def test_the_standin_checks_scope_and_mailbox(mailctl, mail_servers, imap_port):
    smtp_only = mailctl.token(scopes=["SMTP.Send"])
    imap_only = mailctl.token(scopes=["IMAP.AccessAsUser.All"])
    with smtplib.SMTP("127.0.0.1", mail_servers.smtp_port, timeout=TIMEOUT) as smtp:
        smtp.ehlo()
        for user, token in (("megan@contoso.example", smtp_only), (ADELE_MAIL, imap_only)):
            with pytest.raises(smtplib.SMTPAuthenticationError):
                smtp.auth("XOAUTH2", lambda challenge=None, u=user, t=token: xoauth2(u, t))
        smtp.auth("XOAUTH2", lambda challenge=None: xoauth2(ADELE_MAIL, smtp_only))
        with pytest.raises(smtplib.SMTPSenderRefused) as denied:
            smtp.sendmail("megan@contoso.example", ["a@b.example"], b"Subject: x\r\n\r\nx\r\n")
        assert b"SendAsDenied" in denied.value.smtp_error
    for user, token in (("megan@contoso.example", imap_only), (ADELE_MAIL, smtp_only)):
        imap = imaplib.IMAP4("127.0.0.1", imap_port, timeout=TIMEOUT)
        with pytest.raises(imaplib.IMAP4.error):
            imap.authenticate("XOAUTH2", lambda _, u=user, t=token: xoauth2(u, t).encode())
        imap.shutdown()
