"""The OAuth client checklist (RFC 9700, confidential web client; RFC 9207), one test per item,
against the running Microsoft stand-in over HTTP. Some items are also covered in tests/accounts;
this file is the checklist in one place."""

import base64
import hashlib
import re
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
from sqlalchemy import select

from app.connect.models import Credential, ExternalAccount, OAuthFlow
from app.core import crypto
from app.extensions import db
from app.users.models import User
from tests.connect.conftest import (  # noqa: F401  (fixtures reused: the wired stand-in)
    ADELE,
    app_path,
    configured,
    connect,
    ms,
    sign_in_at_standin,
    start_connect,
)

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_ORIGIN = "http://127.0.0.1:5000"  # TestConfig's PUBLIC_BASE_URL
CALLBACK = f"{PUBLIC_ORIGIN}/oauth/microsoft/callback"
EVIL = {"base_url": "http://evil.example", "headers": {"X-Forwarded-Host": "evil.example"}}
EVIL_PROXY = {
    "base_url": "https://evil.example:8443",
    "headers": {
        "Host": "evil.example:8443",
        "X-Forwarded-Host": "evil.example",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Port": "8443",
        "Forwarded": "host=evil.example;proto=https",
    },
}


@pytest.fixture
def sally(auth, configured):  # noqa: F811
    auth.login()
    return auth


def _query(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _with_query(url: str, **changes) -> str:
    parts = urlsplit(url)
    params = _query(url)
    params.update(changes)
    return urlunsplit(parts._replace(query=urlencode(params)))


def _nothing_stored():
    db.session.expire_all()
    assert db.session.scalar(select(Credential)) is None
    for account in db.session.scalars(select(ExternalAccount)):
        assert account.status != "connected" and not account.object_id


def _is_error_bridge(response) -> bool:
    return 'data-status="error"' in response.get_data(as_text=True)


def _authorize_url(client, path: str, data: dict, base_url=None, headers=None) -> str:
    """Start a flow as the page's script does and follow its go URL to the authorize URL."""
    request = {"base_url": base_url} if base_url else {}
    request["headers"] = {**(headers or {}), "Accept": "application/json"}
    start = client.post(path, data={"mode": "popup", **data}, **request)
    assert start.status_code == 200, start.get_data(as_text=True)[:500]
    go = client.get(start.get_json()["go_url"], **request)
    assert go.status_code == 302
    return go.headers["Location"]


def _flows_started(client, admin_login):
    """Every flow the app starts: (name, authorize URL)."""
    sally_id = db.session.scalar(select(User.id).where(User.username == "sally"))
    yield (
        "external accounts (onedrive)",
        _authorize_url(
            client, "/profile/external-accounts/new", {"application": "microsoft", "mode": "popup"}
        ),
    )
    for purpose in ("mail", "graph_mail"):
        yield (
            f"email settings ({purpose})",
            _authorize_url(client, f"/emails/settings/authorize/{purpose}", {"mode": "popup"}),
        )
    admin_login()
    yield (
        "admin on behalf (onedrive)",
        _authorize_url(
            client,
            f"/admin/users/{sally_id}/external-accounts/new",
            {"application": "microsoft", "mode": "popup"},
        ),
    )
    yield (
        "admin system email (mail)",
        _authorize_url(client, "/admin/email/system/authorize/mail", {"mode": "popup"}),
    )


def test_pkce_s256_on_every_flow(sally, client):
    def admin_login():
        sally.logout()
        sally.login("admin", "admin-password")

    seen = set()
    for name, url in _flows_started(client, admin_login):
        params = _query(url)
        assert params.get("code_challenge_method") == "S256", name
        challenge = params.get("code_challenge", "")
        assert len(challenge) >= 43 and re.fullmatch(r"[A-Za-z0-9_-]+", challenge), name
        assert "code_verifier" not in params, name
        flow = db.session.scalar(select(OAuthFlow).where(OAuthFlow.state == params["state"]))
        verifier = crypto.decrypt(flow.code_verifier_encrypted)
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == challenge, name
        assert challenge not in seen, f"{name}: a PKCE challenge was reused"
        seen.add(challenge)
    assert len(seen) == 5


def test_state_is_one_time_and_bound_to_the_user(sally, client, app, make_user):
    flow = connect(client)
    assert 'data-status="done"' in flow.callback.get_data(as_text=True)
    assert len(_query(flow.authorize_url)["state"]) >= 32

    replay = client.get(app_path(flow.callback_url))
    assert replay.status_code == 400 and _is_error_bridge(replay)
    assert "already used" in replay.get_data(as_text=True)

    # Another signed-in user brings sally's (unused) state: 403, and the flow stays sally's.
    make_user("max", "max-password1")
    other = app.test_client()
    other.post("/login", data={"username": "max", "password": "max-password1"})
    go = client.get(start_connect(client)["go_url"])
    callback_url = sign_in_at_standin(go.headers["Location"], ADELE)
    stolen = other.get(app_path(callback_url))
    assert stolen.status_code == 403 and _is_error_bridge(stolen)
    max_id = db.session.scalar(select(User.id).where(User.username == "max"))
    assert (
        db.session.scalar(select(ExternalAccount).where(ExternalAccount.user_id == max_id)) is None
    )
    assert 'data-status="done"' in client.get(app_path(callback_url)).get_data(as_text=True)

    unknown = client.get(app_path(_with_query(callback_url, state="made-up-state")))
    assert unknown.status_code == 400 and "unknown state" in unknown.get_data(as_text=True)
    missing = client.get("/oauth/microsoft/callback?code=abc")
    assert missing.status_code == 400 and _is_error_bridge(missing)


def test_nonce_is_checked(sally, client, ms):  # noqa: F811
    params = _query(connect(client).authorize_url)
    assert len(params["nonce"]) >= 32
    db.session.execute(db.delete(Credential))
    db.session.execute(db.delete(ExternalAccount))
    db.session.commit()

    ms.fault("token_response", "wrong_nonce", count=1)
    flow = connect(client)
    body = flow.callback.get_data(as_text=True)
    assert _is_error_bridge(flow.callback) and "nonce" in body and "Nothing was stored" in body
    _nothing_stored()


@pytest.mark.parametrize("forged", [EVIL, EVIL_PROXY], ids=["host", "proxy-headers"])
def test_redirect_uri_from_public_base_url_despite_forged_host(sally, client, forged):
    client.post("/login", data={"username": "sally", "password": "sally-password"}, **forged)
    for path, data in (
        ("/profile/external-accounts/new", {"application": "microsoft", "mode": "redirect"}),
        ("/emails/settings/authorize/mail", {"mode": "redirect"}),
    ):
        start = client.post(path, data=data, **forged)
        assert start.status_code == 302, path
        assert _query(start.headers["Location"])["redirect_uri"] == CALLBACK, path
        popup = dict(data, mode="popup")
        url = _authorize_url(client, path, popup, **forged)
        assert _query(url)["redirect_uri"] == CALLBACK, path


@pytest.mark.parametrize(
    ("mode", "claim"),
    [
        ("wrong_issuer", "iss"),
        ("wrong_audience", "aud"),
        ("bad_signature", "signature"),
        ("expired", "exp"),
    ],
)
def test_id_token_issuer_audience_signature_expiry_checked(sally, client, ms, mode, claim):  # noqa: F811
    ms.fault("token_response", mode, count=1)
    flow = connect(client)
    body = flow.callback.get_data(as_text=True)
    assert _is_error_bridge(flow.callback), mode
    assert claim in body and "Nothing was stored" in body, body[:800]
    _nothing_stored()


def test_iss_authorization_response_parameter_checked_rfc9207(sally, client, ms):  # noqa: F811
    ms.control("POST", "/settings", {"send_iss": True})
    sent = {}

    def tamper(url):
        sent["iss"] = _query(url).get("iss")
        return _with_query(url, iss="https://login.evil.example/common/v2.0")

    flow = connect(client, before_callback=tamper)
    assert sent["iss"], "the stand-in did not send iss"
    assert _is_error_bridge(flow.callback)
    assert "unexpected issuer" in flow.callback.get_data(as_text=True)
    _nothing_stored()

    ok = connect(client)
    assert ok.params.get("iss") == sent["iss"]
    assert 'data-status="done"' in ok.callback.get_data(as_text=True)


OPEN_REDIRECTS = [
    "https://evil.example",
    "//evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "https:evil.example",
    "http:/evil.example",
    "javascript:alert(1)",
    "\t//evil.example",
    " //evil.example",
    "/%0a/evil.example",
    "////evil.example",
]


def _leaves_the_site(response) -> bool:
    if response.status_code not in (301, 302, 303, 307, 308):
        return False
    location = response.headers["Location"]
    parts = urlsplit(location.strip().replace("\\", "/"))
    return bool(parts.netloc or parts.scheme) and not location.startswith(PUBLIC_ORIGIN)


@pytest.mark.parametrize("target", OPEN_REDIRECTS)
def test_no_open_redirect_on_login_next(auth, client, target):
    credentials = {"username": "sally", "password": "sally-password"}
    # next in the form (the hidden field) and in the query string of the login page.
    for response in (
        client.post("/login", data={**credentials, "next": target}),
        client.post("/login?" + urlencode({"next": target}), data=credentials),
    ):
        assert response.status_code == 302
        location = response.headers["Location"]
        assert not _leaves_the_site(response), (target, location)
        # Only a plain local path is followed; everything else goes Home.
        assert location == "/home" or (location == target and target.startswith("/%")), target
        auth.logout()
    page = client.get("/login?" + urlencode({"next": target}))
    assert page.status_code == 200
    client.post("/login", data=credentials)
    signed_in = client.get("/login?" + urlencode({"next": target}))
    assert signed_in.headers["Location"] == "/home"


def test_no_open_redirect_on_other_redirect_parameters(sally, client):
    """Every other redirect is built from server-side values: `flow` and sign-in pages'
    parameters carry no URL, and a flow's return URL is the page that started it."""
    flow = connect(client)
    flow_id = flow.start["flow"]
    record = db.session.get(OAuthFlow, flow_id)
    assert record.return_url.startswith("/") and not record.return_url.startswith("//")
    for path in (
        f"/profile/edit/external-accounts?flow={flow_id}&next=https://evil.example",
        "/profile/edit/external-accounts?flow=https://evil.example&return_url=//evil.example",
        f"/oauth/flows/{flow_id}/confirm?next=https://evil.example&return_url=//evil.example",
        "/emails/settings?flow=//evil.example&next=//evil.example",
        "/?next=https://evil.example",
        "/profile/edit?next=https://evil.example",
    ):
        response = client.get(path)
        assert response.status_code < 500, path
        assert not _leaves_the_site(response), (path, response.headers.get("Location"))
    # A signed-out visitor is sent to /login with a local `next` only.
    sally.logout()
    response = client.get("/profile/edit/external-accounts")
    assert response.status_code == 302 and not _leaves_the_site(response)
    next_value = _query(response.headers["Location"]).get("next", "")
    assert next_value.startswith("/") and not next_value.startswith("//")


def test_post_message_exact_origin_and_origin_checked_receivers(sally, client):
    flow = connect(client)
    body = flow.callback.get_data(as_text=True)
    origin = re.search(r'data-origin="([^"]*)"', body).group(1)
    assert origin == PUBLIC_ORIGIN

    # Even when every request carries a forged host, the target origin is ours.
    client.post("/login", data={"username": "sally", "password": "sally-password"}, **EVIL)
    url = _authorize_url(
        client, "/profile/external-accounts/new", {"application": "microsoft"}, **EVIL
    )
    back = client.get(app_path(sign_in_at_standin(url, ADELE)), **EVIL)
    forged = back.get_data(as_text=True)
    assert 'data-status="done"' in forged, forged[:800]
    assert re.search(r'data-origin="([^"]*)"', forged).group(1) == PUBLIC_ORIGIN
    replayed = client.get(app_path(sign_in_at_standin(url, ADELE)), **EVIL)
    assert _is_error_bridge(replayed)
    assert re.search(r'data-origin="([^"]*)"', replayed.get_data(as_text=True)).group(1) == (
        PUBLIC_ORIGIN
    )

    scripts = {path.name: path.read_text() for path in (ROOT / "static" / "js").glob("*.js")}
    bridge = scripts["oauth_bridge.js"]
    assert "postMessage(message, result.dataset.origin)" in bridge
    for name, source in scripts.items():
        for call in re.findall(r"postMessage\([^;]*\)", source):
            assert '"*"' not in call and "'*'" not in call and "`*`" not in call, (name, call)
        if re.search(r"addEventListener\(\s*[\"']message[\"']", source):
            assert "event.origin !== window.location.origin" in source, name
    assert "event.origin !== window.location.origin" in scripts["connect.js"]


def test_bridge_sends_no_coop_and_popup_openers_send_same_origin_allow_popups(sally, client):
    flow = connect(client)
    assert flow.callback.status_code == 200
    assert "Cross-Origin-Opener-Policy" not in flow.callback.headers
    refused = client.get(app_path(flow.callback_url))  # the error bridge (replayed state)
    assert _is_error_bridge(refused)
    assert "Cross-Origin-Opener-Policy" not in refused.headers
    go = client.get(start_connect(client)["go_url"])
    assert go.status_code == 302 and "Cross-Origin-Opener-Policy" not in go.headers

    account = db.session.scalar(select(ExternalAccount))
    sally_id = account.user_id
    openers = [
        "/profile/external-accounts/new",
        f"/profile/external-accounts/{account.id}",
        "/emails/settings",
    ]
    for path in openers:
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers.get("Cross-Origin-Opener-Policy") == "same-origin-allow-popups"
    sally.logout()
    sally.login("admin", "admin-password")
    for path in (
        f"/admin/users/{sally_id}/external-accounts/new",
        f"/admin/users/{sally_id}/external-accounts/{account.id}",
        "/admin/email/system",
        "/admin/email/inbound",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers.get("Cross-Origin-Opener-Policy") == "same-origin-allow-popups"
