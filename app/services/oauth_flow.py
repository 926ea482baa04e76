"""Start and finish an OAuth authorization-code flow: one-time state bound to the signed-in
user (and the user the result belongs to), PKCE S256, nonce, id_token checks.

What to do with a successful sign-in depends on the purpose (External Accounts, email); each
purpose registers its completion with `register_completion`."""

import base64
import hashlib
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from app.models import OAuthFlow, User
from app.models.base import utcnow
from app.models.oauth_flow import CONFIRM, DONE, ERROR, PENDING
from app.services import audit, connectors, crypto

log = logging.getLogger(__name__)
FLOW_LIFETIME = timedelta(minutes=10)


class FlowError(Exception):
    """The flow cannot start or finish; `message` is for the user, nothing is stored."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class SignInResult:
    """A verified sign-in: who signed in (id_token claims) and the token response."""

    claims: dict
    tokens: dict


Completion = Callable[[OAuthFlow, SignInResult], None]
_COMPLETIONS: dict[str, Completion] = {}


def register_completion(purpose: str, completion: Completion) -> None:
    """Say what a successful sign-in for `purpose` does (store an account, authorize mail...)."""
    _COMPLETIONS[purpose] = completion


def _pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(64)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def start(
    actor: User,
    target: User,
    provider: str,
    purpose: str,
    *,
    mode: str,
    return_url: str,
    account_id: int | None = None,
    login_hint: str | None = None,
) -> OAuthFlow:
    """Record a one-time flow and build the provider's authorize URL (raises FlowError)."""
    spec = connectors.spec(provider)
    connector = connectors.get(provider)
    if spec is None or connector is None or not connector.is_ready:
        raise FlowError(
            "The connector is not configured. Please ask your administrator to "
            "check Admin > Connectors.",
            409,
        )
    module = spec.module
    scopes = module.purposes()[purpose].scopes
    try:
        discovery = module.discover(connectors.tenant_for(connector))
    except module.MicrosoftError as error:
        raise FlowError(error.message, 502) from error
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier, challenge = _pkce_pair()
    flow = OAuthFlow(
        id=secrets.token_urlsafe(24),
        state=state,
        nonce=nonce,
        code_verifier_encrypted=crypto.encrypt(verifier),
        provider=provider,
        purpose=purpose,
        mode="redirect" if mode == "redirect" else "popup",
        actor_id=actor.id,
        target_user_id=target.id,
        account_id=account_id,
        return_url=return_url,
        expires_at=utcnow() + FLOW_LIFETIME,
        authorize_url=module.authorization_url(
            discovery,
            client_id=connector.client_id,
            redirect_uri=connectors.redirect_uri(provider),
            scopes=scopes,
            state=state,
            nonce=nonce,
            code_challenge=challenge,
            login_hint=login_hint,
        ),
    )
    db.session.add(flow)
    db.session.commit()
    return flow


def flow_for(flow_id: str, user: User) -> OAuthFlow | None:
    """A flow the signed-in user started, or None (another user's flow is not theirs to see)."""
    flow = db.session.get(OAuthFlow, flow_id) if flow_id else None
    return flow if flow is not None and flow.actor_id == user.id else None


def finish(provider: str, params: dict, user: User) -> OAuthFlow:
    """Handle the provider's redirect: claim the state once, then redeem and verify."""
    flow = _claim(provider, params.get("state", ""), user)
    flow_id = flow.id
    try:
        result = _verify(flow, params)
        _COMPLETIONS[flow.purpose](flow, result)
    except FlowError as error:
        db.session.rollback()
        _fail(flow, error.message)
    except connectors.REGISTRY[provider].module.MicrosoftError as error:
        db.session.rollback()
        _fail(
            flow,
            error.message if error.transient else f"Microsoft refused the sign-in: {error.message}",
        )
    except SQLAlchemyError:
        # The database refused the write: nothing half-connected stays behind (the whole
        # completion rolls back); say so, and let the user try again.
        db.session.rollback()
        log.exception("Could not store the result of flow %s", flow_id)
        _fail(
            flow,
            "The CRM could not save the connection, so nothing was stored. "
            "Please try again in a moment.",
        )
    return flow


def _claim(provider: str, state: str, user: User) -> OAuthFlow:
    flow = db.session.scalar(select(OAuthFlow).where(OAuthFlow.state == state)) if state else None
    if flow is None or flow.provider != provider:
        raise FlowError("This sign-in is not one we started (unknown state). Please connect again.")
    if flow.actor_id != user.id:
        audit.record(user, "oauth.refused", detail="callback with another user's state")
        db.session.commit()
        raise FlowError("This sign-in was started by another user.", 403)
    claimed = db.session.execute(
        update(OAuthFlow)
        .where(OAuthFlow.id == flow.id, OAuthFlow.used_at.is_(None))
        .values(used_at=utcnow())
    )
    db.session.commit()
    if claimed.rowcount != 1:
        raise FlowError("This sign-in was already used. Please connect again.")
    db.session.refresh(flow)
    if flow.expires_at < utcnow():
        _fail(flow, "This sign-in took too long and expired. Please connect again.")
        raise FlowError(flow.message)
    return flow


def _fail(flow: OAuthFlow, message: str) -> None:
    flow.status, flow.message = ERROR, message
    try:
        db.session.commit()
    except SQLAlchemyError:  # the database is still refusing: the flow expires on its own
        db.session.rollback()
        log.exception("Could not mark flow %s as failed", flow.id)


def _verify(flow: OAuthFlow, params: dict) -> SignInResult:
    module = connectors.REGISTRY[flow.provider].module
    if params.get("error"):
        raise FlowError(
            module.authorize_error_message(
                params.get("error", ""), params.get("error_description", "")
            )
        )
    connector = connectors.get(flow.provider)
    if connector is None or not connector.is_ready:
        raise FlowError("The connector was switched off. Please ask your administrator.")
    discovery = module.discover(connectors.tenant_for(connector))
    if params.get("iss") and not module.issuer_matches(discovery, params["iss"]):
        raise FlowError("The sign-in answer came from an unexpected issuer; nothing was stored.")
    if not params.get("code"):
        raise FlowError("Microsoft did not send an authorization code. Please connect again.")
    tokens = module.redeem_code(
        discovery,
        client_id=connector.client_id,
        client_secret=connectors.client_secret(connector),
        code=params["code"],
        redirect_uri=connectors.redirect_uri(flow.provider),
        code_verifier=crypto.decrypt(flow.code_verifier_encrypted),
        scopes=module.purposes()[flow.purpose].scopes,
    )
    if not tokens.get("access_token") or not tokens.get("id_token"):
        raise FlowError("Microsoft's answer lacked the tokens we asked for. Please connect again.")
    try:
        claims = module.validate_id_token(
            discovery,
            tokens["id_token"],
            client_id=connector.client_id,
            nonce=flow.nonce,
            tenant=connectors.tenant_for(connector),
        )
    except module.IdTokenError as error:
        log.warning("Refused an id_token for flow %s: %s", flow.id, error)
        raise FlowError(f"{error} Nothing was stored.") from error
    if not tokens.get("refresh_token"):
        raise FlowError(
            "Offline access was not granted, so the CRM could not stay connected. "
            "Please connect again and accept all permissions."
        )
    return SignInResult(claims, tokens)


def succeed(flow: OAuthFlow, message: str) -> None:
    """Mark the flow done (the caller's completion calls this in its transaction)."""
    flow.status, flow.message = DONE, message


def hold_for_confirmation(flow: OAuthFlow, result: SignInResult, message: str) -> None:
    """Keep a verified sign-in (encrypted) until the user confirms replacing an account."""
    flow.status, flow.message = CONFIRM, message
    flow.pending_result_encrypted = crypto.encrypt(
        json.dumps({"claims": result.claims, "tokens": result.tokens})
    )


def take_pending_result(flow: OAuthFlow) -> SignInResult | None:
    """The held sign-in of a flow waiting for confirmation (and forget it), or None."""
    if flow.status != CONFIRM or not flow.pending_result_encrypted or flow.expires_at < utcnow():
        return None
    held = json.loads(crypto.decrypt(flow.pending_result_encrypted))
    flow.pending_result_encrypted = ""
    return SignInResult(held["claims"], held["tokens"])


def decline(flow: OAuthFlow, message: str) -> None:
    """The user kept the connected account: drop the held sign-in."""
    flow.pending_result_encrypted = ""
    flow.status, flow.message = ERROR, message
    db.session.commit()


def public_status(flow: OAuthFlow) -> dict:
    """What the opener may know of a flow: its status and message, never a token."""
    return {
        "flow": flow.id,
        "status": flow.status,
        "message": flow.message,
        "pending": flow.status == PENDING,
    }
