"""The connect flow end to end over HTTP against the stand-in: every branch of the callback."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from app.connect.models import Credential, ExternalAccount, OAuthFlow
from app.core import crypto
from app.core.db import utcnow
from app.extensions import db
from app.users.models import AuditEvent, User
from tests.connect.conftest import ADELE, CLIENT_ID, CONTOSO, MEGAN, app_path, connect


def _account(username="sally") -> ExternalAccount | None:
    user = db.session.scalar(select(User).where(User.username == username))
    db.session.expire_all()
    return db.session.scalar(select(ExternalAccount).where(ExternalAccount.user_id == user.id))


def _nothing_stored():
    account = _account()
    assert account is None or (account.status == "not_connected" and not account.object_id)
    assert db.session.scalar(select(Credential)) is None


@pytest.fixture
def sally(auth, configured):
    auth.login()
    return auth


def test_microsoft_is_not_offered_without_a_configured_connector(auth, client):
    auth.login()
    page = client.get("/profile/external-accounts/new").get_data(as_text=True)
    assert "ask your" in page and "Admin &gt; Connectors" in page
    assert '<option value="microsoft"' not in page
    response = client.post(
        "/profile/external-accounts/new",
        data={"application": "microsoft"},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 409
    assert "Admin > Connectors" in response.get_json()["error"]
    assert db.session.scalar(select(ExternalAccount)) is None


def test_connect_through_the_popup_flow(sally, client, app):
    page = client.get("/profile/external-accounts/new").get_data(as_text=True)
    assert '<option value="microsoft">Microsoft</option>' in page
    flow = connect(client)
    params = {k: v[0] for k, v in parse_qs(urlsplit(flow.authorize_url).query).items()}
    assert params["response_type"] == "code" and params["response_mode"] == "query"
    assert params["prompt"] == "select_account" and params["code_challenge_method"] == "S256"
    assert params["scope"] == (
        "openid profile email offline_access User.Read Files.ReadWrite.All Sites.Read.All"
    )
    assert params["redirect_uri"] == "http://127.0.0.1:5000/oauth/microsoft/callback"
    assert params["client_id"] == CLIENT_ID and params["state"] and params["nonce"]
    assert "login_hint" not in params

    body = flow.callback.get_data(as_text=True)
    assert flow.callback.status_code == 200
    assert 'data-status="done"' in body and f'data-flow="{flow.start["flow"]}"' in body
    assert 'data-origin="http://127.0.0.1:5000"' in body
    assert "Cross-Origin-Opener-Policy" not in flow.callback.headers
    account = _account()
    assert (account.status, account.tenant_id, account.object_id) == ("connected", CONTOSO, ADELE)
    assert (account.authorized_name, account.authorized_email) == (
        "Adele Vance",
        "adele@contoso.example",
    )
    credential = account.credential
    assert credential.refresh_token_encrypted and credential.access_token_encrypted
    assert "Files.ReadWrite.All" in credential.scopes

    status = client.get(f"/oauth/flows/{flow.start['flow']}").get_json()
    assert status["status"] == "done" and status["next"].startswith(
        "/profile/edit/external-accounts"
    )
    listing = client.get(status["next"]).get_data(as_text=True)
    assert "Adele Vance" in listing and "Connected" in listing
    assert "Microsoft account adele@contoso.example is connected." in listing
    detail = client.get(f"/profile/external-accounts/{account.id}").get_data(as_text=True)
    assert "Read and write all files you can access in OneDrive" in detail
    assert CONTOSO in detail and "Reauthenticate" in detail
    assert db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "external_account.connected")
    ).detail.startswith("microsoft: adele")


def test_tokens_are_encrypted_and_never_shown(sally, client, app):
    flow = connect(client)
    credential = db.session.scalar(select(Credential))
    access = crypto.decrypt(credential.access_token_encrypted)
    refresh = crypto.decrypt(credential.refresh_token_encrypted)
    assert access and refresh and access not in credential.access_token_encrypted
    pages = [flow.callback.get_data(as_text=True)]
    for path in (
        "/profile/edit/external-accounts",
        f"/profile/external-accounts/{_account().id}",
        f"/oauth/flows/{flow.start['flow']}",
    ):
        pages.append(client.get(path).get_data(as_text=True))
    for text in pages:
        assert access not in text and refresh not in text


def test_cancel_at_consent(sally, client):
    flow = connect(client, decision="cancel")
    assert flow.params["error"] == "access_denied"
    body = flow.callback.get_data(as_text=True)
    assert 'data-status="error"' in body
    assert "You cancelled the connection to Microsoft." in body
    _nothing_stored()
    assert _account().status_label == "Not connected"


def test_replayed_state_is_refused(sally, client):
    flow = connect(client)
    again = client.get(app_path(flow.callback_url))
    assert again.status_code == 400
    assert "already used" in again.get_data(as_text=True)


def test_unknown_state_is_refused(sally, client):
    response = client.get("/oauth/microsoft/callback?code=abc&state=forged")
    assert response.status_code == 400
    assert "not one we started" in response.get_data(as_text=True)
    _nothing_stored()


def test_another_users_state_is_refused(sally, client, app, make_user):
    make_user("max", "max-password1")
    other = app.test_client()
    other.post("/login", data={"username": "max", "password": "max-password1"})
    stolen = {}
    connect(
        client,
        before_callback=lambda url: (
            stolen.setdefault("url", url)
            and None
            or "http://127.0.0.1:5000/oauth/microsoft/callback?state=none"
        ),
    )
    response = other.get(app_path(stolen["url"]))
    assert response.status_code == 403
    assert "started by another user" in response.get_data(as_text=True)
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "oauth.refused"))
    assert db.session.scalar(select(Credential)) is None


def test_expired_state_is_refused(sally, client):
    def expire(url):
        db.session.execute(db.update(OAuthFlow).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()

    flow = connect(client, before_callback=expire)
    assert "expired" in flow.callback.get_data(as_text=True)
    _nothing_stored()


def test_wrong_pkce_verifier_is_refused_by_microsoft(sally, client):
    def swap_verifier(url):
        db.session.execute(
            db.update(OAuthFlow).values(code_verifier_encrypted=crypto.encrypt("a" * 64))
        )
        db.session.commit()

    flow = connect(client, before_callback=swap_verifier)
    assert 'data-status="error"' in flow.callback.get_data(as_text=True)
    _nothing_stored()


@pytest.mark.parametrize(
    ("mode", "words"),
    [
        ("bad_signature", "invalid signature"),
        ("wrong_nonce", "nonce"),
        ("wrong_audience", "aud"),
        ("wrong_issuer", "iss"),
        ("expired", "exp"),
    ],
)
def test_forged_id_tokens_are_refused(sally, client, ms, mode, words):
    ms.fault("token_response", mode, count=1)
    flow = connect(client)
    body = flow.callback.get_data(as_text=True)
    assert 'data-status="error"' in body and words in body and "Nothing was stored" in body
    _nothing_stored()


def test_no_refresh_token_means_not_connected(sally, client, ms):
    ms.fault("token_response", "no_refresh_token", count=1)
    flow = connect(client)
    assert "Offline access was not granted" in flow.callback.get_data(as_text=True)
    _nothing_stored()


def test_one_account_per_application(sally, client):
    connect(client)
    second = connect(client)
    assert "already has a Microsoft account; it is reused." in second.start["notice"]
    assert db.session.scalar(select(db.func.count(ExternalAccount.id))) == 1


def test_reauthenticate_same_account(sally, client):
    connect(client)
    account = _account()
    flow = connect(
        client, path=f"/profile/external-accounts/{account.id}/connect", data={"mode": "popup"}
    )
    assert 'data-status="done"' in flow.callback.get_data(as_text=True)
    assert db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "external_account.reauthenticated")
    )


def test_reauthenticate_with_a_different_account_asks_first(sally, client):
    connect(client)
    account_id = _account().id
    path = f"/profile/external-accounts/{account_id}/connect"
    flow = connect(client, oid=MEGAN, path=path, data={"mode": "popup"})
    assert 'data-status="confirm"' in flow.callback.get_data(as_text=True)
    assert _account().authorized_email == "adele@contoso.example"  # nothing overwritten yet
    confirm_url = f"/oauth/flows/{flow.start['flow']}/confirm"
    page = client.get(confirm_url).get_data(as_text=True)
    assert "Adele Vance (adele@contoso.example) is connected" in page
    assert "Megan Bowen (megan@contoso.example) signed in" in page
    client.post(confirm_url, data={"decision": "cancel"})
    assert _account().authorized_email == "adele@contoso.example"

    flow = connect(client, oid=MEGAN, path=path, data={"mode": "popup"})
    client.post(f"/oauth/flows/{flow.start['flow']}/confirm", data={"decision": "confirm"})
    account = _account()
    assert (account.authorized_email, account.object_id) == ("megan@contoso.example", MEGAN)


def test_delete_removes_the_tokens(sally, client):
    connect(client)
    account = _account()
    page = client.get(f"/profile/external-accounts/{account.id}/delete").get_data(as_text=True)
    assert "Delete the Microsoft account?" in page
    response = client.post(f"/profile/external-accounts/{account.id}/delete")
    assert response.status_code == 302
    assert _account() is None and db.session.scalar(select(Credential)) is None
    assert db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "external_account.deleted")
    )


def test_another_users_account_and_flow_are_404(sally, client, app, make_user):
    flow = connect(client)
    account = _account()
    make_user("max", "max-password1")
    other = app.test_client()
    other.post("/login", data={"username": "max", "password": "max-password1"})
    for path in (
        f"/profile/external-accounts/{account.id}",
        f"/profile/external-accounts/{account.id}/delete",
        f"/oauth/flows/{flow.start['flow']}",
        f"/oauth/flows/{flow.start['flow']}/go",
        f"/oauth/flows/{flow.start['flow']}/confirm",
    ):
        assert other.get(path).status_code == 404, path
    assert other.post(f"/profile/external-accounts/{account.id}/connect").status_code == 404
    assert other.post(f"/profile/external-accounts/{account.id}/delete").status_code == 404
    assert _account().status == "connected"


def test_same_window_redirect_mode(sally, client):
    response = client.post(
        "/profile/external-accounts/new", data={"application": "microsoft", "mode": "redirect"}
    )
    assert response.status_code == 302
    from tests.connect.conftest import sign_in_at_standin

    back = client.get(app_path(sign_in_at_standin(response.headers["Location"], ADELE)))
    assert back.status_code == 302
    assert back.headers["Location"].startswith("/profile/edit/external-accounts?flow=")
    page = client.get(back.headers["Location"]).get_data(as_text=True)
    assert "adele@contoso.example is connected" in page


def test_redirect_uri_ignores_a_forged_host(sally, client):
    evil = {"base_url": "http://evil.example", "headers": {"X-Forwarded-Host": "evil.example"}}
    client.post("/login", data={"username": "sally", "password": "sally-password"}, **evil)
    start = client.post(
        "/profile/external-accounts/new",
        data={"application": "microsoft", "mode": "redirect"},
        **evil,
    )
    assert start.status_code == 302
    params = parse_qs(urlsplit(start.headers["Location"]).query)
    assert params["redirect_uri"] == ["http://127.0.0.1:5000/oauth/microsoft/callback"]


@pytest.mark.parametrize("error", ["server_error", "temporarily_unavailable"])
def test_authorize_errors_show_the_provider_description(sally, client, ms, error):
    ms.fault("authorize", error, count=1)
    flow = connect(client)
    body = flow.callback.get_data(as_text=True)
    assert flow.params["error"] == error
    assert "Microsoft could not complete the sign-in: AADSTS" in body
    _nothing_stored()


@pytest.mark.parametrize("mode", ["500", "garbage", "invalid_grant", "429"])
def test_token_endpoint_failures_are_explained(sally, client, ms, mode):
    ms.fault("token", mode, count=1)
    flow = connect(client)
    body = flow.callback.get_data(as_text=True)
    assert flow.callback.status_code == 200 and 'data-status="error"' in body
    assert "Microsoft" in body
    _nothing_stored()


def test_token_endpoint_timeout(sally, client, ms, app):
    app.config["HTTP_TIMEOUT"] = (2, 0.5)
    ms.fault("token", "slow", delay=2, count=1)
    flow = connect(client)
    assert "did not answer in time" in flow.callback.get_data(as_text=True)
    _nothing_stored()


@pytest.mark.parametrize("mode", ["500", "garbage", "slow"])
def test_discovery_failure_when_starting(sally, client, ms, app, mode):
    app.config["HTTP_TIMEOUT"] = (2, 0.5)
    ms.fault("discovery", mode, count=5, delay=2)
    response = client.post(
        "/profile/external-accounts/new",
        data={"application": "microsoft", "mode": "popup"},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 502
    assert "Microsoft" in response.get_json()["error"]


def test_iss_parameter_is_checked_when_sent(sally, client, ms):
    ms.control("POST", "/settings", {"send_iss": True})
    assert 'data-status="done"' in connect(client).callback.get_data(as_text=True)
    db.session.execute(db.delete(ExternalAccount))
    db.session.commit()
    flow = connect(
        client,
        before_callback=lambda url: url.replace(
            "iss=http", "iss=https%3A%2F%2Fevil.example%2F"
        ).replace("iss=http", "iss=x"),
    )
    assert "unexpected issuer" in flow.callback.get_data(as_text=True)


def test_the_database_refusing_the_write_leaves_nothing_half_connected(sally, client):
    from sqlalchemy import event
    from sqlalchemy.exc import OperationalError

    def refuse_credentials(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO CREDENTIALS"):
            raise OperationalError(statement, parameters, Exception("disk I/O error"))

    def arm(url):
        event.listen(db.engine, "before_cursor_execute", refuse_credentials)

    try:
        flow = connect(client, before_callback=arm)
    finally:
        event.remove(db.engine, "before_cursor_execute", refuse_credentials)
    body = flow.callback.get_data(as_text=True)
    assert flow.callback.status_code == 200 and 'data-status="error"' in body
    assert "could not save the connection" in body
    _nothing_stored()
    status = client.get(f"/oauth/flows/{flow.start['flow']}").get_json()
    assert status["status"] == "error" and status["next"]
