"""Grant admin consent for your organization: an administrator approves, at the provider, every
permission the CRM asks for, for the whole organization, so that users whose organization does
not let them consent themselves ("Need admin approval") can connect.

It is a one-time flow like a sign-in (state bound to the admin, used once, 10 minutes), through
the connector's one redirect URI; its answer is not a sign-in but `admin_consent=True` and the
tenant, or an error. The last answer is kept on the connector, with its date, and audited."""

import secrets

from flask import Flask

from app.connect import connectors, oauth_flow
from app.connect.models import DONE, ERROR, OAuthFlow
from app.connect.provider import Client, OrganizationConsent, SignInRefused
from app.core.db import utcnow
from app.extensions import db
from app.users import audit
from app.users.models import User

ADMIN_CONSENT = "admin_consent"  # the purpose of such a flow


def init_app(app: Flask) -> None:
    """The callback hands admin-consent answers to `finish`."""
    oauth_flow.register_answer(app, ADMIN_CONSENT, finish)


def supported(provider: str) -> bool:
    """Whether the provider lets an administrator consent for the organization."""
    return isinstance(connectors.spec(provider), OrganizationConsent)


def start(actor: User, provider: str, return_url: str) -> OAuthFlow:
    """Record the one-time flow and the provider's admin-consent URL (raises FlowError); the
    caller commits, then sends the admin there."""
    connector = connectors.get(provider)
    if not supported(provider):
        raise oauth_flow.FlowError("This connector has no organization-wide consent.", 404)
    if connector is None or not connector.client_id:
        raise oauth_flow.FlowError("Save the connector's Client ID first.", 409)
    oauth_flow.purge_expired()
    state = secrets.token_urlsafe(32)
    client = Client(connector.client_id, "", connectors.tenant_for(connector))
    flow = OAuthFlow(
        id=secrets.token_urlsafe(24),
        state=state,
        nonce="",
        code_verifier_encrypted="",
        provider=provider,
        purpose=ADMIN_CONSENT,
        mode="redirect",
        actor_id=actor.id,
        target_user_id=actor.id,
        return_url=return_url,
        expires_at=utcnow() + oauth_flow.FLOW_LIFETIME,
        authorize_url=connectors.spec(provider).admin_consent_url(
            client, redirect_uri=connectors.redirect_uri(provider), state=state
        ),
    )
    db.session.add(flow)
    db.session.flush()
    return flow


def finish(flow: OAuthFlow, params: dict) -> None:
    """Record the provider's answer on the connector and in the audit log, and say it on the
    flow; commits both at once."""
    actor = db.session.get(User, flow.actor_id)
    if actor is None or not actor.active or not actor.is_admin:
        raise oauth_flow.FlowError(
            "You are no longer an administrator, so the consent was not recorded.", 403
        )
    connector = connectors.get(flow.provider)
    if connector is None:
        raise oauth_flow.FlowError("The connector was deleted meanwhile.", 409)
    label = connectors.label(flow.provider)
    try:
        tenant = connectors.spec(flow.provider).admin_consent_result(params)
    except SignInRefused as refusal:
        connector.admin_consent_tenant = ""
        connector.admin_consent_result = f"Not granted: {refusal.message}"[:2000]
        flow.status, flow.message = ERROR, f"Admin consent was not granted: {refusal.message}"
        audit.record(actor, "connector.admin_consent_refused", detail=f"{label}: {refusal.message}")
    else:
        connector.admin_consent_tenant = tenant[:64]
        connector.admin_consent_result = "Granted"
        flow.status = DONE
        flow.message = (
            f"Admin consent was granted for your organization (tenant {tenant}). Users of that "
            f"organization can now connect their {label} accounts without asking for approval."
        )
        audit.record(actor, "connector.admin_consent", detail=f"{label}: granted for {tenant}")
    connector.admin_consent_at, connector.admin_consent_by_id = utcnow(), actor.id
    db.session.commit()  # the point: the opener reads the answer from the flow, as it polls
