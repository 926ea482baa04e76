"""The token endpoint: code redemption, ID token, refresh, client credentials."""

import time
import warnings

import requests
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet

from .driver import (
    ADELE,
    CLIENT_ID,
    CLIENT_SECRET,
    CONTOSO_TID,
    PAT,
    TIMEOUT,
    aadsts,
)


def test_code_flow_returns_tokens_for_one_resource(ms):
    tokens = ms.tokens()
    assert tokens["token_type"] == "Bearer"
    assert tokens["scope"] == "User.Read Files.ReadWrite.All openid profile email"
    assert tokens["expires_in"] == 3600 and tokens["ext_expires_in"] == 3600
    assert tokens["access_token"] and tokens["refresh_token"] and tokens["id_token"]
    stats = ms.control("GET", "/stats")
    assert stats["token.authorization_code"] == 1
    assert "token.error" not in stats


def test_id_token_verifies_against_the_jwks(ms):
    result = ms.sign_in(oid=PAT, tenant="consumers")
    tokens = ms.redeem(result, tenant="consumers").json()
    meta = ms.get("/consumers/v2.0/.well-known/openid-configuration").json()
    keys = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=TIMEOUT).json())
    decoded = jwt.decode(tokens["id_token"], keys, algorithms=["RS256"])
    assert decoded.header["kid"] == keys.keys[0].kid
    tid = decoded.claims["tid"]
    options = {"iss": {"values": [meta["issuer"].replace("{tenantid}", tid)]}}
    params = {"nonce": result.nonce, "client_id": CLIENT_ID}
    claims = CodeIDToken(decoded.claims, decoded.header, options, params)
    claims.validate()
    assert claims["aud"] == CLIENT_ID
    assert claims["iss"] == f"{ms.base}/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"
    assert claims["oid"] == PAT
    assert claims["preferred_username"] == claims["email"] == "pat@outlook.example"
    assert claims["name"] == "Pat Personal"
    assert claims["ver"] == "2.0"
    assert claims["exp"] - claims["iat"] == 3600


def test_id_token_verifies_with_authlib_jose(ms):
    result = ms.sign_in()
    tokens = ms.redeem(result).json()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # authlib.jose warns that joserfc replaces it
        from authlib.jose import JsonWebKey
        from authlib.jose import jwt as authlib_jwt
    keys = JsonWebKey.import_key_set(ms.get("/common/discovery/v2.0/keys").json())
    claims = authlib_jwt.decode(
        tokens["id_token"],
        keys,
        claims_options={
            "iss": {"values": [f"{ms.base}/{CONTOSO_TID}/v2.0"]},
            "aud": {"values": [CLIENT_ID]},
            "nonce": {"values": [result.nonce]},
        },
    )
    claims.validate()
    assert claims["tid"] == CONTOSO_TID


def test_no_openid_no_id_token_and_no_offline_access_no_refresh_token(ms):
    tokens = ms.tokens(scope="User.Read")
    assert tokens["scope"] == "User.Read"
    assert "id_token" not in tokens and "refresh_token" not in tokens


def test_outlook_scopes_are_reported_as_uris(ms):
    tokens = ms.tokens(scope="https://outlook.office.com/SMTP.Send offline_access openid")
    assert tokens["scope"] == "https://outlook.office.com/SMTP.Send openid"


def test_a_code_is_redeemed_once(ms):
    result = ms.sign_in()
    assert ms.redeem(result).status_code == 200
    again = ms.redeem(result)
    assert again.status_code == 400
    assert aadsts(again) == ("invalid_grant", 54005)
    assert ms.control("GET", "/stats")["token.error"] == 1


def test_wrong_verifier_is_refused(ms):
    response = ms.redeem(ms.sign_in(), code_verifier="x" * 64)
    assert response.status_code == 400
    assert aadsts(response) == ("invalid_grant", 501481)


def test_the_redirect_uri_must_match(ms):
    response = ms.redeem(ms.sign_in(), redirect_uri="http://localhost:5000/other")
    assert aadsts(response) == ("invalid_grant", 500112)


def test_an_expired_code_is_refused(ms):
    result = ms.sign_in()
    ms.control("POST", "/expire", {"codes": True})
    assert aadsts(ms.redeem(result)) == ("invalid_grant", 70008)


def test_wrong_secret_is_invalid_client(ms):
    response = ms.redeem(ms.sign_in(), client_secret="wrong")
    assert response.status_code == 401
    assert aadsts(response) == ("invalid_client", 7000215)


def test_unknown_client_is_unauthorized_client(ms):
    response = ms.redeem(ms.sign_in(), client_id="no-such-app")
    assert response.status_code == 400
    assert aadsts(response) == ("unauthorized_client", 700016)


def test_http_basic_client_authentication(ms):
    result = ms.sign_in()
    form = {
        "grant_type": "authorization_code",
        "code": result.params["code"],
        "redirect_uri": "http://localhost:5000/oauth/microsoft/callback",
        "code_verifier": result.verifier,
    }
    response = ms.post("/common/oauth2/v2.0/token", data=form, auth=(CLIENT_ID, CLIENT_SECRET))
    assert response.status_code == 200, response.text


def test_refresh_rotates_and_the_old_token_keeps_working(ms):
    first = ms.tokens()
    second = ms.refresh(first["refresh_token"]).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["scope"] == first["scope"]
    assert (
        "nonce"
        not in jwt.decode(
            second["id_token"], KeySet.import_key_set(ms.get("/common/discovery/v2.0/keys").json())
        ).claims
    )
    third = ms.refresh(first["refresh_token"])
    assert third.status_code == 200
    assert ms.control("GET", "/stats")["token.refresh_token"] == 2


def test_revoke_on_rotation_switch(ms):
    ms.control("POST", "/settings", {"revoke_on_rotation": True})
    first = ms.tokens()
    assert ms.refresh(first["refresh_token"]).status_code == 200
    assert aadsts(ms.refresh(first["refresh_token"])) == ("invalid_grant", 70008)


def test_revoking_an_account_breaks_its_refresh_tokens(ms):
    tokens = ms.tokens()
    assert ms.control("POST", "/revoke", {"oid": ADELE}) == {"revoked": 1}
    response = ms.refresh(tokens["refresh_token"])
    assert response.status_code == 400
    assert aadsts(response) == ("invalid_grant", 70008)


def test_expired_refresh_token(ms):
    ms.control("POST", "/settings", {"refresh_token_lifetime": 1})
    tokens = ms.tokens()
    ms.control("POST", "/expire", {"refresh_tokens": True})
    assert aadsts(ms.refresh(tokens["refresh_token"])) == ("invalid_grant", 700082)


def test_refresh_may_narrow_but_not_reach_an_unconsented_resource(ms):
    tokens = ms.tokens()
    narrowed = ms.refresh(tokens["refresh_token"], scope="User.Read offline_access").json()
    assert narrowed["scope"] == "User.Read"
    outlook = ms.refresh(tokens["refresh_token"], scope="https://outlook.office.com/SMTP.Send")
    body = outlook.json()
    assert aadsts(outlook) == ("invalid_grant", 65001)
    assert body["suberror"] == "consent_required"


def test_access_token_lifetime_setting(ms):
    ms.control("POST", "/settings", {"access_token_lifetime": 60})
    assert ms.tokens()["expires_in"] == 60


def test_client_credentials(ms):
    form = {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scope": "https://graph.microsoft.com/.default",
    }
    response = ms.post(f"/{CONTOSO_TID}/oauth2/v2.0/token", data=form)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["access_token"] and "refresh_token" not in body and "id_token" not in body
    wrong = ms.post(f"/{CONTOSO_TID}/oauth2/v2.0/token", data={**form, "scope": "User.Read"})
    assert aadsts(wrong) == ("invalid_scope", 1002012)
    tenantless = ms.post("/common/oauth2/v2.0/token", data=form)
    assert aadsts(tenantless) == ("invalid_request", 50059)
    assert ms.control("GET", "/stats")["token.client_credentials"] == 3


def test_unsupported_and_missing_grant_types(ms):
    response = ms.post("/common/oauth2/v2.0/token", data={"grant_type": "password"})
    assert aadsts(response) == ("unsupported_grant_type", 70003)
    assert aadsts(ms.post("/common/oauth2/v2.0/token", data={})) == ("invalid_request", 900144)


def test_tokens_expire_through_the_control_api(ms):
    tokens = ms.tokens()
    assert ms.me(tokens["access_token"]).status_code == 200
    ms.control("POST", "/expire", {"access_tokens": True})
    assert ms.me(tokens["access_token"]).status_code == 401


def test_token_timestamps_are_current(ms):
    decoded = jwt.decode(
        ms.tokens()["id_token"],
        KeySet.import_key_set(ms.get("/common/discovery/v2.0/keys").json()),
    )
    assert abs(decoded.claims["iat"] - time.time()) < 60


def test_public_client_redeems_with_pkce_and_no_secret(ms):
    uri = "http://localhost:5000/public/cb"
    ms.control(
        "POST", "/clients", {"client_id": "spa", "client_secret": None, "redirect_uris": [uri]}
    )
    result = ms.sign_in(client_id="spa", redirect_uri=uri)
    form = {"client_id": "spa", "redirect_uri": uri}
    with_secret = ms.redeem(result, client_secret="anything", **form)
    assert aadsts(with_secret) == ("invalid_client", 700025)
    response = ms.redeem(result, client_secret=None, **form)
    assert response.status_code == 200, response.text
