"""An admin sets up and authorizes a user's email from Admin > User Management: the mailbox and
its tokens are the user's, the audit log names the admin, and non-admins cannot get there."""

from sqlalchemy import select

from app.connect.models import OAuthFlow
from app.extensions import db
from app.mail import importing as mail_import
from app.mail.models import MailAccount
from app.users.models import AuditEvent, User
from tests.mail.conftest import ADELE, ADELE_MAIL, authorize, imap_settings, smtp_settings


def _user(username: str) -> User:
    return db.session.scalar(select(User).where(User.username == username))


def test_an_admin_authorizes_a_users_email_which_then_is_the_users(
    auth, client, mail_app, mail_servers, imap_port, mailctl
):
    sally = _user("sally")
    base = f"/admin/email/users/{sally.id}"
    auth.login("admin", "admin-password")
    edit = client.get(f"/admin/users/{sally.id}/edit/external-accounts").get_data(as_text=True)
    assert f'href="{base}"' in edit  # the way there: Admin > User Management > the user
    page = client.get(base).get_data(as_text=True)
    assert "of Sally Bronsen (sally)" in page and "You are acting for Sally Bronsen" in page
    assert 'value="smtp.office365.com"' in page and 'value="outlook.office365.com"' in page
    saved = client.post(f"{base}/outbound", data=smtp_settings(mail_servers.smtp_port))
    assert saved.status_code == 302 and saved.headers["Location"] == base
    assert client.post(f"{base}/inbound", data=imap_settings(imap_port)).status_code == 302
    authorize(client, f"{base}/authorize/mail", oid=ADELE)
    flow = db.session.scalar(select(OAuthFlow).order_by(OAuthFlow.created_at.desc()))
    assert flow.status == "confirm"  # acting for sally: nothing stored before confirming
    assert db.session.scalar(select(MailAccount.status).where(MailAccount.user_id == sally.id)) == (
        "not_connected"
    )
    confirm = client.get(f"/oauth/flows/{flow.id}/confirm").get_data(as_text=True)
    assert "Store Adele Vance&#39;s access on Sally Bronsen&#39;s account" in confirm
    client.post(f"/oauth/flows/{flow.id}/confirm", data={"decision": "confirm"})

    db.session.expire_all()
    account = db.session.scalar(select(MailAccount).where(MailAccount.user_id == sally.id))
    assert account.authorized_email == ADELE_MAIL and account.authorized_by_id == _user("admin").id
    assert account.credential is not None  # the tokens are stored on sally's mail account
    assert (
        db.session.scalar(select(MailAccount).where(MailAccount.user_id == _user("admin").id))
        is None
    )
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "mail.authorized"))
    assert event.actor_name == "admin" and event.target_name == "sally"
    assert "on behalf of the user" in event.detail

    client.post(f"{base}/test-email")
    assert f"The test email was sent to {ADELE_MAIL}." in client.get(base).get_data(as_text=True)
    mailctl.seed(count=2)
    client.post(f"{base}/check")
    assert "Imported 2 new messages." in client.get(base).get_data(as_text=True)

    auth.logout()
    auth.login()  # sally sees her mailbox authorized, and her imported mail
    own = client.get("/emails/settings").get_data(as_text=True)
    assert "Authorized" in own and ADELE_MAIL in own
    assert mail_import.check_now(account).found == 0  # the admin's import was hers
    assert client.get(base).status_code == 403
    assert client.post(f"{base}/authorize/mail", data={"mode": "popup"}).status_code == 403


def test_an_unknown_user_has_no_email_settings(auth, client, mail_app):
    auth.login("admin", "admin-password")
    assert client.get("/admin/email/users/99999").status_code == 404
    assert client.post("/admin/email/users/99999/outbound", data={}).status_code == 404
