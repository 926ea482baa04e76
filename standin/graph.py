"""Microsoft Graph stand-in: ``GET /v1.0/me`` plus helpers other Graph routes can reuse.

A Graph route should call :func:`graph_fault` first, then :func:`require_token`,
both of which return an error response (or None to carry on).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from flask import Blueprint, Response, request

from .responses import base_url, sleep_for
from .store import GRAPH, STORE, AccessToken, pairwise_subject

bp = Blueprint("graph", __name__, url_prefix="/v1.0")
oidc_bp = Blueprint("oidc", __name__)

_FAULTS = {
    "401": (401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid."),
    "403": (403, "accessDenied", "Access denied. Check credentials and try again."),
    "404": (404, "itemNotFound", "The resource could not be found."),
    "429": (429, "activityLimitReached", "The request has been throttled."),
    "503": (
        503,
        "serviceNotAvailable",
        "The service is temporarily unavailable. Please retry later.",
    ),
    "500": (500, "generalException", "An unspecified error has occurred."),
}


def graph_error(status: int, code: str, message: str, headers: dict | None = None) -> Response:
    """A Graph-shaped JSON error ``{"error": {"code", "message", "innerError"}}``."""
    request_id = str(uuid.uuid4())
    body = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request_id,
                "client-request-id": request.headers.get("client-request-id", request_id),
            },
        }
    }
    response = Response(
        json.dumps(body), status=status, mimetype="application/json", headers=headers
    )
    response.headers["request-id"] = request_id
    return response


def graph_fault(area: str = "graph") -> Response | None:
    """Apply the active fault of ``area`` (default ``graph``): sleep its delay, return its error."""
    fault = STORE.take_fault(area)
    sleep_for(fault)
    if fault is None or fault.mode not in _FAULTS:
        return None
    status, code, message = _FAULTS[fault.mode]
    headers = None
    if fault.mode in ("429", "503"):
        headers = {"Retry-After": str(fault.retry_after if fault.retry_after is not None else 1)}
    STORE.count("graph.error")
    return graph_error(status, code, message, headers)


# Graph's refusal of a valid token without the permission: 403, worded by the service behind
# the endpoint (the directory for /me, Exchange for mail).
INSUFFICIENT = ("Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
MAIL_DENIED = ("ErrorAccessDenied", "Access is denied. Check credentials and try again.")


def require_token(
    *any_of: str, refused: tuple[str, str] = INSUFFICIENT
) -> tuple[AccessToken | None, Response | None]:
    """Check the bearer token: audience Graph and at least one of the given scopes.

    Returns ``(token, None)`` when acceptable, else ``(None, refusal)``: 401 for a missing,
    expired or foreign token, 403 (`refused`) for a token without any of the scopes.
    """
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    token = (
        STORE.lookup_access_token(value.strip())
        if scheme.lower() == "bearer" and value.strip()
        else None
    )
    if token is None:
        problem = (
            "Access token is empty."
            if not header
            else "Access token has expired or is not yet valid."
        )
    elif token.audience != GRAPH:
        problem = "Invalid audience."
    elif any_of and not token.scopes & set(any_of):
        STORE.count("graph.error")
        return None, graph_error(403, *refused)
    else:
        return token, None
    STORE.count("graph.error")
    headers = {"WWW-Authenticate": 'Bearer realm="", error="invalid_token"'}
    return None, graph_error(401, "InvalidAuthenticationToken", problem, headers)


@bp.get("/me")
def me() -> Response:
    """The signed-in user's profile; needs a Graph token with User.Read."""
    STORE.count("graph.me")
    failed = graph_fault()
    if failed is not None:
        return failed
    token, failed = require_token()
    if failed is not None:
        return failed
    account = STORE.accounts.get(token.oid or "")
    if account is None:  # an app-only token: Graph says so before it looks at permissions
        return graph_error(
            400, "BadRequest", "/me request is only valid with delegated authentication flow."
        )
    token, failed = require_token("User.Read")
    if failed is not None:
        return failed
    body = {
        "@odata.context": f"{base_url()}/v1.0/$metadata#users/$entity",
        "id": account.oid,
        "displayName": account.name,
        "mail": account.email,
        "userPrincipalName": account.preferred_username,
    }
    return Response(json.dumps(body), mimetype="application/json")


@oidc_bp.get("/oidc/userinfo")
def userinfo() -> Response:
    """OIDC UserInfo (served by Graph at Microsoft); needs a Graph token with ``openid``."""
    STORE.count("graph.userinfo")
    token, failed = require_token("openid")
    if failed is not None:
        return failed
    account = STORE.accounts.get(token.oid or "")
    if account is None:
        return graph_error(401, "InvalidAuthenticationToken", "No signed-in user.")
    first, _, last = account.name.partition(" ")
    body = {
        "sub": pairwise_subject(token.client_id, account.oid),
        "name": account.name,
        "given_name": first,
        "family_name": last,
        "email": account.email,
    }
    return Response(json.dumps(body), mimetype="application/json")
