"""Email accounts and their settings: a user's own mailbox, the system's outbound account and
the group mailbox; outbound (SMTP or Graph) and inbound (IMAP) settings, checked before they are
stored; removing an authorization.

A mail account is authorized on its own (see `authorizations`), never through External
Accounts; settings that would send its token elsewhere remove the authorization first. These
functions flush; the view that called them commits."""

from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import select

from app.connect.models import NOT_CONNECTED
from app.core import crypto
from app.extensions import db
from app.mail import hosts as mail_hosts
from app.mail.models import (
    EXCHANGE_ONLINE,
    GROUP,
    OTHER,
    PERSONAL,
    SEND_GRAPH,
    SEND_SMTP,
    SYSTEM,
    MailAccount,
)
from app.mail.transport import security_problem
from app.microsoft import exchange, identity
from app.users import audit
from app.users.models import User

PURPOSE = "mail"  # SMTP.Send + IMAP.AccessAsUser.All on the Outlook resource
GRAPH_PURPOSE = "graph_mail"  # Mail.Send on Graph
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
    exchange_smtp, exchange_imap = exchange.exchange_servers()
    smtp = _server_default("MAIL_DEFAULT_SMTP", exchange_smtp)
    imap = _server_default("MAIL_DEFAULT_IMAP", exchange_imap)
    return MailAccount(
        slot=_slot(role, user),
        role=role,
        user_id=user.id if user else None,
        user=user,
        provider=identity.NAME,
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
    db.session.flush()
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
    names = [name.strip() for name in (settings.imap_folder or "").split(",")]
    folder = ", ".join(dict.fromkeys(name for name in names if name)) or "INBOX"
    if len(folder) > 200 or any(ord(c) < 32 for c in folder) or '"' in folder:
        raise MailSettingsError(
            "Enter folder names like INBOX, separated by commas.", "imap_folder"
        )
    _check_destination(host, int(settings.imap_port), account.uses_oauth, "imap")
    notice = ""
    if _holds_mail_authorization(account) and host != account.imap_host.lower():
        notice = _drop_authorization(actor, account, f"the IMAP server is now {host}")
    account = _saved(account)
    moved = (host, int(settings.imap_port)) != (account.imap_host, account.imap_port)
    account.imap_host, account.imap_port = host, int(settings.imap_port)
    account.imap_security, account.imap_folder = settings.imap_security, folder
    listed = {name.strip() for name in folder.split(",")}
    for state in list(account.sync_states):  # another server, or a folder no longer listed,
        if moved or state.folder not in listed:  # starts afresh
            account.sync_states.remove(state)
    account.import_enabled = bool(settings.import_enabled)
    turned = "on" if account.import_enabled else "off"
    _record(actor, account, "mail.settings_saved", f"inbound: {host} {folder}, import {turned}")
    db.session.flush()
    return notice


def _record(actor: User | None, account: MailAccount, action: str, detail: str) -> None:
    audit.record(actor, action, target=account.user, detail=f"{account.role}: {detail}")


def deauthorize(actor: User, account: MailAccount, purpose: str, reason: str = "") -> None:
    """Forget an authorization: its tokens and the identity that signed in (the caller
    commits)."""
    owner = account if purpose == PURPOSE else account.graph_authorization
    if owner is None:
        return
    email = owner.authorized_email
    owner.credential = None
    owner.forget_identity()
    why = f" ({reason})" if reason else ""
    _record(actor, account, "mail.deauthorized", f"{purpose}: {email}{why}")
    db.session.flush()


def _drop_authorization(actor: User, account: MailAccount, why: str) -> str:
    """Settings that would send the Exchange Online token elsewhere remove its authorization
    (tokens deleted, audited with why) before they are stored; the notice for the user."""
    deauthorize(actor, account, PURPOSE, reason=why)
    return (
        f"The Exchange Online authorization was removed and its tokens deleted because {why}. "
        "Authorize again to send and import through the new settings."
    )
