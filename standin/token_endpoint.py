"""The v2.0 token endpoint: authorization_code with PKCE, refresh_token, client_credentials."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import unquote_plus

from flask import Blueprint, Response, request

from .aadsts import answer_for, fault_message
from .identity import META_TENANTS, issuer_for, tenant_segment
from .keys import signing_key
from .responses import json_response, ms_error, plain_fault, sleep_for
from .scopes import ScopeError, granted_scope_string, parse_scopes, resource_of, token_scopes
from .store import GRAPH, STORE, Account, AuthCode, Client, Fault, pairwise_subject

bp = Blueprint("token", __name__)

GRANTS = ("authorization_code", "refresh_token", "client_credentials")


class TokenError(Exception):
    """A Microsoft-style token endpoint error: status, OAuth error, AADSTS code and its fields."""

    def __init__(self, status: int, error: str, code: int, extra: dict | None = None, **fields):
        super().__init__(f"{error} AADSTS{code}")
        self.status, self.error, self.code = status, error, code
        self.extra, self.fields = extra, fields

    def response(self) -> Response:
        """The JSON error response."""
        return ms_error(self.status, self.error, self.code, extra=self.extra, **self.fields)


def _missing(name: str) -> TokenError:
    return TokenError(400, "invalid_request", 900144, parameter=name)


def _invalid_grant(code: int, **fields) -> TokenError:
    return TokenError(400, "invalid_grant", code, **fields)


def _consent_required(client_id: str) -> TokenError:
    extra = {"suberror": "consent_required"}
    return TokenError(400, "invalid_grant", 65001, extra, client_id=client_id)


@bp.post("/<tenant>/oauth2/v2.0/token")
def token(tenant: str) -> Response:
    """Redeem a grant for tokens; counts ``token.<grant_type>`` and ``token.error``."""
    grant_type = request.form.get("grant_type", "")
    if grant_type in GRANTS:
        STORE.count(f"token.{grant_type}")
    fault = STORE.take_fault("token")
    sleep_for(fault)
    faulted = _fault_response(fault, tenant) if fault else None
    if faulted is not None:
        STORE.count("token.error")
        return faulted
    try:
        segment = tenant_segment(tenant)
        if segment is None:
            raise TokenError(400, "invalid_request", 90002, tenant=tenant)
        if not grant_type:
            raise _missing("grant_type")
        if grant_type not in GRANTS:
            raise TokenError(400, "unsupported_grant_type", 70003, grant_type=grant_type)
        client = _authenticate(tenant)
        if grant_type == "authorization_code":
            return _authorization_code(client)
        if grant_type == "refresh_token":
            return _refresh_token(client)
        return _client_credentials(client, segment)
    except TokenError as exc:
        STORE.count("token.error")
        return exc.response()


def _fault_response(fault: Fault, tenant: str) -> Response | None:
    response = plain_fault(fault)
    if response is not None:
        return response
    client_id = _client_id_offered()
    if fault.mode == "aadsts" and fault.code is not None:
        return _aadsts_response(fault.code, client_id, tenant)
    if fault.mode == "invalid_grant":
        return _invalid_grant(70008).response()
    if fault.mode == "consent_required":
        return _consent_required(client_id).response()
    if fault.mode == "temporarily_unavailable":
        response = ms_error(503, "temporarily_unavailable", 90033)
        if fault.retry_after is not None:
            response.headers["Retry-After"] = str(fault.retry_after)
        return response
    return None


def _client_id_offered() -> str:
    auth = request.authorization
    basic = unquote_plus(auth.username or "") if auth and auth.type == "basic" else ""
    return request.form.get("client_id") or basic


def _aadsts_response(code: int, client_id: str, tenant: str) -> Response:
    """An injected AADSTS error as Microsoft sends it (status, error and suberror per code)."""
    answer = answer_for(code)
    form = request.form
    record = STORE.peek_code(form.get("code", "")) or STORE.get_refresh_token(
        form.get("refresh_token", "")
    )
    account = STORE.accounts.get(record.oid) if record else None
    resource = record.resource if record and record.resource else resource_of(form.get("scope"))
    description = fault_message(
        code,
        client_id=client_id,
        tenant=tenant,
        user=account.preferred_username if account else "",
        resource=resource,
    )
    extra = {"suberror": answer.suberror} if answer.suberror else None
    return ms_error(answer.status, answer.token, code, extra=extra, description=description)


def _credentials() -> tuple[str, set[str]]:
    """The client id and the secret(s) offered, from HTTP Basic or the form body."""
    form, auth = request.form, request.authorization
    client_id = form.get("client_id", "")
    if auth is None or auth.type != "basic":
        return client_id, ({form["client_secret"]} if "client_secret" in form else set())
    basic_id = unquote_plus(auth.username or "")
    if client_id and client_id != basic_id:
        raise TokenError(400, "invalid_request", 900023)
    password = auth.password or ""
    return basic_id, {password, unquote_plus(password)}


def _authenticate(tenant: str) -> Client:
    client_id, offered = _credentials()
    if not client_id:
        raise _missing("client_id")
    client = STORE.get_client(client_id)
    if client is None:
        raise TokenError(400, "unauthorized_client", 700016, client_id=client_id, tenant=tenant)
    if client.secret is None:
        if offered:
            raise TokenError(401, "invalid_client", 700025)
        return client
    if not offered:
        raise TokenError(401, "invalid_client", 7000218)
    if not any(hmac.compare_digest(client.secret.encode(), s.encode()) for s in offered):
        raise TokenError(401, "invalid_client", 7000215, client_id=client_id)
    return client


def _pkce_ok(record: AuthCode, verifier: str) -> bool:
    if not record.code_challenge:
        return True
    if record.code_challenge_method == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    else:
        expected = verifier
    return bool(verifier) and hmac.compare_digest(expected, record.code_challenge)


def _authorization_code(client: Client) -> Response:
    form = request.form
    value = form.get("code") or ""
    if not value:
        raise _missing("code")
    record = STORE.peek_code(value)
    if record is None:
        raise _invalid_grant(9002313)
    if record.used:
        raise _invalid_grant(54005)
    if record.expires_at < time.time():
        raise _invalid_grant(70008)
    if record.client_id != client.client_id:
        raise _invalid_grant(70000)
    redirect_uri = form.get("redirect_uri")
    if not redirect_uri:
        raise _missing("redirect_uri")
    if redirect_uri != record.redirect_uri:
        raise _invalid_grant(500112, redirect_uri=redirect_uri, expected=record.redirect_uri)
    if not _pkce_ok(record, form.get("code_verifier", "")):
        raise _invalid_grant(501481)
    if not STORE.use_code(value):
        raise _invalid_grant(54005)
    account = STORE.accounts[record.oid]
    return _grant(client, account, record.resource, record.scopes, record.oidc, record.nonce)


def _refresh_token(client: Client) -> Response:
    value = request.form.get("refresh_token") or ""
    if not value:
        raise _missing("refresh_token")
    record = STORE.get_refresh_token(value)
    if record is None or record.revoked:
        raise _invalid_grant(70008)
    if record.expires_at < time.time():
        raise _invalid_grant(700082)
    if record.client_id != client.client_id:
        raise _invalid_grant(70000)
    resource, scopes, oidc = record.resource, record.scopes, record.oidc
    if request.form.get("scope"):
        try:
            asked = parse_scopes(request.form["scope"])
        except ScopeError as exc:
            raise TokenError(400, exc.error, exc.code, **exc.fields) from exc
        if asked.resource:
            if not STORE.has_consent(client.client_id, record.oid, asked.resource, asked.scopes):
                raise _consent_required(client.client_id)
            resource, scopes = asked.resource, asked.scopes
        oidc = tuple(dict.fromkeys((*asked.oidc, "offline_access")))
    if STORE.settings.revoke_on_rotation:
        STORE.revoke_refresh_token(value)
    return _grant(client, STORE.accounts[record.oid], resource, scopes, oidc, None)


def _client_credentials(client: Client, segment: str) -> Response:
    scope = (request.form.get("scope") or "").strip()
    if not scope:
        raise _missing("scope")
    if scope != f"{GRAPH}/.default":
        raise TokenError(400, "invalid_scope", 1002012, scope=scope)
    if client.secret is None:
        raise TokenError(401, "invalid_client", 7000218)
    if segment in META_TENANTS:
        raise TokenError(400, "invalid_request", 50059)
    lifetime = STORE.settings.access_token_lifetime
    access = STORE.issue_app_token(audience=GRAPH, tid=segment, client_id=client.client_id)
    body = {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime}
    return json_response({**body, "access_token": access.token})


def _grant(client: Client, account: Account, resource, scopes, oidc, nonce) -> Response:
    lifetime = STORE.settings.access_token_lifetime
    access = STORE.issue_access_token(
        audience=resource or GRAPH,
        scopes=token_scopes(scopes, oidc),
        account=account,
        client_id=client.client_id,
        lifetime=lifetime,
    )
    body = {
        "token_type": "Bearer",
        "scope": granted_scope_string(resource, scopes, oidc),
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access.token,
    }
    if "offline_access" in oidc:
        refresh = STORE.issue_refresh_token(
            client_id=client.client_id, oid=account.oid, resource=resource, scopes=scopes, oidc=oidc
        )
        body["refresh_token"] = refresh.token
    if "openid" in oidc:
        body["id_token"] = id_token(client.client_id, account, nonce)
    return json_response(_forged(body, client.client_id, account, nonce))


def _forged(body: dict, client_id: str, account: Account, nonce: str | None) -> dict:
    """Apply a ``token_response`` fault: a response a careful client must refuse."""
    fault = STORE.take_fault("token_response")
    if fault is None:
        return body
    if fault.mode == "no_refresh_token":
        body.pop("refresh_token", None)
        return body
    overrides = {
        "wrong_nonce": {"nonce": "not-the-nonce-you-sent"},
        "wrong_audience": {"aud": "00000000-0000-0000-0000-0000000bad00"},
        "wrong_issuer": {"iss": "https://login.evil.example/" + account.tid + "/v2.0"},
        "expired": {
            "exp": int(time.time()) - 3600,
            "iat": int(time.time()) - 7200,
            "nbf": int(time.time()) - 7200,
        },
    }.get(fault.mode, {})
    token = id_token(client_id, account, nonce, overrides)
    if fault.mode == "bad_signature":
        head, payload, signature = token.split(".")
        token = f"{head}.{payload}.{signature[::-1]}"
    body["id_token"] = token
    return body


def id_token(
    client_id: str, account: Account, nonce: str | None, overrides: dict | None = None
) -> str:
    """A signed v2.0 ID token for an account, with the client as audience."""
    now = int(time.time())
    claims = {
        "aud": client_id,
        "iss": issuer_for(account.tid),
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "name": account.name,
        "oid": account.oid,
        "preferred_username": account.preferred_username,
        "email": account.email,
        "sub": pairwise_subject(client_id, account.oid),
        "tid": account.tid,
        "ver": "2.0",
    }
    if nonce is not None:
        claims["nonce"] = nonce
    claims.update(overrides or {})
    return signing_key().sign(claims)
