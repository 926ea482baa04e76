"""Start and finish an OAuth authorization-code flow: one-time state bound to the signed-in
user (and the user the result belongs to), PKCE S256, nonce, id_token checks.

What to do with a successful sign-in depends on the purpose (External Accounts, email); each
purpose registers a `Completion`: `review` refuses what may not be stored (an identity that is
another user's) and says what the person must confirm first (acting for another user, another
identity than the connected one); `store` writes it. Until it is confirmed a sign-in is only
held, encrypted, on the flow, and every secret of a flow is deleted once the flow is over."""

import json
import logging
import secrets
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from flask import Flask, current_app
from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from app.alerts import service as alerts
from app.connect import connectors
from app.connect.models import CONFIRM, DONE, ERROR, PENDING, OAuthFlow
from app.connect.provider import ProviderError, SignIn, SignInRefused
from app.core import crypto
from app.core.db import utcnow
from app.core.timing import Laps
from app.extensions import db
from app.users import audit
from app.users.models import User

log = logging.getLogger(__name__)
FLOW_LIFETIME = timedelta(minutes=10)


class FlowError(Exception):
    """The flow cannot start or finish; `message` is for the user, nothing is stored."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Review:
    """What the person must confirm before a sign-in is stored; nothing to confirm when empty."""

    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    confirm_label: str = "Confirm"
    cancel_label: str = "Cancel"
    heading: str = "Confirm the account"
    cancel_message: str = "Cancelled: nothing was stored and the sign-in was discarded."


@dataclass(frozen=True)
class Completion:
    """What a verified sign-in for one purpose does: `review` raises FlowError when it may not be
    stored and says what needs confirming; `store` writes it, marks the flow done (`succeed`)
    and commits both at once."""

    review: Callable[[OAuthFlow, SignIn], Review]
    store: Callable[[OAuthFlow, SignIn], None]


def register_completion(app: Flask, purpose: str, completion: Completion) -> None:
    """Say what a successful sign-in for `purpose` does (store an account, authorize mail...);
    each area registers its purposes in its `init_app`."""
    app.extensions.setdefault("flow_completions", {})[purpose] = completion


def register_answer(app: Flask, purpose: str, handle: Callable[[OAuthFlow, dict], None]) -> None:
    """Say what the provider's answer does for a flow that is not a sign-in (admin consent):
    `handle` records it, marks the flow done or failed, and commits."""
    app.extensions.setdefault("flow_answers", {})[purpose] = handle


def _completion(purpose: str) -> Completion:
    return current_app.extensions["flow_completions"][purpose]


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
    """Record a one-time flow and build the provider's authorize URL (raises FlowError); the
    caller commits before it hands the flow to the browser."""
    spec, connector = connectors.spec(provider), connectors.get(provider)
    if spec is None or connector is None or not connector.is_ready:
        raise FlowError(
            "The connector is not configured. Please ask your administrator to "
            "check Admin > Connectors.",
            409,
        )
    try:
        client = connectors.client(connector)  # fail now, not after the user signed in
    except connectors.SecretUnreadable as error:
        raise FlowError(error.message, 409) from error
    purge_expired()
    state, nonce, verifier = (secrets.token_urlsafe(n) for n in (32, 32, 64))
    try:
        authorize_url = spec.authorization_url(
            client,
            purpose=purpose,
            redirect_uri=connectors.redirect_uri(provider),
            state=state,
            nonce=nonce,
            code_verifier=verifier,
            login_hint=login_hint,
        )
    except ProviderError as error:
        raise FlowError(error.message, 502) from error
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
        authorize_url=authorize_url,
    )
    db.session.add(flow)
    db.session.flush()
    return flow


def flow_for(flow_id: str, user: User) -> OAuthFlow | None:
    """A flow the signed-in user started, or None (another user's flow is not theirs to see)."""
    flow = db.session.get(OAuthFlow, flow_id) if flow_id else None
    return flow if flow is not None and flow.actor_id == user.id else None


def finish(provider: str, params: dict, user: User) -> OAuthFlow:
    """Handle the provider's redirect: claim the state once, redeem and verify, then store the
    sign-in, or hold it until the person confirms (acting for another user, another identity)."""
    laps = Laps()
    flow = _claim(provider, params.get("state", ""), user)
    laps("state claimed")
    handle = current_app.extensions.get("flow_answers", {}).get(flow.purpose)
    if handle is not None:
        with _outcome(flow):
            handle(flow, params)
        return flow
    with _outcome(flow):
        try:
            result = _verify(flow, params)
        finally:
            flow.code_verifier_encrypted = ""  # redeemed or refused: never needed again
        laps("sign-in")
        completion = _completion(flow.purpose)
        check_right_to_act(flow)
        review = completion.review(flow, result)
        if review.notes:
            hold_for_confirmation(flow, result, review)
            db.session.commit()  # the point: the opener learns the outcome whatever comes next
        else:
            completion.store(flow, result)
        laps("stored")
    log.info("Flow %s ended %s: %s", flow.id, flow.status, laps)
    return flow


def confirm(flow: OAuthFlow, accept: bool) -> None:
    """The person decided about a held sign-in: store it (checked again: rights, identity), or
    cancel and delete it. The held tokens are gone from the flow either way."""
    if flow.status != CONFIRM:
        raise FlowError("There is nothing to confirm for this sign-in.", 409)
    held = held_sign_in(flow)
    result = take_pending_result(flow)
    if held is None or result is None:
        _fail(flow, "This choice expired, so nothing was stored. Please connect again.")
        raise FlowError(flow.message, 410)
    if not accept:
        decline(flow, held.review.cancel_message)
        return
    with _outcome(flow):
        completion = _completion(flow.purpose)
        check_right_to_act(flow)
        completion.review(flow, result)
        completion.store(flow, result)


@contextmanager
def _outcome(flow: OAuthFlow):
    """Turn what can go wrong while finishing a flow into its error status and message."""
    flow_id = flow.id
    label = connectors.spec(flow.provider).label
    try:
        yield
    except FlowError as error:
        db.session.rollback()
        _fail(flow, error.message)
    except connectors.SecretUnreadable as error:
        db.session.rollback()
        _fail(flow, error.message)
    except ProviderError as error:
        db.session.rollback()
        alerts.on_provider_error(flow.provider, error)  # a refused client secret alerts at once
        message = error.message_for(_actor_is_admin(flow))
        _fail(flow, message if error.transient else f"{label} refused the sign-in: {message}")
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


def _actor_is_admin(flow: OAuthFlow) -> bool:
    """Whether the person who started the flow is an admin (told how to fix what they can)."""
    actor = db.session.get(User, flow.actor_id)
    return actor is not None and actor.is_admin


def check_right_to_act(flow: OAuthFlow) -> None:
    """The person who started the flow may still store its result for its user: both are
    active, and someone acting for another user is still an admin (checked at the end)."""
    actor = db.session.get(User, flow.actor_id)
    if actor is None or not actor.active:
        raise FlowError("Your user was deactivated meanwhile; nothing was stored.", 403)
    if flow.target_user_id == flow.actor_id:
        return
    if not actor.is_admin:
        audit.record(actor, "oauth.refused", detail="no longer an admin when the sign-in ended")
        db.session.commit()  # the point: the refusal is recorded though the flow rolls back
        raise FlowError(
            "You are no longer an administrator, so you may not connect accounts for other "
            "users. Nothing was stored.",
            403,
        )
    target = db.session.get(User, flow.target_user_id)
    if target is None or not target.active:
        raise FlowError("That user was deactivated or deleted meanwhile; nothing was stored.")


def _claim(provider: str, state: str, user: User) -> OAuthFlow:
    flow = db.session.scalar(select(OAuthFlow).where(OAuthFlow.state == state)) if state else None
    if flow is None or flow.provider != provider:
        raise FlowError("This sign-in is not one we started (unknown state). Please connect again.")
    if flow.actor_id != user.id:
        audit.record(user, "oauth.refused", detail="callback with another user's state")
        db.session.commit()  # the point: the refusal is recorded though the request fails
        raise FlowError("This sign-in was started by another user.", 403)
    claimed = db.session.execute(
        update(OAuthFlow)
        .where(OAuthFlow.id == flow.id, OAuthFlow.used_at.is_(None))
        .values(used_at=utcnow())
    )
    db.session.commit()  # the point: the state is spent before the code is redeemed
    if claimed.rowcount != 1:
        raise FlowError("This sign-in was already used. Please connect again.")
    db.session.refresh(flow)
    if flow.expires_at < utcnow():
        _fail(flow, "This sign-in took too long and expired. Please connect again.")
        raise FlowError(flow.message)
    return flow


def _fail(flow: OAuthFlow, message: str) -> None:
    flow.status, flow.message = ERROR, message
    flow.code_verifier_encrypted = flow.pending_result_encrypted = ""
    try:
        db.session.commit()  # the point: the opener learns of the failure (the rest rolled back)
    except SQLAlchemyError:  # the database is still refusing: the flow expires on its own
        db.session.rollback()
        log.exception("Could not mark flow %s as failed", flow.id)


def _verify(flow: OAuthFlow, params: dict) -> SignIn:
    """The provider's verified sign-in for this flow, with a refresh token (raises FlowError,
    ProviderError, SecretUnreadable)."""
    connector = connectors.get(flow.provider)
    if connector is None or not connector.is_ready:
        raise FlowError("The connector was switched off. Please ask your administrator.")
    try:
        verifier = crypto.decrypt(flow.code_verifier_encrypted)
    except crypto.DecryptionError as error:
        raise FlowError(
            "This sign-in can no longer be read (the encryption keys changed). "
            "Please connect again."
        ) from error
    try:
        sign_in = connectors.spec(flow.provider).sign_in(
            connectors.client(connector),
            purpose=flow.purpose,
            params=params,
            redirect_uri=connectors.redirect_uri(flow.provider),
            code_verifier=verifier,
            nonce=flow.nonce,
        )
    except SignInRefused as error:
        log.warning("Refused the sign-in of flow %s: %s", flow.id, error.message)
        raise FlowError(error.message_for(_actor_is_admin(flow))) from error
    if not sign_in.tokens.get("refresh_token"):
        raise FlowError(
            "Offline access was not granted, so the CRM could not stay connected. "
            "Please connect again and accept all permissions."
        )
    return sign_in


def succeed(flow: OAuthFlow, message: str) -> None:
    """Mark the flow done and forget its secrets, in the transaction of the completion that
    stored its result."""
    flow.status, flow.message = DONE, message
    flow.code_verifier_encrypted = flow.pending_result_encrypted = ""


def hold_for_confirmation(flow: OAuthFlow, result: SignIn, review: Review) -> None:
    """Keep a verified sign-in (encrypted) until the person confirms it; at most until the flow
    expires, when `purge_expired` deletes it."""
    flow.status, flow.message = CONFIRM, review.notes[0]
    flow.pending_result_encrypted = crypto.encrypt(
        json.dumps(
            {
                "identity": [result.tenant_id, result.object_id, result.name, result.username],
                "claims": result.claims,
                "tokens": result.tokens,
                "review": {
                    "notes": list(review.notes),
                    "warnings": list(review.warnings),
                    "confirm_label": review.confirm_label,
                    "cancel_label": review.cancel_label,
                    "heading": review.heading,
                    "cancel_message": review.cancel_message,
                },
            }
        )
    )


@dataclass(frozen=True)
class HeldSignIn:
    """What the confirmation page shows of a held sign-in: who signed in and what to decide
    (never a token)."""

    name: str
    username: str
    tenant_id: str
    review: Review


def held_sign_in(flow: OAuthFlow) -> HeldSignIn | None:
    """The identity and the review of a flow waiting for confirmation, or None (expired, gone,
    or no longer readable with the configured keys)."""
    held = _held(flow)
    if held is None:
        return None
    tenant_id, _object_id, name, username = held["identity"]
    review = held.get("review") or {}
    labels = {k: review[k] for k in _LABELS if review.get(k)}
    return HeldSignIn(
        name,
        username,
        tenant_id,
        Review(tuple(review.get("notes", ())), tuple(review.get("warnings", ())), **labels),
    )


_LABELS = ("confirm_label", "cancel_label", "heading", "cancel_message")


def _held(flow: OAuthFlow) -> dict | None:
    if flow.status != CONFIRM or not flow.pending_result_encrypted or flow.expires_at < utcnow():
        return None
    try:
        return json.loads(crypto.decrypt(flow.pending_result_encrypted))
    except crypto.DecryptionError:
        return None


def take_pending_result(flow: OAuthFlow) -> SignIn | None:
    """The held sign-in of a flow waiting for confirmation, or None; the flow forgets it."""
    held = _held(flow)
    flow.pending_result_encrypted = ""
    if held is None:
        return None
    return SignIn(*held["identity"], held["claims"], held["tokens"])


def decline(flow: OAuthFlow, message: str) -> None:
    """The person cancelled: the held sign-in is deleted at once, nothing is stored."""
    flow.pending_result_encrypted = flow.code_verifier_encrypted = ""
    flow.status, flow.message = ERROR, message
    db.session.commit()  # the point: Cancel deletes the held tokens at once


KEEP_FINISHED_FLOWS = timedelta(days=1)


def purge_expired() -> int:
    """Delete the secrets (PKCE verifier, held sign-in) of every expired flow, and flows older
    than a day; returns how many flows lost their secrets. Runs whenever a flow starts and from
    `flask cleanup` (cron), so nothing outlives its 10 minutes by more than the cron interval."""
    now = utcnow()
    emptied = db.session.execute(
        update(OAuthFlow)
        .where(
            OAuthFlow.expires_at < now,
            or_(OAuthFlow.code_verifier_encrypted != "", OAuthFlow.pending_result_encrypted != ""),
        )
        .values(code_verifier_encrypted="", pending_result_encrypted="")
    ).rowcount
    db.session.execute(delete(OAuthFlow).where(OAuthFlow.expires_at < now - KEEP_FINISHED_FLOWS))
    return emptied


def public_status(flow: OAuthFlow) -> dict:
    """What the opener may know of a flow: its status and message, never a token."""
    return {
        "flow": flow.id,
        "status": flow.status,
        "message": flow.message,
        "pending": flow.status == PENDING,
    }
