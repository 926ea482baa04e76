"""Connect and disconnect rules for External Accounts: one account per user per application,
tokens stored for the account's owner (even when an admin signs in for them), identity by the
provider's (tenant, object) ids, never by name or email."""

from sqlalchemy import select

from app.extensions import db
from app.models import ExternalAccount, OAuthFlow, User
from app.models.base import utcnow
from app.models.external_account import CONNECTED, NEEDS_RECONNECT, NOT_CONNECTED
from app.services import audit, connectors, oauth_flow, tokens

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


def needing_reconnect(user: User) -> list[ExternalAccount]:
    """The user's accounts Microsoft stopped accepting (for the banner)."""
    return list(
        db.session.scalars(
            select(ExternalAccount).where(
                ExternalAccount.user_id == user.id, ExternalAccount.status == NEEDS_RECONNECT
            )
        )
    )


def create(actor: User, owner: User, provider: str) -> tuple[ExternalAccount, bool]:
    """The owner's account for this application: the existing one (reused=True) or a new one."""
    existing = connected_account(owner, provider)
    if existing is not None:
        return existing, True
    account = ExternalAccount(user_id=owner.id, provider=provider, status=NOT_CONNECTED)
    db.session.add(account)
    db.session.flush()
    audit.record(actor, "external_account.created", target=owner, detail=provider)
    db.session.commit()
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
    """Prove the connection works: ask Microsoft who the stored token belongs to. Raises
    TokenUnavailable (with needs_reconnect when the user must reauthenticate)."""
    module = connectors.REGISTRY[account.provider].module
    token = tokens.access_token_for(account, PURPOSE)
    try:
        me = module.graph_me(token)
    except module.MicrosoftError as error:
        if error.status != 401:
            raise tokens.TokenUnavailable(error.message, retry_after=error.retry_after) from error
        try:
            me = module.graph_me(tokens.force_refresh(account, PURPOSE, rejected=token))
        except module.MicrosoftError as again:
            if again.status == 401:
                tokens.mark_needs_reconnect(account, again.message)
            raise tokens.TokenUnavailable(
                again.message, needs_reconnect=again.status == 401
            ) from again
    return (
        f"The connection works: signed in as {me.get('displayName', '')} "
        f"({me.get('userPrincipalName') or me.get('mail') or ''})."
    )


def delete(actor: User, account: ExternalAccount) -> None:
    """Remove the account and its tokens."""
    audit.record(
        actor,
        "external_account.deleted",
        target=account.user,
        detail=f"{account.provider}: {account.username or 'not connected'}",
    )
    db.session.delete(account)
    db.session.commit()


def _same_identity(account: ExternalAccount, claims: dict) -> bool:
    return not account.object_id or (
        account.tenant_id == claims["tid"] and account.object_id == claims["oid"]
    )


def complete(flow: OAuthFlow, result: oauth_flow.SignInResult) -> None:
    """Store a verified sign-in on the flow's account, or hold it when another account
    signed in than the one connected (the user decides)."""
    account = db.session.get(ExternalAccount, flow.account_id) if flow.account_id else None
    if account is None or account.user_id != flow.target_user_id:
        raise oauth_flow.FlowError("The external account was deleted meanwhile; nothing stored.")
    claims = result.claims
    if not _same_identity(account, claims):
        oauth_flow.hold_for_confirmation(
            flow,
            result,
            f"{account.display_name} ({account.username}) is connected, but "
            f"{claims.get('name', '')} ({claims.get('preferred_username', '')}) signed in.",
        )
        db.session.commit()
        return
    apply(flow, account, result)


def apply(flow: OAuthFlow, account: ExternalAccount, result: oauth_flow.SignInResult) -> None:
    """Write the identity and the tokens; record who connected it and for whom; commit."""
    claims = result.claims
    reauth = account.status != NOT_CONNECTED and bool(account.object_id)
    account.tenant_id, account.object_id = str(claims["tid"]), str(claims["oid"])
    account.display_name = str(claims.get("name", ""))[:200]
    account.username = str(claims.get("preferred_username") or claims.get("email") or "")[:254]
    account.status, account.status_reason = CONNECTED, ""
    account.connected_at = utcnow()
    account.connected_by_id = flow.actor_id
    account.updated_at = utcnow()
    tokens.store(account, PURPOSE, result.tokens)
    actor = db.session.get(User, flow.actor_id)
    on_behalf = "" if flow.actor_id == account.user_id else " on behalf of the user"
    audit.record(
        actor,
        "external_account.reauthenticated" if reauth else "external_account.connected",
        target=account.user,
        detail=f"{account.provider}: {account.username}{on_behalf}",
    )
    label = connectors.REGISTRY[account.provider].label
    oauth_flow.succeed(flow, f"{label} account {account.username} is connected.")
    db.session.commit()


def confirm_replacement(user: User, flow: OAuthFlow, replace: bool) -> str:
    """The user decided about a different account: replace the connected one, or keep it."""
    account = db.session.get(ExternalAccount, flow.account_id) if flow.account_id else None
    result = oauth_flow.take_pending_result(flow)
    if account is None or result is None:
        raise oauth_flow.FlowError("This choice expired. Please reauthenticate again.")
    if not replace:
        oauth_flow.decline(flow, f"Kept {account.username}; nothing was changed.")
        return flow.message
    account.object_id = ""  # the user chose the new identity
    apply(flow, account, result)
    return flow.message


oauth_flow.register_completion(PURPOSE, complete)
