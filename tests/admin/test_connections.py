"""Admin > Connections: each inbound mailbox's email authorization is named by the mailbox."""

from app.connect.models import NEEDS_RECONNECT
from app.extensions import db
from app.mail.models import GROUP, MailAccount


def _mailbox(slot: str, name: str) -> MailAccount:
    account = MailAccount(slot=slot, role=GROUP, name=name, status=NEEDS_RECONNECT)
    db.session.add(account)
    return account


def test_email_authorizations_name_each_inbound_mailbox(auth, client):
    _mailbox("group-2", "Support")
    _mailbox("group-3", "Sales")
    db.session.commit()
    auth.login("admin", "admin-password")
    for path in ("/admin/connections", "/admin/connections?filter=attention"):
        page = client.get(path).get_data(as_text=True)
        authorizations = page.split("Email authorizations", 1)[1].split('id="mailbox-sync"')[0]
        assert "<td>Support</td>" in authorizations and "<td>Sales</td>" in authorizations
        assert "Inbound Email" not in authorizations
