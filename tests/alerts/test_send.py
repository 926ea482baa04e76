"""`flask alerts send` when the system's outbound account is missing or broken: it says so,
exits 1 for cron, keeps the alerts for the next run, and the pages show them all the same."""

from sqlalchemy import select

from app.alerts import emails
from app.connect import tokens
from app.connect.models import ExternalAccount
from app.extensions import db
from app.mail.models import SYSTEM, MailAccount, MailMessage
from tests.alerts.conftest import ADELE, MEGAN, MEGAN_MAIL, alerts, expire, send
from tests.connect.conftest import connect
from tests.mail.conftest import ADELE_MAIL, authorize, smtp_settings

JSON = {"Accept": "application/json"}


def _revoked(auth, client, ms) -> ExternalAccount:
    """Sally's External Account, its grant revoked and found dead by a request."""
    auth.login()
    connect(client)
    account = db.session.scalar(select(ExternalAccount))
    ms.control("POST", "/revoke", {"oid": ADELE})
    expire(account)
    check = client.get(f"/profile/external-accounts/{account.id}/check", headers=JSON)
    assert check.status_code == 502
    return account


def _banner(client) -> bool:
    home = client.get("/home").get_data(as_text=True)
    return f"no longer accepts the connection of your Microsoft account {ADELE_MAIL}" in home


def test_without_a_system_account_the_alert_waits_and_the_banner_shows(
    auth, client, runner, mail_app, mail_servers, ms, mailctl
):
    _revoked(auth, client, ms)
    result = send(runner)
    assert result.exit_code == 1
    assert (
        "The system email account cannot send: Save the outbound settings first. Fix it in "
        "Admin > System Email Settings: 1 alert email(s) wait for the next run" in result.output
    )
    (alert,) = alerts()
    assert alert.emailed_at is None and alert.email_attempts == 0  # nothing was tried
    assert _banner(client) and mailctl.outbox() == []

    # The admin sets the system account up: the next run sends it.
    client.post("/logout")
    auth.login("admin", "admin-password")
    settings = smtp_settings(mail_servers.smtp_port, from_name="CRM")
    assert client.post("/admin/email/system/outbound", data=settings).status_code == 302
    authorize(client, "/admin/email/system/authorize/mail", oid=MEGAN)
    result = send(runner)
    assert result.exit_code == 0 and "Sent 1 alert email." in result.output, result.output
    (sent,) = mailctl.outbox()
    assert sent["rcpt_tos"] == ["sally@crm.example"] and sent["auth_user"] == MEGAN_MAIL


def test_a_system_account_the_server_refuses_reports_and_the_admins_see_it(
    system_mail, auth, client, runner, ms, mailctl
):
    _revoked(auth, client, ms)
    ms.fault("smtp", "535")  # the mail server refuses the system account's token
    result = send(runner)
    assert result.exit_code == 1
    assert "Sent 0 alert emails, 1 failed." in result.output
    assert "sally@crm.example: Not Authorized, please authorize again." in result.output
    assert "The system email account cannot send: Exchange Online is Not Authorized" in (
        result.output
    )
    mine = alerts(recipient_id=alerts()[0].recipient_id)[0]
    assert mine.emailed_at is None and mine.email_attempts == 1
    assert mine.email_error.startswith("Not Authorized, please authorize again.")
    # The system account turned red: the admins are alerted too, and see it on Home.
    system_rows = [a for a in alerts() if a.link == "/admin/email/system"]
    assert [a.recipient.username for a in system_rows] == ["admin"]
    assert _banner(client)  # sally still sees hers
    client.post("/logout")
    auth.login("admin", "admin-password")
    home = client.get("/home").get_data(as_text=True)
    assert f"the system email account {MEGAN_MAIL} (SMTP and IMAP)." in home
    assert '<a href="/admin/email/system">Authorize</a>' in home
    # The next run tries nothing until an admin authorizes it again.
    ms.control("DELETE", "/faults")
    again = send(runner)
    assert again.exit_code == 1 and "2 alert email(s) wait for the next run" in again.output
    assert mine.email_attempts == 1 and mailctl.outbox() == []


def test_a_failing_alert_is_tried_at_most_five_times(
    system_mail, auth, client, runner, ms, closed_port, app
):
    _revoked(auth, client, ms)
    system = db.session.scalar(select(MailAccount).where(MailAccount.role == SYSTEM))
    system.smtp_port = closed_port  # the relay is down; the account itself is fine
    db.session.commit()
    for _ in range(emails.MAX_ATTEMPTS):
        result = send(runner)
        assert result.exit_code == 1 and "1 failed" in result.output
    last = send(runner)
    assert last.exit_code == 0 and "Sent 0 alert emails." in last.output
    (alert,) = alerts()
    assert alert.email_attempts == emails.MAX_ATTEMPTS and alert.emailed_at is None
    assert alert.email_error  # the last reason, in words
    kept = db.session.scalars(select(MailMessage).where(MailMessage.user_id.is_(None))).all()
    assert len(kept) == emails.MAX_ATTEMPTS and {m.status for m in kept} == {"failed"}


def test_a_deactivated_recipient_is_not_emailed(system_mail, auth, client, runner, ms, mailctl):
    account = _revoked(auth, client, ms)
    account.user.active = False
    db.session.commit()
    result = send(runner)
    assert result.exit_code == 0 and "1 not emailed" in result.output
    (alert,) = alerts()
    assert alert.email_error == emails.DEACTIVATED and mailctl.outbox() == []


def test_alerts_are_never_sent_inside_the_failing_request(system_mail, auth, client, ms, mailctl):
    account = _revoked(auth, client, ms)
    tokens.mark_needs_reconnect(account, "and again")
    assert len(alerts()) == 1 and mailctl.outbox() == []
