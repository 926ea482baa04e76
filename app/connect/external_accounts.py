"""Connect and disconnect rules for External Accounts: one account per user per application,
tokens stored for the account's owner (even when an admin signs in for them), identity by the
provider's (tenant, object) ids, never by name or email."""

from flask import Flask
from sqlalchemy import select

from app.connect import connectors, identities, oauth_flow, tokens
from app.connect.models import NOT_CONNECTED, ExternalAccount, OAuthFlow
from app.connect.provider import ProviderError, SignIn
from app.core.db import utcnow
from app.extensions import db
from app.users import audit
from app.users.models import User

PURPOSE = "onedrive"


def accounts_of(user: User) -> list[ExternalAccount]:
    """A user's external accounts, newest change first."""
    return list(
        db.session.scalars(
            select(ExternalAccount)
            .where(ExternalAccount.user_id == user.id)
            .order_by(ExternalAccount.updated_at.desc())
        )
    )


def account_of(user: User, account_id: int) -> ExternalAccount | None:
    """One of the user's accounts, or None when it is not theirs (the caller answers 404)."""
    account = db.session.get(ExternalAccount, account_id)
    return account if account is not None and account.user_id == user.id else None


def connected_account(user: User, provider: str) -> ExternalAccount | None:
    """The user's account at a provider, whatever its status."""
    return db.session.scalar(
        select(ExternalAccount).where(
            ExternalAccount.user_id == user.id, ExternalAccount.provider == provider
        )
    )


def create(actor: User, owner: User, provider: str) -> tuple[ExternalAccount, bool]:
    """The owner's account for this application: the existing one (reused=True) or a new one
    (the caller commits)."""
    existing = connected_account(owner, provider)
    if existing is not None:
        return existing, True
    account = ExternalAccount(user_id=owner.id, provider=provider, status=NOT_CONNECTED)
    db.session.add(account)
    db.session.flush()
    audit.record(actor, "external_account.created", target=owner, detail=provider)
    return account, False


def start_connect(
    actor: User, account: ExternalAccount, *, mode: str, return_url: str
) -> OAuthFlow:
    """Start the sign-in for this account; an admin acting for a user hints the user's email."""
    owner = account.user
    return oauth_flow.start(
        actor,
        owner,
        account.provider,
        PURPOSE,
        mode=mode,
        return_url=return_url,
        account_id=account.id,
        login_hint=owner.email if actor.id != owner.id else None,
    )


def check(account: ExternalAccount) -> str:
    """Prove the connection works: ask the provider who the stored token belongs to. Raises
    TokenUnavailable (with needs_reconnect when the user must reauthenticate)."""
    provider = connectors.spec(account.provider)
    token = tokens.access_token_for(account, PURPOSE)
    try:
        return provider.whoami(PURPOSE, token)
    except ProviderError as error:
        if error.status != 401:
            raise tokens.TokenUnavailable(error.message, retry_after=error.retry_after) from error
    try:
        return provider.whoami(PURPOSE, tokens.force_refresh(account, PURPOSE, rejected=token))
    except ProviderError as again:
        if again.status == 401:
            tokens.mark_needs_reconnect(account, again.message)
        raise tokens.TokenUnavailable(again.message, needs_reconnect=again.status == 401) from again


def delete(actor: User, account: ExternalAccount) -> None:
    """Remove the account and its tokens (the caller commits)."""
    audit.record(
        actor,
        "external_account.deleted",
        target=account.user,
        detail=f"{account.provider}: {account.authorized_email or 'not connected'}",
    )
    db.session.delete(account)
    db.session.flush()


def identity_owner(provider: str, tenant_id: str, object_id: str, except_user_id: int):
    """The other CRM user whose External Account holds this provider identity, or None."""
    return db.session.scalar(
        select(User)
        .join(ExternalAccount, ExternalAccount.user_id == User.id)
        .where(
            ExternalAccount.provider == provider,
            ExternalAccount.tenant_id == tenant_id,
            ExternalAccount.object_id == object_id,
            ExternalAccount.user_id != except_user_id,
        )
        .limit(1)
    )


def _flow_account(flow: OAuthFlow) -> ExternalAccount:
    account = db.session.get(ExternalAccount, flow.account_id) if flow.account_id else None
    if account is None or account.user_id != flow.target_user_id:
        raise oauth_flow.FlowError("The external account was deleted meanwhile; nothing stored.")
    return account


def review(flow: OAuthFlow, result: SignIn) -> oauth_flow.Review:
    """Refuse an identity connected to another user's External Account; ask first when acting
    for another user or when another identity signed in than the one connected."""
    account = _flow_account(flow)
    label = connectors.label(account.provider)
    identities.refuse_taken(
        flow,
        result,
        identity_owner(account.provider, result.tenant_id, result.object_id, account.user_id),
        label,
    )
    notes = list(identities.acting_for_notes(flow, result, account.user, f"a {label} account"))
    replacing = account.object_id and (account.tenant_id, account.object_id) != (
        result.tenant_id,
        result.object_id,
    )
    if replacing:
        notes.append(
            f"{account.authorized_name} ({account.authorized_email}) is connected, but "
            f"{result.name} ({result.username}) signed in."
        )
    if not notes:
        return oauth_flow.Review()
    if flow.actor_id != flow.target_user_id:
        return identities.acting_for_review(notes, result, account.user)
    return oauth_flow.Review(
        tuple(notes),
        confirm_label=f"Replace with {result.name or result.username}",
        cancel_label="Keep the connected account",
        heading="Another account signed in",
        cancel_message=f"Kept {account.authorized_email}; nothing was changed.",
    )


def store(flow: OAuthFlow, result: SignIn) -> None:
    """Write the identity and the tokens and mark the flow done, committed under the
    credential's refresh lock (the point: a refresh running now cannot overwrite the new
    grant); record who connected it and for whom."""
    account = _flow_account(flow)
    with tokens.exclusive(account):
        reauth = account.status != NOT_CONNECTED and bool(account.object_id)
        account.record_sign_in(result, flow.actor_id)
        account.updated_at = utcnow()
        tokens.store(account, PURPOSE, result.tokens)
        actor = db.session.get(User, flow.actor_id)
        on_behalf = "" if flow.actor_id == account.user_id else " on behalf of the user"
        audit.record(
            actor,
            "external_account.reauthenticated" if reauth else "external_account.connected",
            target=account.user,
            detail=f"{account.provider}: {account.authorized_email}{on_behalf}",
        )
        label = connectors.label(account.provider)
        oauth_flow.succeed(flow, f"{label} account {account.authorized_email} is connected.")
        db.session.commit()


def init_app(app: Flask) -> None:
    """What a verified OneDrive sign-in does."""
    oauth_flow.register_completion(app, PURPOSE, oauth_flow.Completion(review, store))
