"""The one token service: refresh near expiry, keep rotated tokens, dead grants vs transient."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.connect import external_accounts, tokens
from app.connect.models import Credential
from app.core import crypto
from app.core.db import utcnow
from app.extensions import db
from app.users.models import AuditEvent


def _expire(account):
    account.credential.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()


def test_a_valid_token_is_used_without_refreshing(account, ms):
    before = ms.stats().get("token.refresh_token", 0)
    token = tokens.access_token_for(account, "onedrive")
    assert token == crypto.decrypt(account.credential.access_token_encrypted)
    assert ms.stats().get("token.refresh_token", 0) == before


def test_refresh_within_the_margin_and_keep_the_rotated_token(account, ms):
    old_access = crypto.decrypt(account.credential.access_token_encrypted)
    old_refresh = crypto.decrypt(account.credential.refresh_token_encrypted)
    account.credential.expires_at = utcnow() + timedelta(minutes=2)  # inside the 5-minute margin
    db.session.commit()
    token = tokens.access_token_for(account, "onedrive")
    assert token != old_access
    assert ms.stats()["token.refresh_token"] == 1
    credential = db.session.scalar(select(Credential))
    assert crypto.decrypt(credential.refresh_token_encrypted) != old_refresh
    assert credential.expires_at > utcnow() + timedelta(minutes=30)
    assert external_accounts.check(account).startswith("The connection works")  # Graph accepts it
    assert tokens.access_token_for(account, "onedrive") == token  # no second refresh
    assert ms.stats()["token.refresh_token"] == 1


def test_a_token_is_only_for_its_purpose(account):
    with pytest.raises(tokens.TokenUnavailable):
        tokens.access_token_for(account, "mail")


@pytest.mark.parametrize("mode", ["invalid_grant", "consent_required"])
def test_a_dead_grant_turns_the_account_red(account, ms, client, mode):
    _expire(account)
    ms.fault("token", mode, count=1)
    with pytest.raises(tokens.TokenUnavailable) as raised:
        tokens.access_token_for(account, "onedrive")
    assert raised.value.needs_reconnect
    db.session.expire_all()
    assert account.status == "needs_reconnect"
    assert db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "external_account.needs_reconnect")
    )
    home = client.get("/home").get_data(as_text=True)
    assert "no longer accepts the connection" in home and "Reauthenticate" in home
    listing = client.get("/profile/edit/external-accounts").get_data(as_text=True)
    assert "Needs reconnect" in listing


@pytest.mark.parametrize(
    "code",
    [
        53003,  # blocked by Conditional Access: sign in again, on a device the policy allows
        700082,  # the refresh token expired through inactivity
        50020,  # the account is no longer in the tenant
        530003,  # the device must be managed
    ],
)
def test_any_invalid_grant_on_refresh_turns_the_account_red(account, ms, code):
    """Every invalid_grant means the refresh token is done, not only the codes we know: the
    account must not stay Connected while each request tries the same dead token again."""
    _expire(account)
    ms.fault("token", "aadsts", code=code, count=1)
    with pytest.raises(tokens.TokenUnavailable) as raised:
        tokens.access_token_for(account, "onedrive")
    assert raised.value.needs_reconnect
    db.session.expire_all()
    assert account.status == "needs_reconnect"
    with pytest.raises(tokens.TokenUnavailable):
        tokens.access_token_for(account, "onedrive")
    assert ms.stats()["token.refresh_token"] == 1  # the dead token is not tried again


def test_a_revoked_refresh_token_turns_the_account_red(account, ms):
    _expire(account)
    ms.control("POST", "/revoke", {"oid": account.object_id})
    with pytest.raises(tokens.TokenUnavailable):
        tokens.access_token_for(account, "onedrive")
    db.session.expire_all()
    assert account.status == "needs_reconnect"


@pytest.mark.parametrize("mode", ["500", "503", "429", "garbage", "temporarily_unavailable"])
def test_transient_failures_leave_the_account_connected(account, ms, mode):
    _expire(account)
    old_refresh = account.credential.refresh_token_encrypted
    ms.fault("token", mode, count=1, retry_after=7)
    with pytest.raises(tokens.TokenUnavailable) as raised:
        tokens.access_token_for(account, "onedrive")
    assert not raised.value.needs_reconnect
    db.session.expire_all()
    assert account.status == "connected"
    assert account.credential.refresh_token_encrypted == old_refresh
    assert tokens.access_token_for(account, "onedrive")  # retried later, it works


def test_a_slow_token_endpoint_times_out_and_stays_connected(account, ms, app):
    app.config["HTTP_TIMEOUT"] = (2, 0.5)
    _expire(account)
    ms.fault("token", "slow", delay=2, count=1)
    with pytest.raises(tokens.TokenUnavailable) as raised:
        tokens.access_token_for(account, "onedrive")
    assert "did not answer in time" in raised.value.message
    db.session.expire_all()
    assert account.status == "connected"


def test_check_connection_page(account, client):
    page = client.get(f"/profile/external-accounts/{account.id}/check", follow_redirects=True)
    assert "signed in as Adele Vance (adele@contoso.example)" in page.get_data(as_text=True)


def test_check_refreshes_once_on_401_then_marks_needs_reconnect(account, ms, client):
    ms.fault("graph", "401", count=1)
    response = client.get(
        f"/profile/external-accounts/{account.id}/check", headers={"Accept": "application/json"}
    )
    assert response.get_json()["ok"] is True
    assert ms.stats()["token.refresh_token"] == 1
    ms.fault("graph", "401", count=2)
    response = client.get(
        f"/profile/external-accounts/{account.id}/check", headers={"Accept": "application/json"}
    )
    assert response.status_code == 502
    db.session.expire_all()
    assert account.status == "needs_reconnect"
