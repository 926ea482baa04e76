"""Admins connect accounts for users; the audit log; the connections overview."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from app.connect.models import Credential, ExternalAccount
from app.core import crypto
from app.core.db import utcnow
from app.extensions import db
from app.users.models import AuditEvent, User
from tests.conftest import count_statements
from tests.connect.conftest import CLIENT_SECRET, connect


def _user(username):
    return db.session.scalar(select(User).where(User.username == username))


@pytest.fixture
def admin(auth, configured, client):
    auth.login("admin", "admin-password")
    return auth


def test_admin_connects_for_a_user_and_the_tokens_are_the_users(admin, client, app):
    sally = _user("sally")
    flow = connect(client, path=f"/admin/users/{sally.id}/external-accounts/new")
    params = {k: v[0] for k, v in parse_qs(urlsplit(flow.authorize_url).query).items()}
    assert params["login_hint"] == "sally@crm.example"
    assert params["prompt"] == "select_account"
    assert 'data-status="confirm"' in flow.callback.get_data(as_text=True)
    assert db.session.scalar(select(Credential)) is None  # nothing stored before confirming
    client.post(f"/oauth/flows/{flow.start['flow']}/confirm", data={"decision": "confirm"})
    account = db.session.scalar(select(ExternalAccount))
    assert account.user_id == sally.id and account.authorized_by_id == _user("admin").id
    assert account.credential is not None
    assert flow.start["status_url"]
    # The admin's own External Accounts stay empty.
    own = client.get("/profile/edit/external-accounts").get_data(as_text=True)
    assert "No external accounts yet" in own
    admin_view = client.get(f"/admin/users/{sally.id}/edit/external-accounts").get_data(
        as_text=True
    )
    assert "Adele Vance" in admin_view
    event_ = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "external_account.connected")
    )
    assert (event_.actor_name, event_.target_name) == ("admin", "sally")
    assert "on behalf of the user" in event_.detail

    admin.logout()
    admin.login()
    page = client.get("/profile/edit/external-accounts").get_data(as_text=True)
    assert "Adele Vance" in page and "Connected by admin on" in page


def test_non_admin_forging_a_target_user_is_refused_and_recorded(auth, configured, client):
    auth.login()
    admin_id = _user("admin").id
    for method, path in (
        ("post", f"/admin/users/{admin_id}/external-accounts/new"),
        ("get", f"/admin/users/{admin_id}/edit/external-accounts"),
        ("post", f"/admin/users/{admin_id}/external-accounts/1/delete"),
    ):
        response = getattr(client, method)(path, data={"application": "microsoft"})
        assert response.status_code == 403, path
    refused = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "access.refused")
    ).all()
    assert len(refused) == 3 and refused[0].actor_name == "sally"
    assert db.session.scalar(select(ExternalAccount)) is None


def connect_for(client, user_id: int):
    """An admin connects Adele for a user and confirms the identity that signed in."""
    flow = connect(client, path=f"/admin/users/{user_id}/external-accounts/new")
    confirmed = client.post(
        f"/oauth/flows/{flow.start['flow']}/confirm", data={"decision": "confirm"}
    )
    assert confirmed.status_code == 302
    return flow


def test_deleting_a_user_removes_accounts_and_tokens(admin, client):
    sally = _user("sally")
    connect_for(client, sally.id)
    assert client.post(f"/admin/users/{sally.id}/delete").status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(func.count(ExternalAccount.id))) == 0
    assert db.session.scalar(select(func.count(Credential.id))) == 0
    deleted = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.deleted"))
    assert deleted.target_name == "sally"


def test_audit_log_page_filters_and_never_holds_secrets(admin, client, app):
    sally = _user("sally")
    connect_for(client, sally.id)
    account = db.session.scalar(select(ExternalAccount))
    client.post(f"/admin/users/{sally.id}/external-accounts/{account.id}/delete")
    page = client.get("/admin/audit").get_data(as_text=True)
    for action in ("connector.updated", "external_account.connected", "external_account.deleted"):
        assert action in page
    filtered = client.get("/admin/audit?action=external_account.deleted").get_data(as_text=True)
    assert "external_account.connected</code>" not in filtered
    assert "external_account.deleted</code>" in filtered
    by_user = client.get("/admin/audit?user=nobody").get_data(as_text=True)
    assert "Nothing recorded for this filter" in by_user
    secrets = {CLIENT_SECRET}
    for credential in db.session.scalars(select(Credential)):
        secrets |= {
            crypto.decrypt(credential.access_token_encrypted),
            crypto.decrypt(credential.refresh_token_encrypted),
        }
    for row in db.session.scalars(select(AuditEvent)):
        for secret in secrets:
            assert secret not in row.detail


def _bulk_accounts(n, start=0):
    users = [
        {
            "username": f"bulk{i:05}",
            "email": f"bulk{i:05}@crm.example",
            "password_hash": "x",
            "first_name": "",
            "last_name": "",
            "title": "",
            "department": "",
            "phone": "",
            "time_zone": "UTC",
            "is_admin": False,
            "active": True,
        }
        for i in range(start, start + n)
    ]
    db.session.execute(User.__table__.insert(), users)
    ids = db.session.scalars(
        select(User.id).where(User.username.like("bulk%")).order_by(User.id)
    ).all()[start:]
    now = utcnow()
    db.session.execute(
        ExternalAccount.__table__.insert(),
        [
            {
                "user_id": uid,
                "provider": "microsoft",
                "status": "connected",
                "tenant_id": "t",
                "object_id": str(uid),
                "authorized_name": "x",
                "authorized_email": f"{uid}@x.example",
                "status_reason": "",
                "created_at": now,
                "updated_at": now,
            }
            for uid in ids
        ],
    )
    accounts = db.session.scalars(
        select(ExternalAccount.id).where(ExternalAccount.user_id.in_(ids))
    ).all()
    old = now - timedelta(days=85)
    db.session.execute(
        Credential.__table__.insert(),
        [
            {
                "account_id": a,
                "purpose": "onedrive",
                "scopes": "",
                "access_token_encrypted": "",
                "refresh_token_encrypted": "",
                "refreshed_at": old if a % 2 else now,
                "updated_at": now,
            }
            for a in accounts
        ],
    )
    db.session.commit()


def test_connections_overview_is_constant_in_sql_and_marks_idle(admin, client):
    _bulk_accounts(30)
    small = count_statements(client, "/admin/connections?page=2")
    _bulk_accounts(1000, start=30)
    large = count_statements(client, "/admin/connections?page=20")
    # Three paged tables (Microsoft accounts, email authorizations, mailbox sync), each a count
    # and a page with what its rows show, whatever the number of users.
    assert small == large <= 9
    page = client.get("/admin/connections?filter=attention").get_data(as_text=True)
    assert "Idle" in page and "Connected</span>" not in page
    everything = client.get("/admin/connections").get_data(as_text=True)
    assert "Idle" in everything and "Connected</span>" in everything


def test_connections_lists_email_authorizations_apart(admin, client):
    from app.mail.models import MailAccount

    sally = _user("sally")
    mailbox = MailAccount(
        slot=f"user-{sally.id}",
        role="personal",
        user_id=sally.id,
        email_provider="exchange_online",
        status="connected",
        authorized_email="adele@contoso.example",
    )
    system = MailAccount(
        slot="system",
        role="system",
        email_provider="exchange_online",
        status="needs_reconnect",
        authorized_email="crm@contoso.example",
    )
    db.session.add_all([mailbox, system])
    db.session.flush()
    db.session.add(
        Credential(
            mail_account_id=mailbox.id, purpose="mail", refreshed_at=utcnow() - timedelta(days=85)
        )
    )
    db.session.commit()
    page = client.get("/admin/connections").get_data(as_text=True)
    section = page.split("Email authorizations", 1)[1]
    assert "adele@contoso.example" in section and "Idle" in section
    assert "System" in section and "Needs reconnect" in section
    assert "No user has connected an account yet." in page  # External Accounts stay apart
    attention = client.get("/admin/connections?filter=attention").get_data(as_text=True)
    assert "crm@contoso.example" in attention.split("Email authorizations", 1)[1]
