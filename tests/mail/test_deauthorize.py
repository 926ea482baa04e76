"""Remove authorization asks first: a confirmation page (GET) says what stops until the mailbox
is authorized again, with Remove and Cancel; only its POST deletes the tokens."""

from sqlalchemy import select

from app.extensions import db
from app.mail.models import MailAccount
from tests.mail.conftest import ADELE_MAIL, authorize

REMOVE_LINK = 'href="{path}/deauthorize/mail"'


def _account(**where) -> MailAccount:
    db.session.expire_all()
    return db.session.scalar(select(MailAccount).filter_by(**where))


def test_removing_ones_own_authorization_asks_first(sally_mail):
    settings = sally_mail.get("/emails/settings").get_data(as_text=True)
    assert REMOVE_LINK.format(path="/emails/settings") in settings
    assert 'action="/emails/settings/deauthorize/mail"' not in settings  # no one-click removal

    asked = sally_mail.get("/emails/settings/deauthorize/mail")
    page = asked.get_data(as_text=True)
    assert asked.status_code == 200
    assert "Remove the Exchange Online authorization?" in page
    assert f"The CRM deletes the tokens of Adele Vance ({ADELE_MAIL})" in page
    assert f"{ADELE_MAIL} is not synced: no new mail is imported into Emails." in page
    assert f"No email can be sent from {ADELE_MAIL}." in page
    assert 'action="/emails/settings/deauthorize/mail"' in page and 'name="csrf_token"' in page
    assert '<button type="submit" class="danger">Remove</button>' in page
    assert '<a class="button" href="/emails/settings">Cancel</a>' in page
    assert _account(role="personal").authorized_email == ADELE_MAIL  # asking removed nothing

    removed = sally_mail.post("/emails/settings/deauthorize/mail")
    assert removed.headers["Location"] == "/emails/settings"
    account = _account(role="personal")
    assert account.authorized_email == "" and account.credential is None
    again = sally_mail.get("/emails/settings/deauthorize/mail", follow_redirects=True)
    assert "There is no authorization to remove." in again.get_data(as_text=True)


def test_removing_an_inbound_mailboxs_authorization_asks_first(auth, client, configured):
    auth.login("admin", "admin-password")
    created = client.post("/admin/email/inbound/new", data={"name": "Support", "visibility": "all"})
    path = created.headers["Location"]
    authorize(client, f"{path}/authorize/mail")
    assert REMOVE_LINK.format(path=path) in client.get(path).get_data(as_text=True)

    page = client.get(f"{path}/deauthorize/mail").get_data(as_text=True)
    assert "Remove the Exchange Online authorization of “Support”?" in page
    assert f"{ADELE_MAIL} is not synced: no new mail is imported into Emails." in page
    assert "No email can be sent" not in page  # an inbound mailbox does not send
    assert f'<a class="button" href="{path}">Cancel</a>' in page
    assert _account(name="Support").authorized_email == ADELE_MAIL

    assert client.post(f"{path}/deauthorize/mail").headers["Location"] == path
    assert _account(name="Support").credential is None
    assert client.get(f"{path}/deauthorize/graph_mail").status_code == 404  # sends nothing
    assert client.get(f"{path}/deauthorize/nonsense").status_code == 404
