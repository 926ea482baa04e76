"""Identity platform v2.0 endpoints: discovery, JWKS, authorize (picker + consent), logout.

In a tenant where users may not consent, a user who is not an admin meets "Need admin approval"
unless an admin consented for the whole tenant; then nobody there sees a consent page.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Response, request
from markupsafe import escape

from .aadsts import answer_for, fault_message, message
from .keys import key_ring
from .pages import admin_approval_page, consent_page, picker_page, signed_out_page
from .responses import (
    base_url,
    html_error,
    json_response,
    ms_error,
    plain_fault,
    redirect_to,
    sleep_for,
)
from .scopes import ScopeError, describe, full_scope, parse_scopes, resource_of
from .store import STORE, Account, Fault, Pending

bp = Blueprint("identity", __name__)

META_TENANTS = ("common", "organizations", "consumers")
RESPONSE_MODES = ("query", "fragment", "form_post")
PICK_PATH = "/login/pick"
CONSENT_PATH = "/login/consent"
APPROVAL_PATH = "/login/approval"
AUTHORIZE_FAULTS = {
    "server_error": 50000,
    "temporarily_unavailable": 90033,
    "consent_required": 65001,
    "interaction_required": 50076,
}


def tenant_segment(tenant: str) -> str | None:
    """The canonical path segment for a tenant (meta name or GUID), or None if unknown."""
    if tenant.lower() in META_TENANTS:
        return tenant.lower()
    found = STORE.find_tenant(tenant)
    return found.tid if found else None


def issuer_for(tid: str) -> str:
    """The v2.0 issuer of tokens for a tenant GUID (or meta segment)."""
    return f"{base_url()}/{tid}/v2.0"


def _discovery_fault() -> Response | None:
    fault = STORE.take_fault("discovery")
    sleep_for(fault)
    return plain_fault(fault) if fault else None


@bp.get("/<tenant>/v2.0/.well-known/openid-configuration")
def discovery(tenant: str) -> Response:
    """OpenID Connect discovery document, shaped like Microsoft's."""
    STORE.count("discovery")
    faulted = _discovery_fault()
    if faulted is not None:
        return faulted
    segment = tenant_segment(tenant)
    if segment is None:
        return ms_error(400, "invalid_tenant", 90002, tenant=tenant)
    return json_response(_metadata(segment))


def _metadata(segment: str) -> dict:
    base = base_url()
    at = f"{base}/{segment}"
    issuer = issuer_for("{tenantid}" if segment in META_TENANTS else segment)
    return {
        "token_endpoint": f"{at}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": [
            "client_secret_post",
            "private_key_jwt",
            "client_secret_basic",
        ],
        "jwks_uri": f"{at}/discovery/v2.0/keys",
        "response_modes_supported": list(RESPONSE_MODES),
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": issuer,
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": f"{base}/oidc/userinfo",
        "authorization_endpoint": f"{at}/oauth2/v2.0/authorize",
        "end_session_endpoint": f"{at}/oauth2/v2.0/logout",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "code_challenge_methods_supported": ["plain", "S256"],
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "nbf",
            "auth_time",
            "nonce",
            "preferred_username",
            "name",
            "email",
            "oid",
            "tid",
            "ver",
        ],  # fmt: skip
        "tenant_region_scope": None,
        "cloud_instance_name": "microsoftonline.com",
        "msgraph_host": urlsplit(base).netloc,
    }


@bp.get("/<tenant>/discovery/v2.0/keys")
def jwks(tenant: str) -> Response:
    """The JSON Web Key Set: the signing key, and the one it replaced after a rollover
    (discovery faults apply)."""
    STORE.count("jwks")
    faulted = _discovery_fault()
    if faulted is not None:
        return faulted
    if tenant_segment(tenant) is None:
        return ms_error(400, "invalid_tenant", 90002, tenant=tenant)
    return json_response(key_ring().jwks())


def respond(redirect_uri: str, mode: str, params: dict[str, str | None], iss: str) -> Response:
    """Send the authorize result to the client in its response mode.

    ``iss`` is added only when the ``send_iss`` switch is on (RFC 9207).
    """
    if STORE.settings.send_iss:
        params = {**params, "iss": iss}
    params = {k: v for k, v in params.items() if v is not None}
    if mode == "fragment":
        return Response(status=302, headers={"Location": f"{redirect_uri}#{urlencode(params)}"})
    if mode == "form_post":
        fields = "".join(
            f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
            for k, v in params.items()
        )
        body = (
            '<html><body onload="document.forms[0].submit()">'
            f'<form method="post" action="{escape(redirect_uri)}">{fields}'
            "<noscript><button>Continue</button></noscript></form></body></html>"
        )
        return Response(body, mimetype="text/html")
    return redirect_to(redirect_uri, params)


def error_params(
    error: str,
    code: int,
    state: str | None,
    *,
    subcode: str | None = None,
    counter: str = "authorize.error",
    **fields: str,
) -> dict:
    """Query parameters of an error sent back to the client (and count it under `counter`).

    ``subcode`` is Microsoft's ``error_subcode`` (``cancel`` when the user turned it down).
    """
    STORE.count(counter)
    return {
        "error": error,
        "error_subcode": subcode,
        "error_description": message(code, **fields),
        "state": state,
    }


@bp.get("/<tenant>/oauth2/v2.0/authorize")
def authorize(tenant: str) -> Response:
    """Validate an authorize request, then show the account picker.

    Problems with the client or redirect URI get an error page; any later
    problem is sent back to the (registered) redirect URI.
    """
    STORE.count("authorize")
    args = request.args
    segment = tenant_segment(tenant)
    refused = refuse_page(tenant, segment, args.get("client_id", ""), args.get("redirect_uri", ""))
    if refused is not None:
        return refused
    redirect_uri, state = args["redirect_uri"], args.get("state")
    mode = args.get("response_mode") or "query"
    iss = issuer_for(segment)
    if mode not in RESPONSE_MODES:
        params = error_params("invalid_request", 70011, state, parameter="response_mode")
        return respond(redirect_uri, "query", params, iss)
    fault = STORE.take_fault("authorize")
    sleep_for(fault)
    faulted = _fault_params(fault, tenant, args) if fault else None
    if faulted is not None:
        return respond(redirect_uri, mode, faulted, iss)
    problem = _check_request(args)
    if problem:
        error, code, fields = problem
        return respond(redirect_uri, mode, error_params(error, code, state, **fields), iss)
    return picker(_remember(segment, args, mode))


def _fault_params(fault: Fault, tenant: str, args) -> dict | None:
    """The error an authorize fault sends back: a named mode, or ``aadsts`` with its code."""
    state = args.get("state")
    if fault.mode in AUTHORIZE_FAULTS:
        code = AUTHORIZE_FAULTS[fault.mode]
        return error_params(fault.mode, code, state, client_id=args["client_id"])
    if fault.mode != "aadsts" or fault.code is None:
        return None
    STORE.count("authorize.error")
    answer = answer_for(fault.code)
    fields = {
        "client_id": args["client_id"],
        "tenant": tenant,
        "user": args.get("login_hint") or "",
        "resource": resource_of(args.get("scope")),
    }
    return {
        "error": answer.authorize or "invalid_request",
        "error_subcode": answer.subcode,
        "error_description": fault_message(fault.code, **fields),
        "state": state,
    }


def refuse_page(tenant: str, segment: str | None, client_id: str, uri: str) -> Response | None:
    """The error page for an unknown tenant or client or an unregistered redirect URI, else None."""
    if segment is None:
        return html_error(400, 90002, tenant=tenant)
    if not client_id:
        return html_error(400, 900144, parameter="client_id")
    client = STORE.get_client(client_id)
    if client is None:
        return html_error(400, 700016, client_id=client_id, tenant=tenant)
    if uri not in client.redirect_uris:
        return html_error(400, 50011, redirect_uri=uri, client_id=client_id)
    return None


def _check_request(args) -> tuple[str, int, dict] | None:
    response_type = args.get("response_type")
    challenge, method = args.get("code_challenge"), args.get("code_challenge_method")
    if not response_type:
        return "invalid_request", 900144, {"parameter": "response_type"}
    if response_type != "code":
        return "unsupported_response_type", 700054, {"response_type": response_type}
    try:
        parse_scopes(args.get("scope"))
    except ScopeError as exc:
        return exc.error, exc.code, exc.fields
    if method and method not in ("plain", "S256"):
        return "invalid_request", 70011, {"parameter": "code_challenge_method"}
    if method and not challenge:
        return "invalid_request", 900144, {"parameter": "code_challenge"}
    if challenge and not 43 <= len(challenge) <= 128:
        return "invalid_request", 501491, {}
    if args.get("prompt") == "none":
        return "login_required", 50058, {}
    return None


def _remember(segment: str, args, mode: str) -> Pending:
    scopes = parse_scopes(args.get("scope"))
    challenge = args.get("code_challenge")
    return STORE.add_pending(
        tenant=segment,
        client_id=args["client_id"],
        redirect_uri=args["redirect_uri"],
        resource=scopes.resource,
        scopes=scopes.scopes,
        oidc=scopes.oidc,
        state=args.get("state"),
        nonce=args.get("nonce"),
        code_challenge=challenge,
        code_challenge_method=(args.get("code_challenge_method") or "plain") if challenge else None,
        login_hint=args.get("login_hint"),
        response_mode=mode,
        prompt=args.get("prompt"),
    )


def picker(pending: Pending, action: str = PICK_PATH) -> Response:
    """The account picker for a pending request, the ``login_hint`` account first."""
    accounts = STORE.accounts_for(pending.tenant)
    hint = (pending.login_hint or "").lower()
    hinted = next((a.oid for a in accounts if hint and a.preferred_username.lower() == hint), None)
    accounts.sort(key=lambda a: a.oid != hinted)
    html = picker_page(
        pending=pending.id,
        client_id=pending.client_id,
        accounts=accounts,
        hinted=hinted,
        action=action,
    )
    return Response(html, mimetype="text/html")


@bp.get(PICK_PATH)
def pick_again() -> Response:
    """The picker again for a pending sign-in ("Have an admin account? Sign in with that one")."""
    pending = STORE.get_pending(request.args.get("pending", ""))
    if pending is None or pending.grants is not None:
        return html_error(400, 9002313)
    return picker(pending)


def picked_account(*, admin_consent: bool) -> Response | tuple[Pending, Account]:
    """The pending request and the account picked for it (recorded), or an error page.

    A request of the other kind (sign-in versus admin consent) is refused.
    """
    pending = STORE.get_pending(request.form.get("pending", ""))
    if pending is None or (pending.grants is not None) != admin_consent:
        return html_error(400, 9002313)
    oid = request.form.get("oid", "")
    account = STORE.accounts.get(oid)
    if account is None or account not in STORE.accounts_for(pending.tenant):
        return html_error(400, 50020, user=account.email if account else oid, tenant=pending.tenant)
    chosen = STORE.choose_account(pending.id, oid)
    return html_error(400, 9002313) if chosen is None else (chosen, account)


def needs_admin_approval(account: Account) -> bool:
    """Whether the account's tenant lets only admins consent and the account is no admin."""
    tenant = STORE.tenants.get(account.tid)
    return tenant is not None and not tenant.user_consent and not account.admin


@bp.post(PICK_PATH)
def pick() -> Response:
    """The user picked an account: consent page, "Need admin approval", or (an admin consented
    for the tenant) straight back with a code."""
    STORE.count("pick")
    picked = picked_account(admin_consent=False)
    if isinstance(picked, Response):
        return picked
    pending, account = picked
    covered = STORE.has_tenant_consent(
        pending.client_id, account.tid, pending.resource, pending.scopes
    )
    if covered and pending.prompt != "consent":
        STORE.count("consent.tenant_wide")
        STORE.pop_pending(pending.id)
        return _send_code(pending, remember_consent=False)
    if needs_admin_approval(account):
        STORE.count("consent.admin_required")
        html = admin_approval_page(
            pending=pending.id,
            client_id=pending.client_id,
            account=account,
            picker_url=f"{PICK_PATH}?{urlencode({'pending': pending.id})}",
            action=APPROVAL_PATH,
        )
        return Response(html, mimetype="text/html")
    return Response(_consent_html(pending, account), mimetype="text/html")


def _consent_html(pending: Pending, account: Account) -> str:
    scopes = [
        (describe(pending.resource, s), full_scope(pending.resource, s)) for s in pending.scopes
    ]
    scopes += [(describe(None, s), s) for s in pending.oidc]
    return consent_page(
        pending=pending.id,
        client_id=pending.client_id,
        account=account,
        scopes=scopes,
        action=CONSENT_PATH,
    )


def _taken_pending() -> Pending | None:
    """Pop the sign-in request a decision form names, if an account was picked for it."""
    pending = STORE.pop_pending(request.form.get("pending", ""))
    if pending is None or pending.oid is None or pending.grants is not None:
        return None
    return pending


@bp.post(CONSENT_PATH)
def consent() -> Response:
    """Accept issues a code and redirects back; Cancel redirects back with access_denied.

    An admin who ticks "Consent on behalf of your organization" consents for the tenant.
    """
    pending = _taken_pending()
    if pending is None:
        return html_error(400, 9002313)
    account = STORE.accounts[pending.oid]
    if request.form.get("decision") != "accept":
        STORE.count("consent.cancel")
        params = error_params("access_denied", 65004, pending.state, subcode="cancel")
        return _send_back(pending, params)
    if needs_admin_approval(account):
        return _send_back(pending, error_params("access_denied", 90094, pending.state))
    STORE.count("consent.accept")
    if account.admin and request.form.get("for_organization"):
        STORE.count("consent.accept.organization")
        grants = [(pending.resource, s) for s in pending.scopes] if pending.resource else []
        STORE.grant_tenant_consent(pending.client_id, account.tid, grants)
    return _send_code(pending)


@bp.post(APPROVAL_PATH)
def approval_return() -> Response:
    """ "Return to the application without granting consent": access_denied with AADSTS90094."""
    pending = _taken_pending()
    if pending is None:
        return html_error(400, 9002313)
    STORE.count("consent.admin_required.return")
    params = error_params("access_denied", 90094, pending.state, subcode="cancel")
    return _send_back(pending, params)


def _send_back(pending: Pending, params: dict) -> Response:
    iss = issuer_for(STORE.accounts[pending.oid].tid)
    return respond(pending.redirect_uri, pending.response_mode, params, iss)


def _send_code(pending: Pending, *, remember_consent: bool = True) -> Response:
    code = STORE.issue_code(pending, remember_consent=remember_consent)
    params = {"code": code.code, "state": pending.state, "session_state": str(uuid.uuid4())}
    return _send_back(pending, params)


@bp.get("/<tenant>/oauth2/v2.0/logout")
def logout(tenant: str) -> Response:
    """Sign out; return to ``post_logout_redirect_uri`` when its origin is a registered one."""
    STORE.count("logout")
    target = request.args.get("post_logout_redirect_uri")
    if target:
        origin = urlsplit(target)[:2]
        if origin in {urlsplit(uri)[:2] for uri in STORE.redirect_uris()}:
            return redirect_to(target, {"state": request.args.get("state")})
    return Response(signed_out_page(), mimetype="text/html")
