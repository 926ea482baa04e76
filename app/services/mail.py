"""Email accounts, their own authorizations and sending.

A mail account is authorized on its own (purpose "mail": SMTP.Send + IMAP on the Outlook
resource; purpose "graph_mail": Mail.Send on Graph when it sends via Microsoft Graph), never
through External Accounts, and its tokens serve only those purposes. Every message is stored
with status Sending before the server is contacted, then marked Sent or Failed with the reason:
a failure never loses it, and it can be retried."""

import logging
from dataclasses import dataclass
from datetime import timedelta
from email.errors import MessageError
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid, parseaddr

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models import MailAccount, MailGraphAuthorization, MailMessage, OAuthFlow, User
from app.models.base import utcnow
from app.models.external_account import CONNECTED, NEEDS_RECONNECT, NOT_CONNECTED
from app.models.mail import (
    EXCHANGE_ONLINE,
    FAILED,
    GROUP,
    OTHER,
    OUTBOUND,
    PERSONAL,
    SEND_GRAPH,
    SEND_SMTP,
    SENDING,
    SENT,
    SYSTEM,
)
from app.services import (
    audit,
    crypto,
    identities,
    keys,
    mail_hosts,
    microsoft,
    oauth_flow,
    token_jobs,
    tokens,
)
from app.services.mail_protocols import (
    AuthRejected,
    MailError,
    Server,
    security_problem,
    smtp_oauth,
    smtp_password,
    smtp_send,
)

log = logging.getLogger(__name__)
PURPOSE = "mail"  # SMTP.Send + IMAP.AccessAsUser.All on the Outlook resource
GRAPH_PURPOSE = "graph_mail"  # Mail.Send on Graph
NOT_AUTHORIZED = "Not Authorized, please authorize again."
STALE_SENDING = timedelta(minutes=5)
ROLE_LABELS = {PERSONAL: "Email Settings", SYSTEM: "System Email Settings", GROUP: "Inbound Email"}


class MailSettingsError(Exception):
    """A setting or an input is wrong; `field` names the form field, if any."""

    def __init__(self, message: str, field: str | None = None, status: int = 400):
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status


# --- accounts and settings ---------------------------------------------------------------------


def _slot(role: str, user: User | None) -> str:
    return f"user-{user.id}" if role == PERSONAL else role


def account_for(role: str, user: User | None = None) -> MailAccount | None:
    """The stored mail account of a role (a user's own, the system's or the group mailbox)."""
    return db.session.scalar(select(MailAccount).where(MailAccount.slot == _slot(role, user)))


def _server_default(setting: str, fallback: tuple[str, int, str]) -> tuple[str, int, str]:
    value = current_app.config.get(setting) or ""
    host, _, rest = value.partition(":")
    port, _, security = rest.partition(":")
    return (host, int(port), security) if host and port.isdigit() and security else fallback


def new_account(role: str, user: User | None = None) -> MailAccount:
    """An unsaved account pre-filled for Exchange Online (servers editable)."""
    exchange_smtp, exchange_imap = microsoft.exchange_servers()
    smtp = _server_default("MAIL_DEFAULT_SMTP", exchange_smtp)
    imap = _server_default("MAIL_DEFAULT_IMAP", exchange_imap)
    return MailAccount(
        slot=_slot(role, user),
        role=role,
        user_id=user.id if user else None,
        user=user,
        provider=microsoft.PROVIDER,
        email_provider=EXCHANGE_ONLINE,
        from_name=user.full_name if user else "",
        smtp_host=smtp[0],
        smtp_port=smtp[1],
        smtp_security=smtp[2],
        send_via=SEND_SMTP,
        imap_host=imap[0],
        imap_port=imap[1],
        imap_security=imap[2],
        imap_folder="INBOX",
        status=NOT_CONNECTED,
        allow_user_fallback=False,
        sync_last_uid=0,
    )


def account_or_new(role: str, user: User | None = None) -> MailAccount:
    """The stored account, or a pre-filled unsaved one for the form."""
    return account_for(role, user) or new_account(role, user)


def _saved(account: MailAccount) -> MailAccount:
    if account.id is None:
        db.session.add(account)
        db.session.flush()
    return account


def _check_server(host: str, port: int, security: str, field: str) -> str:
    host = (host or "").strip().lower()
    if not host or len(host) > 253 or any(c.isspace() or c in "/:@" for c in host):
        raise MailSettingsError("Enter the server's host name, like smtp.office365.com.", field)
    if not 1 <= int(port or 0) <= 65535:
        raise MailSettingsError("The port is a number from 1 to 65535.", field)
    problem = security_problem(host, security)
    if problem:
        raise MailSettingsError(problem, field)
    return host


def _check_destination(host: str, port: int, exchange: bool, prefix: str) -> None:
    """Refuse a host or port a mail account may not use (field `{prefix}_host`/`_port`)."""
    try:
        mail_hosts.destination(
            host, port, exchange=exchange, timeout=current_app.config["MAIL_TIMEOUT"]
        )
    except mail_hosts.HostRefused as error:
        raise MailSettingsError(error.message, f"{prefix}_{error.field}") from error


def _holds_mail_authorization(account: MailAccount) -> bool:
    return account.id is not None and (
        account.credential is not None or bool(account.authorized_email)
    )


def _check_sender(settings: "OutboundSettings", other: bool) -> None:
    """From Name is one header line; an Other account's username is its sender address."""
    if any(c in settings.from_name for c in "\r\n"):
        raise MailSettingsError("The From Name must be one line, without line breaks.", "from_name")
    if not other:
        return
    username = settings.username.strip()
    if not username:
        raise MailSettingsError("Enter the username of the SMTP account.", "username")
    try:
        validate_email(username, check_deliverability=False)
    except EmailNotValidError as error:
        raise MailSettingsError(
            "Enter the username as an email address, like name@example.com: it is the sender.",
            "username",
        ) from error


@dataclass
class OutboundSettings:
    """What Email Settings' outbound form says."""

    email_provider: str
    from_name: str
    smtp_host: str
    smtp_port: int
    smtp_security: str
    username: str = ""
    password: str = ""
    send_via: str = SEND_SMTP
    allow_user_fallback: bool = False


def save_outbound(actor: User, account: MailAccount, settings: OutboundSettings) -> str:
    """Store the outbound settings (a blank password keeps the stored one); audited. Another
    SMTP server, or leaving Exchange Online, removes the stored Exchange Online authorization
    (its token never follows the settings elsewhere): the returned notice says so, else ""."""
    host = _check_server(
        settings.smtp_host, settings.smtp_port, settings.smtp_security, "smtp_host"
    )
    other = settings.email_provider == OTHER
    _check_sender(settings, other)
    if other and not (settings.password or account.password_encrypted):
        raise MailSettingsError("Enter the password of the SMTP account.", "password")
    _check_destination(host, int(settings.smtp_port), not other, "smtp")
    notice = ""
    if _holds_mail_authorization(account) and (other or host != account.smtp_host.lower()):
        why = "the Email Provider changed to Other" if other else f"the SMTP server is now {host}"
        notice = _drop_authorization(actor, account, why)
    account = _saved(account)
    account.email_provider = OTHER if other else EXCHANGE_ONLINE
    account.from_name = settings.from_name.strip()[:200]
    account.smtp_host, account.smtp_port = host, int(settings.smtp_port)
    account.smtp_security = settings.smtp_security
    account.send_via = SEND_GRAPH if settings.send_via == SEND_GRAPH and not other else SEND_SMTP
    account.username = settings.username.strip()[:254] if other else account.username
    if other and settings.password:
        account.password_encrypted = crypto.encrypt(settings.password)
    if account.role == SYSTEM:
        account.allow_user_fallback = bool(settings.allow_user_fallback)
    _record(actor, account, "mail.settings_saved", f"outbound: {account.smtp_host}")
    db.session.commit()
    return notice


@dataclass
class InboundSettings:
    """What the inbound (IMAP) form says."""

    imap_host: str
    imap_port: int
    imap_security: str
    imap_folder: str
    import_enabled: bool = False


def import_by_default(account: MailAccount) -> bool:
    """Whether the inbound form starts with Import into Emails on: only for a group mailbox
    not saved yet (importing is its purpose); a person's mailbox is imported only on request."""
    return account.id is None and account.role == GROUP


def save_inbound(actor: User, account: MailAccount, settings: InboundSettings) -> str:
    """Store the IMAP settings and whether to import; another server or folder starts the
    import state afresh, and another server removes the stored Exchange Online authorization
    (the returned notice says so, else "")."""
    host = _check_server(
        settings.imap_host, settings.imap_port, settings.imap_security, "imap_host"
    )
    folder = (settings.imap_folder or "").strip() or "INBOX"
    if len(folder) > 200 or any(ord(c) < 32 for c in folder) or '"' in folder:
        raise MailSettingsError("Enter a folder name like INBOX.", "imap_folder")
    _check_destination(host, int(settings.imap_port), account.uses_oauth, "imap")
    notice = ""
    if _holds_mail_authorization(account) and host != account.imap_host.lower():
        notice = _drop_authorization(actor, account, f"the IMAP server is now {host}")
    account = _saved(account)
    moved = (host, int(settings.imap_port), folder) != (
        account.imap_host,
        account.imap_port,
        account.imap_folder,
    )
    account.imap_host, account.imap_port = host, int(settings.imap_port)
    account.imap_security, account.imap_folder = settings.imap_security, folder
    if moved:
        account.sync_folder, account.sync_uidvalidity, account.sync_last_uid = "", None, 0
    account.import_enabled = bool(settings.import_enabled)
    turned = "on" if account.import_enabled else "off"
    _record(actor, account, "mail.settings_saved", f"inbound: {host} {folder}, import {turned}")
    db.session.commit()
    return notice


def _record(actor: User | None, account: MailAccount, action: str, detail: str) -> None:
    audit.record(actor, action, target=account.user, detail=f"{account.role}: {detail}")


# --- authorization (its own flow purposes, never External Accounts) ----------------------------


def start_authorization(
    actor: User, account: MailAccount, purpose: str, *, mode: str, return_url: str
) -> OAuthFlow:
    """Start the pop-up sign-in for this mail account (raises FlowError / MailSettingsError)."""
    if purpose not in (PURPOSE, GRAPH_PURPOSE):
        raise MailSettingsError("Unknown authorization.", status=404)
    if not account.uses_oauth:
        raise MailSettingsError("Authorize is for Exchange Online; save that provider first.")
    account = _saved(account)
    db.session.commit()
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
    db.session.commit()
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


WHAT = {PURPOSE: "SMTP and IMAP", GRAPH_PURPOSE: "Microsoft Graph"}


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


def review(flow: OAuthFlow, result: oauth_flow.SignInResult) -> oauth_flow.Review:
    """Refuse an identity authorized for another user's own mailbox; ask first when acting for
    another user."""
    account = _flow_account(flow)
    if account.role == PERSONAL:
        owner = personal_identity_owner(
            str(result.claims["tid"]), str(result.claims["oid"]), account.user_id
        )
        identities.refuse_taken(flow, result, owner, "Microsoft")
    what = f"email ({WHAT[flow.purpose]})"
    notes = identities.acting_for_notes(flow, result, account.user, what)
    if not notes:
        return oauth_flow.Review()
    return identities.acting_for_review(notes, result, account.user)


def _apply_identity(owner, flow: OAuthFlow, result: oauth_flow.SignInResult) -> str:
    claims = result.claims
    previous = owner.authorized_email
    owner.tenant_id, owner.object_id = str(claims["tid"]), str(claims["oid"])
    owner.authorized_email, owner.authorized_name = result.username[:254], result.name[:200]
    owner.status, owner.status_reason = CONNECTED, ""
    owner.authorized_at, owner.authorized_by_id = utcnow(), flow.actor_id
    return previous


def store(flow: OAuthFlow, result: oauth_flow.SignInResult) -> str:
    """The verified sign-in becomes the mail account's own authorization: SMTP/IMAP tokens on
    the account, Graph sendMail tokens on its Graph authorization (under their refresh lock)."""
    account = _flow_account(flow)
    if flow.purpose == GRAPH_PURPOSE:
        owner = account.graph_authorization or MailGraphAuthorization(
            provider=account.provider, status=NOT_CONNECTED
        )
        account.graph_authorization = owner
    else:
        owner = account
    with tokens.exclusive(owner):
        previous = _apply_identity(owner, flow, result)
        tokens.store(owner, flow.purpose, result.tokens)
        email, what = owner.authorized_email, WHAT[flow.purpose]
        actor = db.session.get(User, flow.actor_id)
        changed = f" (was {previous})" if previous and previous != email else ""
        on_behalf = " on behalf of the user" if account.user_id not in (None, flow.actor_id) else ""
        _record(actor, account, "mail.authorized", f"{what}: {email}{changed}{on_behalf}")
        db.session.commit()
    return f"Authorized {email} for {what}."


def deauthorize(actor: User, account: MailAccount, purpose: str, reason: str = "") -> None:
    """Forget an authorization: its tokens and the identity that signed in."""
    owner = account if purpose == PURPOSE else account.graph_authorization
    if owner is None:
        return
    email = owner.authorized_email
    owner.credential = None
    owner.status, owner.status_reason, owner.authorized_email = NOT_CONNECTED, "", ""
    owner.authorized_name, owner.tenant_id, owner.object_id = "", "", ""
    why = f" ({reason})" if reason else ""
    _record(actor, account, "mail.deauthorized", f"{purpose}: {email}{why}")
    db.session.commit()


def _drop_authorization(actor: User, account: MailAccount, why: str) -> str:
    """Settings that would send the Exchange Online token elsewhere remove its authorization
    (tokens deleted, audited with why) before they are stored; the notice for the user."""
    deauthorize(actor, account, PURPOSE, reason=why)
    return (
        f"The Exchange Online authorization was removed and its tokens deleted because {why}. "
        "Authorize again to send and import through the new settings."
    )


oauth_flow.register_completion(PURPOSE, oauth_flow.Completion(review, store))
oauth_flow.register_completion(GRAPH_PURPOSE, oauth_flow.Completion(review, store))
token_jobs.register_owner_relation("mail_account")
token_jobs.register_owner_relation("mail_graph")
keys.register_encrypted(MailAccount, "password_encrypted")


# --- tokens with one refresh after a rejection -------------------------------------------------


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


def with_token(owner, purpose: str, attempt):
    """Run `attempt(access_token)`; when the server rejects the token, refresh once and try
    again; a second rejection marks the authorization Not Authorized."""
    if owner is None:
        raise MailError(NOT_AUTHORIZED)
    try:
        token = tokens.access_token_for(owner, purpose)
        try:
            return attempt(token)
        except AuthRejected:
            token = tokens.force_refresh(owner, purpose, rejected=token)
        try:
            return attempt(token)
        except AuthRejected as error:
            tokens.mark_needs_reconnect(owner, error.message)
            raise MailError(f"{NOT_AUTHORIZED} ({error.message})") from error
    except tokens.TokenUnavailable as error:
        if error.needs_reconnect:
            raise MailError(NOT_AUTHORIZED) from error
        raise MailError(error.message, transient=True) from error


# --- sending -----------------------------------------------------------------------------------


def parse_addresses(value: str, field: str, required: bool = False) -> list[str]:
    """Comma- or semicolon-separated addresses (`Name <address>` allowed), each validated.

    Names may be quoted and hold commas or semicolons (`"Smith, John" <john@example.com>`).
    Only the addresses are kept.
    """
    value = value or ""
    if any(c in value for c in "\r\n"):
        raise MailSettingsError("Addresses may not contain line breaks.", field)
    addresses = []
    for part in split_recipients(value):
        _name, address = parseaddr(part)
        try:
            addresses.append(validate_email(address, check_deliverability=False).normalized)
        except EmailNotValidError as error:
            raise MailSettingsError(f"“{part}” is not a valid email address.", field) from error
    if required and not addresses:
        raise MailSettingsError("Enter at least one recipient.", field)
    if len(addresses) > 100:
        raise MailSettingsError("At most 100 recipients per message.", field)
    return addresses


def split_recipients(value: str) -> list[str]:
    """The entries of a recipient list, split at commas and semicolons outside quotes."""
    parts, current, quoted, escaped = [], [], False, False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char in ",;" and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [part.strip() for part in parts if part.strip()]


def sending_problem(account: MailAccount | None) -> str | None:
    """Why the account cannot send now, in words that say what to do; None when it can."""
    if account is None or account.id is None:
        return "Save the outbound settings first."
    if not account.uses_oauth:
        if not account.username:
            return "Enter the username of the SMTP account and save."
        return None if account.password_encrypted else "Enter the SMTP password and save."
    if account.sends_via_graph:
        graph = account.graph_authorization
        if graph is None or not graph.is_authorized:
            return (
                "Send via Microsoft Graph is Not Authorized: press Authorize under Microsoft "
                "Graph authorization first."
            )
    elif not account.is_authorized:
        return "Exchange Online is Not Authorized: press Authorize on this page first."
    if not account.sender_address:
        return "There is no sender address yet: authorize the mailbox first."
    return None


def is_usable(account: MailAccount | None) -> bool:
    """The account can send now (settings saved and, for Exchange Online, authorized)."""
    return sending_problem(account) is None


def sending_account(user: User) -> MailAccount:
    """The user's own account, or the system one when the user has none and it is allowed."""
    own = account_for(PERSONAL, user)
    if is_usable(own):
        return own
    system = account_for(SYSTEM)
    if system is not None and system.allow_user_fallback and is_usable(system):
        return system
    if own is not None and own.uses_oauth:
        raise MailSettingsError(
            "Your email account is Not Authorized, please authorize it in Emails > Email Settings.",
            status=409,
        )
    raise MailSettingsError(
        "You have no email account yet. Set one up in Emails > Email Settings.", status=409
    )


def compose(
    actor: User, account: MailAccount, *, to: str, cc: str, subject: str, body: str
) -> MailMessage:
    """Store the message (status Sending), then send it; it is kept whatever happens."""
    recipients = parse_addresses(to, "to", required=True)
    copies = parse_addresses(cc, "cc")
    subject = (subject or "").strip()
    if any(c in subject for c in "\r\n") or len(subject) > 998:
        raise MailSettingsError(
            "The subject must be one line of at most 998 characters.", "subject"
        )
    message = MailMessage(
        account_id=account.id,
        user_id=actor.id,
        direction=OUTBOUND,
        status=SENDING,
        from_address=_from_header(account),
        to_addresses=", ".join(recipients),
        cc_addresses=", ".join(copies),
        subject=subject,
        body_text=(body or "").replace("\x00", ""),
        attempts=0,
    )
    db.session.add(message)
    db.session.commit()
    deliver(message)
    return message


def send_test(actor: User, account: MailAccount) -> MailMessage:
    """Send Test Email to the account's own address (stored like any other message); an
    account that cannot send is refused up front, and nothing is stored."""
    problem = sending_problem(account)
    if problem:
        raise MailSettingsError(f"Send Test Email cannot send yet. {problem}", status=409)
    address = account.sender_address or actor.email
    return compose(
        actor,
        account,
        to=address,
        cc="",
        subject="Test email from the CRM",
        body=f"This test email was sent by the CRM through {_route(account)}.\n",
    )


def _route(account: MailAccount) -> str:
    if account.sends_via_graph:
        return "Microsoft Graph"
    return f"{account.smtp_host}:{account.smtp_port}"


def can_retry(message: MailMessage) -> bool:
    """Failed messages, and messages stuck in Sending (the sender died), can be sent again."""
    if message.direction != OUTBOUND:
        return False
    stale = message.updated_at is not None and message.updated_at < utcnow() - STALE_SENDING
    return message.status == FAILED or (message.status == SENDING and stale)


def retry(actor: User, message: MailMessage) -> MailMessage:
    """Send a failed message again through its account (or the sender's current one)."""
    if not can_retry(message):
        raise MailSettingsError("Only a failed message can be sent again.", status=409)
    account = _retry_account(actor, message)
    message.account_id, message.from_address = account.id, _from_header(account)
    message.status, message.status_reason = SENDING, ""
    db.session.commit()
    deliver(message)
    return message


def _retry_account(actor: User, message: MailMessage) -> MailAccount:
    """The message's account, unless it is the system account and users may no longer send
    through it (as it is set now; admins still may): then the sender's own usable account."""
    account = message.account
    if account is None:
        return sending_account(actor)
    if account.role != SYSTEM or account.allow_user_fallback or actor.is_admin:
        return account
    own = account_for(PERSONAL, actor)
    if is_usable(own):
        return own
    raise MailSettingsError(
        "Users may no longer send through the system email account. Set up your own account "
        "in Emails > Email Settings, then send the message again.",
        status=409,
    )


def _from_header(account: MailAccount) -> str:
    return (
        formataddr((account.from_name, account.sender_address))
        if account.from_name
        else (account.sender_address)
    )


def deliver(message: MailMessage) -> None:
    """Send a stored message now and record Sent, or Failed with the reason in words."""
    account = message.account
    message.attempts = (message.attempts or 0) + 1
    db.session.commit()
    try:
        if account is None:
            raise MailError("The mail account of this message was deleted.")
        _transmit(account, message)
    except (MailError, MailSettingsError) as error:
        _mark(message, FAILED, error.message)
    except Exception:
        log.exception("Sending message %s failed unexpectedly", message.id)
        _mark(message, FAILED, "Sending failed unexpectedly; the message is kept. Try again.")
        raise
    else:
        _mark(message, SENT, "")


def _mark(message: MailMessage, status: str, reason: str) -> None:
    db.session.rollback()  # drop whatever a failed step left half-done; the row stays
    message = db.session.get(MailMessage, message.id)
    message.status, message.status_reason = status, reason[:2000]
    message.sent_via = message.account.send_via if message.account and status == SENT else ""
    if status == SENT:
        message.sent_at = utcnow()
    db.session.commit()


def _raw(account: MailAccount, message: MailMessage) -> bytes:
    """The message as bytes; a stored header that cannot be sent (a From Name with a line
    break, saved before that was refused) fails the message in words instead of crashing."""
    try:
        return _mime(account, message).as_bytes()
    except (ValueError, TypeError, UnicodeError, MessageError) as error:
        raise MailError(
            f"The message could not be built: {error}. Check the From Name and the sender "
            "address in Email Settings, then send it again."
        ) from error


def _mime(account: MailAccount, message: MailMessage) -> EmailMessage:
    mime = EmailMessage()
    mime["From"] = message.from_address
    mime["To"] = message.to_addresses
    if message.cc_addresses:
        mime["Cc"] = message.cc_addresses
    mime["Subject"] = message.subject
    mime["Date"] = format_datetime(utcnow())
    domain = account.sender_address.rpartition("@")[2] or "crm.invalid"
    message.message_id_header = message.message_id_header or make_msgid(domain=domain)
    mime["Message-ID"] = message.message_id_header
    mime.set_content(message.body_text)
    return mime


def _recipients(message: MailMessage) -> list[str]:
    return [a for a in (message.to_addresses + "," + message.cc_addresses).split(",") if a.strip()]


def smtp_server(account: MailAccount) -> Server:
    """The account's SMTP server with the configured timeout, checked against the host rules
    now (mail_hosts; raises HostRefused, a MailError, when it may not be used)."""
    timeout = current_app.config["MAIL_TIMEOUT"]
    addresses = mail_hosts.destination(
        account.smtp_host, account.smtp_port, exchange=account.uses_oauth, timeout=timeout
    )
    return Server(
        account.smtp_host,
        account.smtp_port,
        account.smtp_security,
        timeout,
        current_app.config["MAIL_CA_FILE"],
        addresses,
    )


def _transmit(account: MailAccount, message: MailMessage) -> None:
    if account.sends_via_graph:
        _send_graph(account, message)
        return
    server = smtp_server(account)
    problem = security_problem(server.host, server.security)
    if problem:
        raise MailError(problem)
    raw = _raw(account, message)
    sender = account.sender_address
    db.session.commit()
    if not account.uses_oauth:
        login = smtp_password(account.username, stored_password(account))
        smtp_send(server, login, sender, _recipients(message), raw)
        return
    if not account.authorized_email:
        raise MailError(NOT_AUTHORIZED)
    with_token(
        account,
        PURPOSE,
        lambda token: smtp_send(
            server, smtp_oauth(sender, token), sender, _recipients(message), raw
        ),
    )


def _send_graph(account: MailAccount, message: MailMessage) -> None:
    body = microsoft.graph_message(
        subject=message.subject,
        body=message.body_text,
        to=[a for a in message.to_addresses.split(", ") if a],
        cc=[a for a in message.cc_addresses.split(", ") if a],
    )

    def attempt(token: str) -> None:
        try:
            microsoft.graph_send_mail(token, body)
        except microsoft.MicrosoftError as error:
            if error.status == 401:
                raise AuthRejected(f"HTTP 401 {error.message}") from error
            raise MailError(error.message, transient=error.transient) from error

    with_token(account.graph_authorization, GRAPH_PURPOSE, attempt)


# --- lists -------------------------------------------------------------------------------------


def messages_for(user: User, folder: str, page: int, per_page: int):
    """One page of the Emails list: the user's own messages, or the group mailbox's."""
    statement = (
        select(MailMessage)
        .options(selectinload(MailMessage.attachments))
        .order_by(MailMessage.created_at.desc(), MailMessage.id.desc())
    )
    if folder == "group":
        statement = statement.join(MailAccount, MailMessage.account_id == MailAccount.id).where(
            MailAccount.role == GROUP
        )
    else:
        statement = statement.where(MailMessage.user_id == user.id)
    return db.paginate(statement, page=page, per_page=per_page, error_out=False)


def message_for(user: User, message_id: int) -> MailMessage | None:
    """A message the user may open: their own, or the group mailbox's."""
    message = db.session.get(MailMessage, message_id)
    if message is None:
        return None
    if message.user_id == user.id:
        return message
    if message.account is not None and message.account.role == GROUP:
        return message
    return None


def needs_reconnect(owner) -> bool:
    """Authorized once, but Microsoft or the mail server no longer accepts it."""
    return owner is not None and owner.status == NEEDS_RECONNECT
