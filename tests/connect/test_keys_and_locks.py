"""Keys, locks and leftovers: a token or secret no configured key opens is a clear state, never a
500; key rotation never undoes a concurrent write; a re-authentication stores under the same lock
as a refresh."""

import threading

from cryptography.fernet import Fernet
from sqlalchemy import select, update

from app.connect import tokens
from app.connect.models import Connector, Credential, ExternalAccount
from app.core import crypto, keys
from app.extensions import db
from tests.connect.conftest import ADELE, app_path, sign_in_at_standin, start_connect

FOREIGN = Fernet(Fernet.generate_key())


def _foreign(value: str) -> str:
    """`value` encrypted with a key the app does not have."""
    return FOREIGN.encrypt(value.encode()).decode()


def test_an_unreadable_access_token_means_needs_reconnect_not_500(account, client):
    account.credential.access_token_encrypted = _foreign("an-old-token")
    db.session.commit()
    response = client.get("/drive/api/children", headers={"Accept": "application/json"})
    assert response.status_code == 409
    assert "Reauthenticate" in response.get_json()["error"] or response.get_json()["reconnect_url"]
    db.session.expire_all()
    stored = db.session.get(ExternalAccount, account.id)
    assert stored.status == "needs_reconnect" and "can no longer be read" in stored.status_reason
    home = client.get("/home")
    assert home.status_code == 200 and "Reauthenticate" in home.get_data(as_text=True)


def test_an_unreadable_refresh_token_means_needs_reconnect(account, client, ms):
    from datetime import timedelta

    from app.core.db import utcnow

    account.credential.refresh_token_encrypted = _foreign("an-old-refresh-token")
    account.credential.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    page = client.get(f"/profile/external-accounts/{account.id}/check")
    assert page.status_code == 302
    db.session.expire_all()
    assert db.session.get(ExternalAccount, account.id).status == "needs_reconnect"
    assert ms.stats().get("token.refresh_token", 0) == 0  # nothing unreadable was sent


def test_an_unreadable_client_secret_says_so_and_stops_flows(auth, configured, client, app):
    auth.login()
    in_flight = start_connect(client)  # started while the secret was still readable
    go = client.get(in_flight["go_url"])
    connector = db.session.scalar(select(Connector))
    connector.client_secret_encrypted = _foreign("an-old-secret")
    db.session.commit()

    callback = client.get(app_path(sign_in_at_standin(go.headers["Location"], ADELE)))
    body = callback.get_data(as_text=True)
    assert callback.status_code == 200 and 'data-status="error"' in body
    assert "client secret can no longer be read" in body
    status = client.get(f"/oauth/flows/{in_flight['flow']}").get_json()
    assert status["pending"] is False and status["status"] == "error"  # the opener stops
    assert db.session.scalar(select(Credential)) is None

    refused = client.post(
        "/profile/external-accounts/new",
        data={"application": "microsoft", "mode": "popup"},
        headers={"Accept": "application/json"},
    )
    assert refused.status_code == 409
    assert "Admin > Connectors" in refused.get_json()["error"]

    auth.logout()
    auth.login("admin", "admin-password")
    page = client.get("/admin/connectors/microsoft").get_data(as_text=True)
    assert "The client secret can no longer be read" in page and "enter it again" in page
    client.post("/admin/connectors/microsoft/test")
    assert "can no longer be read" in client.get("/admin/connectors/microsoft").get_data(
        as_text=True
    )


def test_rotation_never_undoes_a_refresh_that_wrote_meanwhile(account, app, monkeypatch):
    credential_id = account.credential.id
    newer = crypto.encrypt("refreshed-meanwhile")
    real_rotate = crypto.rotate
    raced = []

    def rotate_while_a_refresh_lands(value):
        if not raced and value == account.credential.access_token_encrypted:
            raced.append(True)  # another worker refreshes between our read and our write
            with db.engine.connect() as other:
                other.execute(
                    update(Credential)
                    .where(Credential.id == credential_id)
                    .values(access_token_encrypted=newer)
                )
                other.commit()
        return real_rotate(value)

    monkeypatch.setattr(crypto, "rotate", rotate_while_a_refresh_lands)
    report = keys.rotate_all()
    assert raced and not report.failures
    db.session.expire_all()
    stored = db.session.get(Credential, credential_id)
    assert crypto.decrypt(stored.access_token_encrypted) == "refreshed-meanwhile"
    assert stored.access_token_encrypted != newer  # and it was rotated in its turn


def test_a_reauthentication_waits_for_a_refresh_in_progress(account, client, app):
    """A refresh holding the lock finishes first; the new grant is stored after it."""
    credential_id = account.credential.id
    before = crypto.decrypt(account.credential.access_token_encrypted)
    start = start_connect(client, f"/profile/external-accounts/{account.id}/connect", {})
    go = client.get(start["go_url"])
    back = app_path(sign_in_at_standin(go.headers["Location"], ADELE))
    answers = []
    done = threading.Event()

    def finish_sign_in():
        answers.append(client.get(back))
        done.set()

    with tokens._refresh_lock(credential_id):  # a refresh in progress
        callback = threading.Thread(target=finish_sign_in)
        callback.start()
        assert not done.wait(1.5)  # the sign-in waits for the lock
        db.session.execute(
            update(Credential)
            .where(Credential.id == credential_id)
            .values(access_token_encrypted=crypto.encrypt("refreshed-by-the-worker"))
        )
        db.session.commit()
    callback.join(30)
    assert answers and 'data-status="done"' in answers[-1].get_data(as_text=True)
    db.session.expire_all()
    stored = crypto.decrypt(db.session.get(Credential, credential_id).access_token_encrypted)
    assert stored not in ("refreshed-by-the-worker", before)  # the new grant won
