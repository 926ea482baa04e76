"""Whose identity lands on whose account: an admin acting for a user confirms the Microsoft
identity that signed in before anything is stored; one identity belongs to one CRM user per
kind of authorization; the right to act is checked again when the flow ends; a flow's secrets
do not outlive it."""

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.connect import oauth_flow
from app.connect.models import Credential, ExternalAccount, OAuthFlow
from app.core.db import utcnow
from app.extensions import db
from app.mail.models import MailAccount
from app.users.models import User
from tests.connect.conftest import ADELE, CONTOSO, MEGAN, app_path, connect, sign_in_at_standin

ADELE_MAIL = "adele@contoso.example"


def _user(username: str) -> User:
    return db.session.scalar(select(User).where(User.username == username))


def _latest_flow() -> OAuthFlow:
    db.session.expire_all()
    return db.session.scalar(select(OAuthFlow).order_by(OAuthFlow.created_at.desc()))


def _credentials() -> int:
    return db.session.scalar(select(db.func.count(Credential.id)))


def _login(app, username: str, password: str):
    other = app.test_client()
    assert other.post("/login", data={"username": username, "password": password}).status_code
    return other


def _authorize_mail(client, path: str, oid: str = ADELE):
    """Authorize email as the page's script does: start, go, sign in, come back."""
    start = client.post(path, data={"mode": "popup"}, headers={"Accept": "application/json"})
    assert start.status_code == 200, start.get_data(as_text=True)
    go = client.get(start.get_json()["go_url"])
    return client.get(app_path(sign_in_at_standin(go.headers["Location"], oid)))


@pytest.fixture
def admin(auth, configured, client):
    auth.login("admin", "admin-password")
    return client


@pytest.fixture
def max_user(make_user):
    return make_user("max", "max-password1", first_name="Max", last_name="Jensen")


# --- an admin acting for a user ------------------------------------------------------------


def test_acting_for_a_user_shows_who_signed_in_and_stores_nothing_before(admin, app):
    sally = _user("sally")
    flow = connect(admin, path=f"/admin/users/{sally.id}/external-accounts/new")
    assert 'data-status="confirm"' in flow.callback.get_data(as_text=True)
    assert _credentials() == 0
    assert db.session.scalar(select(ExternalAccount.status)) == "not_connected"
    held = _latest_flow()
    assert held.pending_result_encrypted and not held.code_verifier_encrypted

    page = admin.get(f"/oauth/flows/{held.id}/confirm").get_data(as_text=True)
    for shown in ("Adele Vance", ADELE_MAIL, CONTOSO, "Sally Bronsen", "sally@crm.example"):
        assert shown in page
    assert "is not Sally Bronsen&#39;s email address in the CRM (sally@crm.example)" in page
    assert "Store Adele Vance&#39;s access on Sally Bronsen&#39;s account" in page
    for secret in ("access_token", "refresh_token", "eyJ"):
        assert secret not in page


def test_cancel_stores_nothing_and_deletes_the_held_tokens_at_once(admin):
    sally = _user("sally")
    connect(admin, path=f"/admin/users/{sally.id}/external-accounts/new")
    held = _latest_flow()
    response = admin.post(f"/oauth/flows/{held.id}/confirm", data={"decision": "cancel"})
    assert response.status_code == 302
    flow = _latest_flow()
    assert flow.status == "error" and flow.pending_result_encrypted == ""
    assert "nothing was stored" in flow.message
    assert _credentials() == 0
    again = admin.post(f"/oauth/flows/{held.id}/confirm", data={"decision": "confirm"})
    assert again.status_code == 302 and _credentials() == 0  # a cancelled choice stays cancelled


def test_confirming_stores_the_identity_on_the_users_account(admin):
    sally = _user("sally")
    connect(admin, path=f"/admin/users/{sally.id}/external-accounts/new")
    admin.post(f"/oauth/flows/{_latest_flow().id}/confirm", data={"decision": "confirm"})
    account = db.session.scalar(select(ExternalAccount))
    assert (account.user_id, account.object_id, account.status) == (sally.id, ADELE, "connected")
    assert _latest_flow().status == "done" and _latest_flow().pending_result_encrypted == ""


def test_no_warning_when_the_microsoft_address_is_the_users_email(admin, make_user):
    adele = make_user("adele", "adele-password", email=ADELE_MAIL, first_name="Adele")
    connect(admin, path=f"/admin/users/{adele.id}/external-accounts/new")
    page = admin.get(f"/oauth/flows/{_latest_flow().id}/confirm").get_data(as_text=True)
    assert "Confirm the account for Adele" in page
    assert "is not Adele" not in page and 'role="alert"' not in page


def test_an_admin_demoted_mid_flow_finishes_nothing(admin, make_user):
    make_user("root", "root-password", admin=True)  # the CRM keeps an admin
    sally = _user("sally")
    start = admin.post(
        f"/admin/users/{sally.id}/external-accounts/new",
        data={"application": "microsoft", "mode": "popup"},
        headers={"Accept": "application/json"},
    ).get_json()
    go = admin.get(start["go_url"])
    _user("admin").is_admin = False
    db.session.commit()
    callback = admin.get(app_path(sign_in_at_standin(go.headers["Location"], ADELE)))
    body = callback.get_data(as_text=True)
    assert 'data-status="error"' in body and "no longer an administrator" in body
    assert _credentials() == 0
    assert _latest_flow().pending_result_encrypted == ""


def test_an_admin_demoted_before_confirming_stores_nothing(admin, make_user):
    make_user("root", "root-password", admin=True)
    sally = _user("sally")
    connect(admin, path=f"/admin/users/{sally.id}/external-accounts/new")
    held = _latest_flow()
    _user("admin").is_admin = False
    db.session.commit()
    admin.post(f"/oauth/flows/{held.id}/confirm", data={"decision": "confirm"})
    flow = _latest_flow()
    assert flow.status == "error" and "no longer an administrator" in flow.message
    assert flow.pending_result_encrypted == "" and _credentials() == 0


# --- one identity, one CRM user per kind ---------------------------------------------------


def test_an_identity_of_another_user_is_refused_and_an_admin_is_told_whose(admin, app, max_user):
    maxc = _login(app, "max", "max-password1")
    assert 'data-status="done"' in connect(maxc).callback.get_data(as_text=True)
    sally = _user("sally")
    flow = connect(admin, path=f"/admin/users/{sally.id}/external-accounts/new")
    body = flow.callback.get_data(as_text=True)
    assert 'data-status="error"' in body
    assert "already connected to another CRM user" in body and "Max Jensen (max)" in body
    accounts = db.session.scalars(
        select(ExternalAccount).where(ExternalAccount.user_id == sally.id)
    )
    assert [a.status for a in accounts] == ["not_connected"]
    assert _credentials() == 1  # max's own


def test_a_user_is_not_told_whose(auth, configured, client, app, max_user):
    maxc = _login(app, "max", "max-password1")
    connect(maxc)
    auth.login()
    body = connect(client).callback.get_data(as_text=True)
    assert "already connected to another CRM user" in body
    assert "Max" not in body and "max" not in body.split("already connected", 1)[1]
    assert _credentials() == 1


def test_reauthenticating_into_another_users_identity_is_refused(auth, configured, client, app):
    auth.login()
    connect(client, oid=MEGAN)
    admin = _login(app, "admin", "admin-password")
    connect(admin)  # the admin's own External Account is Adele
    account = db.session.scalar(select(ExternalAccount).where(ExternalAccount.object_id == MEGAN))
    flow = connect(client, oid=ADELE, path=f"/profile/external-accounts/{account.id}/connect")
    assert "already connected to another CRM user" in flow.callback.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(ExternalAccount, account.id).object_id == MEGAN


def test_the_database_holds_one_identity_per_external_account(app, auth):
    sally, admin = _user("sally"), _user("admin")
    for user in (sally, admin):
        db.session.add(
            ExternalAccount(
                user_id=user.id, provider="microsoft", tenant_id=CONTOSO, object_id=ADELE
            )
        )
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    for user in (sally, admin):  # accounts not connected yet carry no identity: no clash
        db.session.add(ExternalAccount(user_id=user.id, provider="microsoft"))
    db.session.commit()


def test_mail_for_a_user_needs_confirmation_and_another_users_mailbox_identity_is_refused(
    admin, app, max_user
):
    maxc = _login(app, "max", "max-password1")
    assert 'data-status="done"' in _authorize_mail(
        maxc, "/emails/settings/authorize/mail"
    ).get_data(as_text=True)
    sally = _user("sally")
    refused = _authorize_mail(admin, f"/admin/email/users/{sally.id}/authorize/mail")
    body = refused.get_data(as_text=True)
    assert "already connected to another CRM user" in body and "Max Jensen" in body
    held = _authorize_mail(admin, f"/admin/email/users/{sally.id}/authorize/mail", oid=MEGAN)
    assert 'data-status="confirm"' in held.get_data(as_text=True)
    mailbox = db.session.scalar(select(MailAccount).where(MailAccount.user_id == sally.id))
    assert mailbox.status == "not_connected" and mailbox.credential is None
    admin.post(f"/oauth/flows/{_latest_flow().id}/confirm", data={"decision": "confirm"})
    db.session.expire_all()
    mailbox = db.session.scalar(select(MailAccount).where(MailAccount.user_id == sally.id))
    assert (mailbox.status, mailbox.object_id) == ("connected", MEGAN)


def test_the_system_mailbox_and_external_accounts_are_other_kinds(admin, app, max_user):
    maxc = _login(app, "max", "max-password1")
    _authorize_mail(maxc, "/emails/settings/authorize/mail")  # max's own mailbox is Adele
    system = _authorize_mail(admin, "/admin/email/system/authorize/mail")
    assert 'data-status="done"' in system.get_data(as_text=True)
    assert 'data-status="done"' in connect(maxc).callback.get_data(as_text=True)


def test_deauthorizing_mail_releases_the_identity(auth, configured, client, app, max_user):
    maxc = _login(app, "max", "max-password1")
    _authorize_mail(maxc, "/emails/settings/authorize/mail")
    maxc.post("/emails/settings/deauthorize/mail")
    mailbox = db.session.scalar(select(MailAccount))
    assert (mailbox.tenant_id, mailbox.object_id, mailbox.credential) == ("", "", None)
    auth.login()
    assert 'data-status="done"' in _authorize_mail(
        client, "/emails/settings/authorize/mail"
    ).get_data(as_text=True)


# --- leftovers -----------------------------------------------------------------------------


def test_a_finished_flow_keeps_no_secret(auth, configured, client):
    auth.login()
    connect(client)
    flow = _latest_flow()
    assert flow.status == "done"
    assert flow.code_verifier_encrypted == "" and flow.pending_result_encrypted == ""


def test_expired_flows_lose_their_secrets_by_the_next_cron_run(admin, runner):
    sally = _user("sally")
    connect(admin, path=f"/admin/users/{sally.id}/external-accounts/new")  # held
    start = admin.post(
        "/profile/external-accounts/new",
        data={"application": "microsoft", "mode": "popup"},
        headers={"Accept": "application/json"},
    )  # abandoned before the sign-in
    assert start.status_code == 200
    flows = db.session.scalars(select(OAuthFlow)).all()
    assert all(f.pending_result_encrypted or f.code_verifier_encrypted for f in flows)
    for flow in flows:
        flow.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    result = runner.invoke(args=["cleanup"])
    assert result.exit_code == 0, result.output
    assert "2 expired sign-ins" in result.output
    db.session.expire_all()
    for flow in db.session.scalars(select(OAuthFlow)):
        assert flow.pending_result_encrypted == "" and flow.code_verifier_encrypted == ""
    for flow in db.session.scalars(select(OAuthFlow)):
        flow.expires_at = utcnow() - oauth_flow.KEEP_FINISHED_FLOWS - timedelta(minutes=1)
    db.session.commit()
    runner.invoke(args=["cleanup"])
    assert db.session.scalar(select(db.func.count(OAuthFlow.id))) == 0


def test_an_expired_choice_stores_nothing(admin):
    sally = _user("sally")
    connect(admin, path=f"/admin/users/{sally.id}/external-accounts/new")
    held = _latest_flow()
    held.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    page = admin.get(f"/oauth/flows/{held.id}/confirm")
    assert page.status_code == 302
    admin.post(f"/oauth/flows/{held.id}/confirm", data={"decision": "confirm"})
    flow = _latest_flow()
    assert flow.status == "error" and "expired" in flow.message
    assert flow.pending_result_encrypted == "" and _credentials() == 0
