"""Needs reconnect: the owner is emailed once per event through the system account, and Home
names every authorization of theirs that needs reconnecting, live from the statuses."""

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import event, select

from app.alerts import emails, pages
from app.connect import tokens
from app.connect.models import CONNECTED, NEEDS_RECONNECT, ExternalAccount
from app.core.db import utcnow
from app.extensions import db
from app.mail.models import GROUP, SEND_GRAPH, SYSTEM, MailAccount, MailGraphAuthorization
from app.users.models import User
from tests.alerts.conftest import (
    ADELE,
    MEGAN_MAIL,
    alert_count,
    alerts,
    expire,
    parsed,
    send,
)
from tests.connect.conftest import connect
from tests.mail.conftest import ADELE_MAIL

JSON = {"Accept": "application/json"}


def _connected_account(auth, client) -> ExternalAccount:
    auth.login()
    connect(client)
    return db.session.scalar(select(ExternalAccount))


def _check(client, account) -> int:
    """Check connection, as the account page's script asks."""
    return client.get(f"/profile/external-accounts/{account.id}/check", headers=JSON).status_code


def test_a_revoked_grant_sends_exactly_one_email_to_its_owner(
    system_mail, auth, client, runner, ms, mailctl, app
):
    account = _connected_account(auth, client)
    ms.control("POST", "/revoke", {"oid": ADELE})
    expire(account)
    assert _check(client, account) == 502  # the refresh is refused: Needs reconnect
    assert client.get("/drive/api/children", headers=JSON).status_code >= 400  # fails again
    assert _check(client, account) == 502
    (alert,) = alerts()
    assert alert.kind == "needs_reconnect" and alert.emailed_at is None  # not sent inline
    assert mailctl.outbox() == []

    first, second = send(runner), send(runner)
    assert first.exit_code == 0 and "Sent 1 alert email." in first.output, first.output
    assert second.exit_code == 0 and "Sent 0 alert emails." in second.output, second.output
    (sent,) = mailctl.outbox()
    assert sent["rcpt_tos"] == ["sally@crm.example"]
    assert sent["auth_user"] == MEGAN_MAIL  # through the system's outbound account
    message = parsed(sent)
    subject = str(message["Subject"]).strip()  # a long subject is folded onto the next line
    assert subject == f"Microsoft no longer accepts your Microsoft account {ADELE_MAIL}"
    body = message.get_body().get_content()
    link = f"{app.config['PUBLIC_BASE_URL']}/profile/external-accounts/{account.id}"
    assert f"open {link} and press Reauthenticate" in body
    assert "Hello Sally Bronsen" in body and "Profile > External Accounts" in body
    (alert,) = alerts()
    assert alert.emailed_at is not None and alert.email_attempts == 1 and alert.email_error == ""


def test_failing_again_adds_nothing_and_a_reconnect_makes_a_new_event(auth, client, configured):
    account = _connected_account(auth, client)
    tokens.mark_needs_reconnect(account, "refused")
    tokens.mark_needs_reconnect(account, "refused again")  # already red: nothing new
    assert alert_count() == 1
    # Another worker that still saw it connected fails the same grant: the same event.
    account = db.session.get(ExternalAccount, account.id)
    account.status = CONNECTED
    db.session.commit()
    tokens.mark_needs_reconnect(account, "refused in another worker")
    assert alert_count() == 1
    # Reauthenticated (a new grant), then refused again: a new event, a new email.
    account = db.session.get(ExternalAccount, account.id)
    account.status, account.authorized_at = CONNECTED, utcnow()
    db.session.commit()
    tokens.mark_needs_reconnect(account, "refused after the reconnect")
    assert alert_count() == 2 and len({a.event for a in alerts()}) == 2


def _mailbox(role: str, email: str, user=None, **fields) -> MailAccount:
    slot = fields.pop("slot", f"user-{user.id}" if user else role)
    account = MailAccount(
        slot=slot,
        role=role,
        user_id=user.id if user else None,
        smtp_host="smtp.office365.com",
        imap_host="outlook.office365.com",
        status=CONNECTED,
        authorized_email=email,
        authorized_at=utcnow(),
        **fields,
    )
    db.session.add(account)
    db.session.commit()
    return account


def test_the_system_and_group_mailboxes_alert_every_active_admin(auth, make_user, app):
    make_user("ada2", admin=True)
    retired = make_user("retired", admin=True)
    retired.active = False
    db.session.commit()
    group = _mailbox(GROUP, "sales@contoso.example", name="Sales")
    system = _mailbox(SYSTEM, MEGAN_MAIL)
    tokens.mark_needs_reconnect(group, "IMAP refused the token")
    tokens.mark_needs_reconnect(system, "SMTP refused the token")
    rows = alerts()
    recipients = sorted(a.recipient.username for a in rows)
    assert recipients == ["ada2", "ada2", "admin", "admin"]  # not sally, not the retired admin
    group_rows = [a for a in rows if a.event.startswith("mail_account.needs_reconnect:")]
    mailbox_page = f"/admin/email/inbound/{group.id}"
    assert {a.link for a in group_rows} == {mailbox_page, "/admin/email/system"}
    inbound = next(a for a in rows if a.link == mailbox_page)
    assert "the inbound mailbox “Sales” (sales@contoso.example; SMTP and IMAP)" in inbound.subject
    assert "Admin > Inbound Email" in inbound.body and "press Authorize" in inbound.body


def test_the_home_banner_names_a_dead_mail_authorization(sally_mail, ms, mailctl):
    client = sally_mail
    ms.control("POST", "/revoke", {"oid": ADELE})
    expire(db.session.scalar(select(MailAccount)))
    response = client.post("/emails/compose", data={"to": "a@b.example", "subject": "hello"})
    assert response.status_code == 302
    home = client.get("/home").get_data(as_text=True)
    assert (
        f"Microsoft no longer accepts the connection of your email {ADELE_MAIL} (SMTP and IMAP)."
        in home
    )
    assert '<a href="/emails/settings">Authorize</a> in Emails &gt; Email Settings' in home
    edit = client.get("/profile/edit/user-profile").get_data(as_text=True)
    assert f"your email {ADELE_MAIL} (SMTP and IMAP)" in edit  # the Edit page shows it too


def _statements(function, *args) -> tuple[object, int]:
    seen = []

    def count(*_):
        seen.append(1)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        result = function(*args)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return result, len(seen)


def test_the_banner_lists_every_kind_in_two_statements(auth, client, make_user, app):
    sally = make_user("sally2", first_name="Sally")
    admin = make_user("boss", admin=True)
    db.session.add(
        ExternalAccount(
            user_id=sally.id,
            provider="microsoft",
            status=NEEDS_RECONNECT,
            authorized_email="sally2@contoso.example",
        )
    )
    own = _mailbox("personal", "sally2@contoso.example", sally, send_via=SEND_GRAPH)
    own.status = NEEDS_RECONNECT
    own.graph_authorization = MailGraphAuthorization(
        provider="microsoft", status=NEEDS_RECONNECT, authorized_email="sally2@contoso.example"
    )
    system = _mailbox(SYSTEM, MEGAN_MAIL)
    system.status = NEEDS_RECONNECT
    group = _mailbox(GROUP, "sales@contoso.example", send_via=SEND_GRAPH, name="Sales")
    group.graph_authorization = MailGraphAuthorization(
        provider="microsoft", status=NEEDS_RECONNECT, authorized_email="sales@contoso.example"
    )
    # Another inbound mailbox, a shared one whose delegate's sign-in died: a line of its own.
    support = _mailbox(
        GROUP, ADELE_MAIL, slot="group-2", name="Support", shared_address="support@contoso.example"
    )
    support.authorized_name, support.status = "Adele Vance", NEEDS_RECONNECT
    db.session.commit()
    db.session.expire_all()
    assert not sally.is_admin and admin.is_admin  # loaded, as the signed-in user is

    lines, statements = _statements(pages.needing_reconnect, sally)
    assert statements <= 2
    assert [(line.before, line.link, line.action) for line in lines] == [
        (
            "Microsoft no longer accepts the connection of your Microsoft account "
            "sally2@contoso.example.",
            f"/profile/external-accounts/{db.session.scalar(select(ExternalAccount.id))}",
            "Reauthenticate",
        ),
        (
            "Microsoft no longer accepts the connection of your email sally2@contoso.example "
            "(SMTP and IMAP).",
            "/emails/settings",
            "Authorize",
        ),
        (
            "Microsoft no longer accepts the connection of your email sally2@contoso.example "
            "(Microsoft Graph).",
            "/emails/settings",
            "Authorize",
        ),
    ]
    db.session.expire_all()
    assert admin.is_admin
    lines, statements = _statements(pages.needing_reconnect, admin)
    assert statements <= 2
    assert [(line.link, line.before.split(" of ")[1]) for line in lines] == [
        ("/admin/email/system", f"the system email account {MEGAN_MAIL} (SMTP and IMAP)."),
        (
            f"/admin/email/inbound/{group.id}",
            "the inbound mailbox “Sales” (sales@contoso.example; Microsoft Graph).",
        ),
        (
            f"/admin/email/inbound/{support.id}",
            "the inbound mailbox “Support” (support@contoso.example, signed in by Adele Vance "
            "as delegate; SMTP and IMAP).",
        ),
    ]
    # A Graph authorization the account no longer sends with is no reason to reconnect.
    group.send_via = "smtp"
    db.session.commit()
    assert len(pages.needing_reconnect(admin)) == 2


def test_alert_emails_off_sends_nothing_and_the_banner_stays(
    system_mail, auth, client, runner, ms, mailctl
):
    account = _connected_account(auth, client)
    profile = client.get("/profile/edit/user-profile").get_data(as_text=True)
    assert '<input checked id="alert_emails" name="alert_emails"' in profile  # on by default
    fields = {"email": "sally@crm.example", "first_name": "Sally", "time_zone": "UTC"}
    assert client.post("/profile/edit/user-profile", data=fields).status_code == 302  # unticked
    assert "<dt>Alert Emails</dt><dd>Off</dd>" in client.get("/profile/").get_data(as_text=True)
    ms.control("POST", "/revoke", {"oid": ADELE})
    expire(account)
    assert _check(client, account) == 502

    result = send(runner)
    assert result.exit_code == 0, result.output
    assert "Sent 0 alert emails, 1 not emailed" in result.output
    assert mailctl.outbox() == []
    (alert,) = alerts()
    assert alert.emailed_at is None and alert.email_error == emails.TURNED_OFF
    assert alert.email_attempts == 0
    # Not picked again, even once the emails are back on: it was not emailed by choice.
    fields["alert_emails"] = "y"
    assert client.post("/profile/edit/user-profile", data=fields).status_code == 302
    again = send(runner)
    assert "Sent 0 alert emails." in again.output and mailctl.outbox() == []
    home = client.get("/home").get_data(as_text=True)
    assert f"no longer accepts the connection of your Microsoft account {ADELE_MAIL}" in home


def test_an_admin_may_turn_a_users_alert_emails_off(auth, client):
    auth.login("admin", "admin-password")
    sally = db.session.scalar(select(User).where(User.username == "sally"))
    page = client.get(f"/admin/users/{sally.id}/edit/user-profile").get_data(as_text=True)
    assert "Email me when one of my connections needs attention" in page
    data = {"email": "sally@crm.example", "time_zone": "UTC", "active": "y"}
    assert client.post(f"/admin/users/{sally.id}/edit/user-profile", data=data).status_code == 302
    db.session.expire_all()
    assert sally.alert_emails is False and sally.active is True


def test_the_email_tells_the_time_in_the_recipients_time_zone(auth, client, configured):
    account = _connected_account(auth, client)
    account.user.time_zone = "Asia/Tokyo"
    db.session.commit()
    tokens.mark_needs_reconnect(account, "AADSTS70008: the grant expired.")
    (alert,) = alerts()
    match = re.search(r"since (\d{4}-\d\d-\d\d \d\d:\d\d) \(Asia/Tokyo\)\.", alert.body)
    assert match, alert.body
    tokyo = ZoneInfo("Asia/Tokyo")
    shown = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=tokyo)
    assert abs(datetime.now(tokyo) - shown) < timedelta(minutes=2)
    assert "The reason given: AADSTS70008: the grant expired." in alert.body
