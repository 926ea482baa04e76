"""Graph /me."""

from .driver import CLIENT_ID, CLIENT_SECRET, CONTOSO_TID, MEGAN


def test_me_with_a_graph_token(ms):
    tokens = ms.tokens(oid=MEGAN)
    response = ms.me(tokens["access_token"])
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == MEGAN
    assert body["displayName"] == "Megan Bowen"
    assert body["mail"] == body["userPrincipalName"] == "megan@contoso.example"
    assert ms.control("GET", "/stats")["graph.me"] == 1


def test_me_refuses_an_outlook_token(ms):
    tokens = ms.tokens(scope="https://outlook.office.com/SMTP.Send")
    response = ms.me(tokens["access_token"])
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_me_needs_user_read(ms):
    """A valid token without the permission: 403, as Graph answers, not 401 (which would
    send a client to refresh a token that is fine)."""
    tokens = ms.tokens(scope="Files.ReadWrite.All")
    refused = ms.me(tokens["access_token"])
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "Authorization_RequestDenied"


def test_me_without_or_with_a_bogus_token(ms):
    assert ms.get("/v1.0/me").status_code == 401
    assert ms.me("not-a-token").status_code == 401


def test_me_refuses_an_app_only_token(ms):
    form = {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scope": "https://graph.microsoft.com/.default",
    }
    token = ms.post(f"/{CONTOSO_TID}/oauth2/v2.0/token", data=form).json()["access_token"]
    refused = ms.me(token)
    assert refused.status_code == 400
    assert "only valid with delegated authentication flow" in refused.json()["error"]["message"]


def test_userinfo_matches_the_id_token_subject(ms):
    from joserfc import jwt
    from joserfc.jwk import KeySet

    tokens = ms.tokens(oid=MEGAN)
    keys = KeySet.import_key_set(ms.get("/common/discovery/v2.0/keys").json())
    sub = jwt.decode(tokens["id_token"], keys).claims["sub"]
    info = ms.get("/oidc/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.json() == {
        "sub": sub,
        "name": "Megan Bowen",
        "given_name": "Megan",
        "family_name": "Bowen",
        "email": "megan@contoso.example",
    }
