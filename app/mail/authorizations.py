"""A mail account's own authorizations: the sign-in for SMTP and IMAP (purpose "mail", on the
Outlook resource) and for Graph sendMail (purpose "graph_mail"), what a verified sign-in may
store and for whom, and using their tokens with one refresh when a server rejects one."""

from flask import Flask
from sqlalchemy import select

from app.connect import identities, oauth_flow, token_jobs, tokens
from app.connect.models import NOT_CONNECTED, OAuthFlow
from app.connect.provider import SignIn
from app.core import crypto
from app.extensions import db
from app.mail.models import PERSONAL, MailAccount, MailGraphAuthorization
from app.mail.settings import (
    GRAPH_PURPOSE,
    GRAPH_PURPOSES,
    PURPOSE,
    SHARED_GRAPH_PURPOSE,
    MailSettingsError,
    _record,
    _saved,
    graph_purpose,
)
from app.mail.transport import AuthRejected, MailError
from app.microsoft import exchange
from app.users.models import User

NOT_AUTHORIZED = "Not Authorized, please authorize again."
# How every error of a missing or dead authorization begins (NOT_AUTHORIZED, the sync's pause).
NOT_AUTHORIZED_WORDS = "Not Authorized"


def init_app(app: Flask) -> None:
    """What a verified mail sign-in does, and which credentials belong to mail accounts."""
    for purpose in (PURPOSE, *GRAPH_PURPOSES):
        oauth_flow.register_completion(app, purpose, oauth_flow.Completion(review, store))
    token_jobs.register_owner_relation(app, "mail_account")
    token_jobs.register_owner_relation(app, "mail_graph")


def authorization_of(account: MailAccount | None, purpose: str):
    """The authorization a purpose names on the account (the account itself for SMTP/IMAP, its
    Graph authorization for sendMail), or None when there is none."""
    if account is None:
        return None
    return account if purpose == PURPOSE else account.graph_authorization


def start_authorization(
    actor: User, account: MailAccount, purpose: str, *, mode: str, return_url: str
) -> OAuthFlow:
    """Start the pop-up sign-in for this mail account, saving its pre-filled settings first
    (raises FlowError / MailSettingsError); the caller commits."""
    if purpose not in (PURPOSE, *GRAPH_PURPOSES):
        raise MailSettingsError("Unknown authorization.", status=404)
    if not account.uses_oauth:
        raise MailSettingsError("Authorize is for Exchange Online; save that provider first.")
    if purpose in GRAPH_PURPOSES:
        purpose = graph_purpose(account)  # a shared mailbox's needs Mail.Send.Shared too
    account = _saved(account)
    owner = account.user
    hint = account.authorized_email or (owner.email if owner and owner.id != actor.id else None)
    flow = oauth_flow.start(
        actor,
        owner or actor,
        account.provider,
        purpose,
        mode=mode,
        return_url=return_url,
        login_hint=hint,
    )
    flow.mail_account_id = account.id
    db.session.flush()
    return flow


def _flow_account(flow: OAuthFlow) -> MailAccount:
    account = db.session.get(MailAccount, flow.mail_account_id) if flow.mail_account_id else None
    actor = db.session.get(User, flow.actor_id)
    if account is None or actor is None:
        raise oauth_flow.FlowError("The mail account was deleted meanwhile; nothing was stored.")
    allowed = (
        actor.is_admin if account.user_id is None else account.user_id == (flow.target_user_id)
    )
    if not allowed:
        raise oauth_flow.FlowError("This mail account is not yours to authorize.", 403)
    return account


WHAT = {
    PURPOSE: "SMTP and IMAP",
    GRAPH_PURPOSE: "Microsoft Graph",
    SHARED_GRAPH_PURPOSE: "Microsoft Graph (as the shared mailbox)",
}


def personal_identity_owner(tenant_id: str, object_id: str, except_user_id: int) -> User | None:
    """The other CRM user whose personal mail authorization (SMTP/IMAP or Graph) holds this
    Microsoft identity, or None; the system and group mailboxes are nobody's."""
    mailbox = select(User).join(MailAccount, MailAccount.user_id == User.id)
    personal = (MailAccount.role == PERSONAL, MailAccount.user_id != except_user_id)
    direct = mailbox.where(
        *personal, MailAccount.tenant_id == tenant_id, MailAccount.object_id == object_id
    )
    graph = mailbox.join(
        MailGraphAuthorization, MailGraphAuthorization.mail_account_id == MailAccount.id
    ).where(
        *personal,
        MailGraphAuthorization.tenant_id == tenant_id,
        MailGraphAuthorization.object_id == object_id,
    )
    return db.session.scalar(direct.limit(1)) or db.session.scalar(graph.limit(1))


def review(flow: OAuthFlow, result: SignIn) -> oauth_flow.Review:
    """Refuse an identity authorized for another user's own mailbox; ask first when acting for
    another user."""
    account = _flow_account(flow)
    if account.role == PERSONAL:
        owner = personal_identity_owner(result.tenant_id, result.object_id, account.user_id)
        identities.refuse_taken(flow, result, owner, "Microsoft")
    what = f"email ({WHAT[flow.purpose]})"
    notes = identities.acting_for_notes(flow, result, account.user, what)
    if not notes:
        return oauth_flow.Review()
    return identities.acting_for_review(notes, result, account.user)


def store(flow: OAuthFlow, result: SignIn) -> None:
    """The verified sign-in becomes the mail account's own authorization: SMTP/IMAP tokens on
    the account, Graph sendMail tokens on its Graph authorization; the flow is marked done in
    the same commit, under the authorization's refresh lock (the point: a refresh running now
    cannot overwrite the new grant)."""
    account = _flow_account(flow)
    if flow.purpose in GRAPH_PURPOSES:
        owner = account.graph_authorization or MailGraphAuthorization(
            provider=account.provider, status=NOT_CONNECTED
        )
        account.graph_authorization = owner
    else:
        owner = account
    with tokens.exclusive(owner):
        previous = owner.record_sign_in(result, flow.actor_id)
        tokens.store(owner, flow.purpose, result.tokens)
        if owner is account:
            _forget_authorization_error(account)
        email, what = owner.authorized_email, WHAT[flow.purpose]
        actor = db.session.get(User, flow.actor_id)
        changed = f" (was {previous})" if previous and previous != email else ""
        on_behalf = " on behalf of the user" if account.user_id not in (None, flow.actor_id) else ""
        _record(actor, account, "mail.authorized", f"{what}: {email}{changed}{on_behalf}")
        oauth_flow.succeed(flow, f"Authorized {email} for {what}.")
        db.session.commit()  # the point: the grant is stored under the lock, which ends here


def _forget_authorization_error(account: MailAccount) -> None:
    """A mailbox authorized again is no longer paused: the last sync's error, when it was the
    missing authorization's (the pause, or a run that found it Not Authorized), goes; any other
    error stays, and the next run records its own outcome."""
    if account.last_sync_error.startswith(NOT_AUTHORIZED_WORDS):
        account.last_sync_error = ""


def stored_password(account: MailAccount) -> str:
    """The Other account's password in clear; one no configured key opens is a MailError that
    says to enter it again (never a 500)."""
    try:
        return crypto.decrypt(account.password_encrypted)
    except crypto.DecryptionError as error:
        raise MailError(
            "The stored password of this mail account can no longer be read (the encryption "
            "keys changed). Enter it again in the mail settings."
        ) from error


def with_token(owner, purpose: str, attempt, *, mailbox: str = ""):
    """Run `attempt(access_token)`; when the server rejects the token, refresh once and try
    again; a second rejection marks the authorization Not Authorized. With `mailbox`, another
    mailbox than the signed-in person's (a shared one, reached with a delegate's token), a
    rejection of the just-refreshed token is Exchange refusing that mailbox to this person: it
    is explained in words, and the authorization, which works, stays as it is."""
    if owner is None:
        raise MailError(NOT_AUTHORIZED)
    delegated = bool(mailbox) and mailbox.lower() != (owner.authorized_email or "").lower()
    try:
        token = tokens.access_token_for(owner, purpose)
        try:
            return attempt(token)
        except AuthRejected:
            token = tokens.force_refresh(owner, purpose, rejected=token)
        try:
            return attempt(token)
        except AuthRejected as error:
            if delegated:
                who = owner.authorized_name or owner.authorized_email
                words = exchange.shared_mailbox_refused(mailbox, who, error.reply)
                raise MailError(words) from error
            tokens.mark_needs_reconnect(owner, error.message)
            raise MailError(f"{NOT_AUTHORIZED} ({error.message})") from error
    except tokens.TokenUnavailable as error:
        if error.needs_reconnect:
            raise MailError(NOT_AUTHORIZED) from error
        raise MailError(error.message, transient=True) from error
