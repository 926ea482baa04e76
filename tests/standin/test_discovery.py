"""Discovery documents and the key set."""

import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet, RSAKey

from .driver import CONTOSO_TID


@pytest.mark.parametrize("tenant", ["common", "organizations", "consumers"])
def test_meta_tenants_publish_the_issuer_template(ms, tenant):
    meta = ms.get(f"/{tenant}/v2.0/.well-known/openid-configuration").json()
    assert meta["issuer"] == f"{ms.base}/{{tenantid}}/v2.0"
    assert meta["authorization_endpoint"] == f"{ms.base}/{tenant}/oauth2/v2.0/authorize"
    assert meta["token_endpoint"] == f"{ms.base}/{tenant}/oauth2/v2.0/token"
    assert meta["jwks_uri"] == f"{ms.base}/{tenant}/discovery/v2.0/keys"
    assert meta["id_token_signing_alg_values_supported"] == ["RS256"]
    assert "S256" in meta["code_challenge_methods_supported"]
    assert meta["response_modes_supported"] == ["query", "fragment", "form_post"]
    assert "client_secret_basic" in meta["token_endpoint_auth_methods_supported"]
    assert meta["userinfo_endpoint"] == f"{ms.base}/oidc/userinfo"


@pytest.mark.parametrize("tenant", [CONTOSO_TID, "contoso.example", "CONTOSO.example"])
def test_a_concrete_tenant_gets_its_guid_issuer(ms, tenant):
    meta = ms.get(f"/{tenant}/v2.0/.well-known/openid-configuration").json()
    assert meta["issuer"] == f"{ms.base}/{CONTOSO_TID}/v2.0"
    assert meta["token_endpoint"] == f"{ms.base}/{CONTOSO_TID}/oauth2/v2.0/token"


def test_unknown_tenant_is_aadsts90002(ms):
    response = ms.get("/nowhere.example/v2.0/.well-known/openid-configuration")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_tenant"
    assert body["error_codes"] == [90002]
    assert body["error_description"].startswith("AADSTS90002: Tenant 'nowhere.example' not found.")
    assert {"timestamp", "trace_id", "correlation_id"} <= body.keys()


def test_jwks_has_one_rsa_signing_key(ms):
    (key,) = ms.get("/common/discovery/v2.0/keys").json()["keys"]
    assert key["kty"] == "RSA"
    assert key["use"] == "sig"
    assert key["kid"] and key["n"] and key["e"] == "AQAB"


def test_stats_count_discovery(ms):
    ms.get("/common/v2.0/.well-known/openid-configuration")
    assert ms.control("GET", "/stats")["discovery"] == 1


def test_rotate_rolls_the_signing_key_over(ms):
    (old,) = ms.get("/common/discovery/v2.0/keys").json()["keys"]
    before = ms.tokens()["id_token"]
    rolled = ms.control("POST", "/keys/rotate")
    assert rolled["retired"] == old["kid"] and rolled["kid"] != old["kid"]
    published = ms.get("/common/discovery/v2.0/keys").json()
    assert [key["kid"] for key in published["keys"]] == [rolled["kid"], old["kid"]]
    after = ms.tokens()["id_token"]
    keys = KeySet.import_key_set(published)
    assert jwt.decode(after, keys, algorithms=["RS256"]).header["kid"] == rolled["kid"]
    assert jwt.decode(before, keys, algorithms=["RS256"]).header["kid"] == old["kid"]
    with pytest.raises(BadSignatureError):  # the new token is not signed with the old key
        jwt.decode(after, RSAKey.import_key(old), algorithms=["RS256"])
    ms.control("POST", "/reset")
    (only,) = ms.get("/common/discovery/v2.0/keys").json()["keys"]
    assert only["kid"] == rolled["kid"]  # the retired key is gone, the new one stays
