"""The v2.0 admin consent endpoint: an admin grants an app's permissions for a whole tenant.

``GET /{tenant}/v2.0/adminconsent?client_id&scope&redirect_uri&state`` is checked like authorize,
then an admin picks their account and accepts for the organization; the client is sent back with
``admin_consent=True&tenant=<tid>&scope=...&state=...``. Someone who is no admin is sent back with
``access_denied`` and AADSTS90093.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from .identity import error_params, picked_account, picker, refuse_page, tenant_segment
from .pages import admin_consent_page
from .responses import html_error, redirect_to
from .scopes import ScopeError, describe, full_scope, parse_admin_scopes
from .store import STORE, Pending

bp = Blueprint("admin_consent", __name__)

ADMIN_PICK_PATH = "/login/adminconsent/pick"
ADMIN_CONSENT_PATH = "/login/adminconsent/consent"


def _error(error: str, code: int, state: str | None, **options: str) -> dict:
    return error_params(error, code, state, counter="adminconsent.error", **options)


@bp.get("/<tenant>/v2.0/adminconsent")
def adminconsent(tenant: str) -> Response:
    """Validate an admin consent request, then show the picker (work and school accounts)."""
    STORE.count("adminconsent")
    args = request.args
    segment = tenant_segment(tenant)
    refused = refuse_page(tenant, segment, args.get("client_id", ""), args.get("redirect_uri", ""))
    if refused is not None:
        return refused
    try:
        scopes = parse_admin_scopes(args.get("scope"))
    except ScopeError as exc:
        params = _error(exc.error, exc.code, args.get("state"), **exc.fields)
        return redirect_to(args["redirect_uri"], params)
    pending = STORE.add_pending(
        tenant="organizations" if segment == "common" else segment,
        client_id=args["client_id"],
        redirect_uri=args["redirect_uri"],
        resource=None,
        scopes=(),
        oidc=scopes.oidc,
        state=args.get("state"),
        nonce=None,
        code_challenge=None,
        code_challenge_method=None,
        login_hint=args.get("login_hint"),
        grants=scopes.grants,
    )
    return picker(pending, action=ADMIN_PICK_PATH)


@bp.post(ADMIN_PICK_PATH)
def admin_pick() -> Response:
    """An admin gets the "Accept for your organization" page; anyone else goes back refused."""
    STORE.count("adminconsent.pick")
    picked = picked_account(admin_consent=True)
    if isinstance(picked, Response):
        return picked
    pending, account = picked
    if not account.admin:
        STORE.pop_pending(pending.id)
        STORE.count("adminconsent.refused")
        return redirect_to(pending.redirect_uri, _error("access_denied", 90093, pending.state))
    scopes = [(describe(r, name), full_scope(r, name)) for r, name in pending.grants or ()]
    scopes += [(describe(None, s), s) for s in pending.oidc]
    html = admin_consent_page(
        pending=pending.id,
        client_id=pending.client_id,
        account=account,
        tenant=STORE.tenants[account.tid],
        scopes=scopes,
        action=ADMIN_CONSENT_PATH,
    )
    return Response(html, mimetype="text/html")


def _taken_pending() -> Pending | None:
    pending = STORE.pop_pending(request.form.get("pending", ""))
    if pending is None or pending.oid is None or pending.grants is None:
        return None
    return pending


@bp.post(ADMIN_CONSENT_PATH)
def admin_decide() -> Response:
    """Accept records the consent for the admin's tenant and says so; Cancel says access_denied."""
    pending = _taken_pending()
    if pending is None:
        return html_error(400, 9002313)
    account = STORE.accounts[pending.oid]
    if request.form.get("decision") != "accept":
        STORE.count("adminconsent.cancel")
        params = _error("access_denied", 65004, pending.state, subcode="cancel")
        return redirect_to(pending.redirect_uri, params)
    if not account.admin:
        return redirect_to(pending.redirect_uri, _error("access_denied", 90093, pending.state))
    STORE.count("adminconsent.accept")
    STORE.grant_tenant_consent(pending.client_id, account.tid, pending.grants or ())
    granted = [full_scope(r, name) for r, name in pending.grants or ()] + list(pending.oidc)
    params = {
        "admin_consent": "True",
        "tenant": account.tid,
        "scope": " ".join(granted),
        "state": pending.state,
    }
    return redirect_to(pending.redirect_uri, params)
