"""Email accounts and their settings: a user's own mailbox, the system's outbound account and
the inbound (group) mailboxes of Admin > Inbound Email, each with a name, who sees its mail and,
for an Exchange Online shared mailbox, its address; outbound (SMTP or Graph) and inbound (IMAP)
settings, checked before they are stored; removing an authorization.

A mail account is authorized on its own (see `authorizations`), never through External
Accounts; settings that would send its token elsewhere remove the authorization first. These
functions flush; the view that called them commits."""

from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import delete, func, select
from sqlalchemy.orm import selectinload

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
    VISIBLE_TO_ALL,
    VISIBLE_TO_CHOSEN,
    MailAccount,
    MailAttachment,
    MailMessage,
    folder_names,
)
from app.mail.transport import security_problem
from app.microsoft import exchange, identity
from app.users import audit
from app.users.models import User

PURPOSE = "mail"  # SMTP.Send + IMAP.AccessAsUser.All on the Outlook resource
GRAPH_PURPOSE = "graph_mail"  # Mail.Send on Graph
SHARED_GRAPH_PURPOSE = "graph_mail_shared"  # Mail.Send + Mail.Send.Shared: send as a shared mailbox
GRAPH_PURPOSES = (GRAPH_PURPOSE, SHARED_GRAPH_PURPOSE)
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
    """The stored mail account of a role (a user's own, the system's or the first group one)."""
    return db.session.scalar(select(MailAccount).where(MailAccount.slot == _slot(role, user)))


def graph_purpose(account: MailAccount) -> str:
    """The Graph authorization's purpose: sending as a shared mailbox needs Mail.Send.Shared."""
    return SHARED_GRAPH_PURPOSE if account.shared_address else GRAPH_PURPOSE


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
    shared_address: str = ""


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
        notice = _set_shared_address(actor, account, settings.shared_address, other) or notice
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
    folder = ", ".join(folder_names(settings.imap_folder))
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


# --- shared mailboxes ----------------------------------------------------------------------------


def _checked_shared_address(value: str, field: str = "shared_address") -> str:
    """A shared mailbox's address, normalized ("" for none); one line, a valid address."""
    value = (value or "").strip()
    if not value:
        return ""
    try:
        return validate_email(value, check_deliverability=False).normalized.lower()
    except EmailNotValidError as error:
        raise MailSettingsError(
            "Enter the shared mailbox's address, like support@contoso.com, or leave it empty.",
            field,
        ) from error


def _set_shared_address(actor: User, account: MailAccount, value: str, other: bool) -> str:
    """Store the shared mailbox address an account signs in to or sends as. Its Graph
    authorization was asked for other permissions (Mail.Send.Shared or not), so it is removed
    when the address changes; the returned notice says so, else ""."""
    address = "" if other else _checked_shared_address(value)
    if address == account.shared_address:
        return ""
    was = account.shared_address or "the authorized mailbox"
    account.shared_address = address
    _record(actor, account, "mail.shared_address", f"{was} -> {address or 'none'}")
    graph = account.graph_authorization
    if graph is None or not (graph.credential is not None or graph.authorized_email):
        return ""
    deauthorize(actor, account, GRAPH_PURPOSE, reason="the shared mailbox address changed")
    return (
        "The Microsoft Graph authorization was removed because the shared mailbox address "
        "changed: sending as a shared mailbox needs other permissions (Mail.Send.Shared). "
        "Authorize Microsoft Graph again."
    )


def signed_in_words(owner, mailbox: str = "") -> str:
    """Whose sign-in an authorization is, for the page: "Adele Vance (delegate) for
    support@contoso.com" when it serves a shared mailbox, else the account's name and address."""
    if owner is None or not owner.authorized_email:
        return ""
    who = owner.authorized_name or owner.authorized_email
    if mailbox and mailbox.lower() != owner.authorized_email.lower():
        return f"Signed in as {who} (delegate) for {mailbox}"
    return f"Signed in as {who} ({owner.authorized_email})"


# --- inbound mailboxes (Admin > Inbound Email) ---------------------------------------------------


def inbound_mailboxes() -> list[MailAccount]:
    """Every inbound mailbox, the oldest (the migrated Group Inbox) first."""
    return list(
        db.session.scalars(
            select(MailAccount)
            .options(selectinload(MailAccount.viewers))
            .where(MailAccount.role == GROUP)
            .order_by(MailAccount.id)
        )
    )


def inbound_mailbox(account_id: int) -> MailAccount | None:
    """One inbound mailbox by id (None when there is no such inbound mailbox)."""
    account = db.session.get(MailAccount, account_id)
    return account if account is not None and account.role == GROUP else None


def active_users() -> list[User]:
    """The users an admin may let see a mailbox: every active one, by name."""
    return list(
        db.session.scalars(
            select(User)
            .where(User.active.is_(True))
            .order_by(User.first_name, User.last_name, User.username)
        )
    )


@dataclass
class MailboxDetails:
    """What the mailbox form says: its name, the shared mailbox it is (if any), who sees it."""

    name: str
    shared_address: str = ""
    visibility: str = VISIBLE_TO_ALL
    viewer_ids: list[int] | None = None


def _next_group_slot() -> str:
    """group-<n>: one more than the highest n taken (the migrated mailbox's slot is "group")."""
    slots = db.session.scalars(select(MailAccount.slot).where(MailAccount.role == GROUP))
    taken = [int(s[6:]) for s in slots if s.startswith("group-") and s[6:].isdigit()]
    return f"group-{max(taken, default=1) + 1}"


class MailboxDetailsInvalid(MailSettingsError):
    """Every problem of the mailbox form at once (the first one is the error's own)."""

    def __init__(self, problems: list[MailSettingsError]):
        super().__init__(problems[0].message, problems[0].field)
        self.problems = problems


def _others(account: MailAccount | None, column, value: str):
    """The other inbound mailboxes whose `column` is `value`, in any case."""
    others = select(MailAccount.name).where(MailAccount.role == GROUP, func.lower(column) == value)
    if account is not None and account.id is not None:
        others = others.where(MailAccount.id != account.id)
    return others.limit(1)


def _name_problem(account: MailAccount | None, name: str) -> str:
    if not name or len(name) > 200 or any(ord(c) < 32 for c in name):
        return "Enter a name of at most 200 characters, on one line."
    if name.lower() == "my emails":
        return "“My Emails” is each user's own list; choose another name."
    if db.session.scalar(_others(account, MailAccount.name, name.lower())) is not None:
        return f"Another inbound mailbox is named “{name}”."
    return ""


def _address_problem(account: MailAccount | None, value: str) -> str:
    address = _checked_shared_address(value)
    # One mailbox imported twice would show its mail under two sets of viewers.
    other = address and db.session.scalar(_others(account, MailAccount.shared_address, address))
    if other:
        return (
            f"The inbound mailbox “{other}” already imports {address}. Change who sees that "
            "one instead."
        )
    return ""


def _check_details(account: MailAccount | None, details: MailboxDetails) -> list[User]:
    """The chosen viewers; every problem of the form at once (MailboxDetailsInvalid)."""
    problems = []
    if problem := _name_problem(account, (details.name or "").strip()):
        problems.append(MailSettingsError(problem, "name"))
    try:
        if problem := _address_problem(account, details.shared_address):
            problems.append(MailSettingsError(problem, "shared_address"))
    except MailSettingsError as error:
        problems.append(error)
    wanted = set(details.viewer_ids or [])
    viewers = [u for u in active_users() if u.id in wanted]
    if details.visibility not in (VISIBLE_TO_ALL, VISIBLE_TO_CHOSEN):
        problems.append(MailSettingsError("Choose who sees this mailbox's mail.", "visibility"))
    elif details.visibility == VISIBLE_TO_CHOSEN and not viewers:
        problems.append(
            MailSettingsError("Choose at least one user, or let all users see it.", "viewers")
        )
    if problems:
        raise MailboxDetailsInvalid(problems)
    return viewers


def _apply_details(account: MailAccount, details: MailboxDetails, viewers: list[User]) -> str:
    """Set name, visibility and viewers; a new shared address starts the import afresh (it is
    another mailbox). What changed, for the audit log."""
    address = _checked_shared_address(details.shared_address)
    account.name = details.name.strip()
    account.visibility = details.visibility
    account.viewers = viewers if details.visibility == VISIBLE_TO_CHOSEN else []
    if address != account.shared_address:
        account.shared_address = address
        account.sync_states = []
    who = (
        "all users"
        if details.visibility == VISIBLE_TO_ALL
        else ", ".join(u.username for u in account.viewers)
    )
    return f"“{account.name}”, shared mailbox {address or 'none'}, seen by {who}"


def create_mailbox(actor: User, details: MailboxDetails) -> MailAccount:
    """A new inbound mailbox pre-filled for Exchange Online, importing once authorized;
    audited."""
    viewers = _check_details(None, details)
    account = new_account(GROUP)
    account.slot = _next_group_slot()
    account.import_enabled = True
    detail = _apply_details(account, details, viewers)
    db.session.add(account)
    db.session.flush()
    _record(actor, account, "mail.mailbox_created", detail)
    return account


def save_mailbox(actor: User, account: MailAccount, details: MailboxDetails) -> None:
    """Change a mailbox's name, shared address and who sees it; audited."""
    viewers = _check_details(account, details)
    detail = _apply_details(account, details, viewers)
    _record(actor, account, "mail.mailbox_saved", detail)
    db.session.flush()


def delete_mailbox(actor: User, account: MailAccount) -> int:
    """Delete an inbound mailbox: its settings, its authorization's tokens and the copies of
    its mail imported into the CRM (the mailbox in Exchange keeps every message); audited.
    Returns how many imported messages were removed."""
    # The mailbox's row first, locked: an import's batch being stored now holds it (its rows
    # reference it), so this waits for that batch and deletes its messages too, and a later
    # batch finds no mailbox, instead of leaving messages no one sees (account_id set NULL).
    db.session.execute(select(MailAccount.id).where(MailAccount.id == account.id).with_for_update())
    messages = select(MailMessage.id).where(MailMessage.account_id == account.id)
    db.session.execute(delete(MailAttachment).where(MailAttachment.message_id.in_(messages)))
    removed = db.session.execute(delete(MailMessage).where(MailMessage.account_id == account.id))
    _record(
        actor,
        account,
        "mail.mailbox_deleted",
        f"“{account.name}” ({account.mailbox_address or 'not authorized'}), "
        f"{removed.rowcount} imported messages removed",
    )
    db.session.delete(account)
    db.session.flush()
    return removed.rowcount
