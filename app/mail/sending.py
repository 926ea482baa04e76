"""Sending: Compose and Send Test Email store every message (status Sending) before the server
is contacted, then mark it Sent or Failed with the reason, so a failure never loses it and it can
be retried; SMTP with XOAUTH2 or a password, or Microsoft Graph sendMail.

Compose's attachments are stored with the message (`MailAttachment.content`) before sending, so
a retry still has them, and kept after it was sent, so the sent message's page offers them."""

import logging
import mimetypes
import os.path
import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from email import policy
from email.errors import MessageError
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid, parseaddr

from email_validator import EmailNotValidError, validate_email
from flask import current_app

from app.connect.provider import ProviderError
from app.core.db import utcnow
from app.extensions import db
from app.mail import hosts as mail_hosts
from app.mail.authorizations import (
    NOT_AUTHORIZED,
    PURPOSE,
    stored_password,
    with_token,
)
from app.mail.models import (
    FAILED,
    OUTBOUND,
    PERSONAL,
    SENDING,
    SENT,
    SYSTEM,
    MailAccount,
    MailAttachment,
    MailMessage,
)
from app.mail.settings import MailSettingsError, account_for, graph_purpose
from app.mail.transport import (
    AuthRejected,
    MailError,
    Server,
    security_problem,
    smtp_oauth,
    smtp_password,
    smtp_send,
)
from app.microsoft import exchange
from app.users.models import User

log = logging.getLogger(__name__)
STALE_SENDING = timedelta(minutes=5)
MIME_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,62}/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}")
FILENAME_MAX = 255  # MailAttachment.filename's column


@dataclass(frozen=True)
class NewAttachment:
    """A file attached in Compose, as the browser sent it: name, type and bytes."""

    filename: str
    content_type: str
    content: bytes


def attachment_name(raw: str) -> str:
    """The file's own name (no folder a browser may send), without control characters, at
    most 255 characters with its extension kept; "attachment" when nothing is left."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip()
    stem, extension = os.path.splitext(name)
    if len(name) > FILENAME_MAX:
        extension = extension[:20]
        name = stem[: FILENAME_MAX - len(extension)] + extension
    return name or "attachment"


def attachment_type(name: str, given: str) -> str:
    """The MIME type the browser gave when it is a real one, else guessed from the name."""
    given = (given or "").split(";", 1)[0].strip().lower()
    if MIME_TYPE.fullmatch(given) and given != "application/octet-stream":
        return given
    return mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"


def attachment_limit() -> int:
    """The most bytes of attachments one message may carry (MAIL_MAX_ATTACHMENT_BYTES)."""
    return current_app.config["MAIL_MAX_ATTACHMENT_BYTES"]


def size_words(size: int) -> str:
    """A size for people: "25 MB", "1.5 MB", "300 KB" (1 MB = 1024 KB)."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f}".removesuffix(".0") + " MB"
    return f"{max(1, round(size / 1024))} KB"


def _attachments(files: list[NewAttachment]) -> list[MailAttachment]:
    """The files as MailAttachment rows; refused in words when they pass the limit."""
    total = sum(len(f.content) for f in files)
    limit = attachment_limit()
    if total > limit:
        raise MailSettingsError(
            f"The attachments total {size_words(total)}; a message may carry at most "
            f"{size_words(limit)}. Remove some files and send again.",
            "attachments",
            status=413,
        )
    rows = []
    for file in files:
        name = attachment_name(file.filename)
        rows.append(
            MailAttachment(
                filename=name,
                content_type=attachment_type(name, file.content_type),
                size=len(file.content),
                content=file.content,
            )
        )
    return rows


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
    actor: User | None,
    account: MailAccount,
    *,
    to: str,
    cc: str,
    subject: str,
    body: str,
    attachments: list[NewAttachment] = (),
) -> MailMessage:
    """Store the message with its attachments (status Sending), then send it; it is kept
    whatever happens. With no actor the system sends it (an alert email): it is in nobody's
    Emails list."""
    recipients = parse_addresses(to, "to", required=True)
    copies = parse_addresses(cc, "cc")
    subject = (subject or "").strip()
    if any(c in subject for c in "\r\n") or len(subject) > 998:
        raise MailSettingsError(
            "The subject must be one line of at most 998 characters.", "subject"
        )
    message = MailMessage(
        account_id=account.id,
        user_id=actor.id if actor else None,
        direction=OUTBOUND,
        status=SENDING,
        from_address=_from_header(account),
        to_addresses=", ".join(recipients),
        cc_addresses=", ".join(copies),
        subject=subject,
        body_text=(body or "").replace("\x00", ""),
        attempts=0,
        attachments=_attachments(list(attachments)),
    )
    db.session.add(message)
    db.session.commit()  # the point: stored as Sending before any server is contacted
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
    db.session.commit()  # the point: stored as Sending before any server is contacted
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
    db.session.commit()  # the point: each attempt is counted, whatever happens next
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
    db.session.commit()  # the point: the outcome is kept whatever happens next


def _raw(account: MailAccount, message: MailMessage) -> bytes:
    """The message as bytes; a stored header that cannot be sent (a From Name with a line
    break, saved before that was refused) fails the message in words instead of crashing.
    Lines end in CRLF as SMTP wants: smtplib sends bytes as they are, and a server refuses a
    message whose bare-LF "line" is over 1,000 characters (any attachment, a long body)."""
    try:
        return _mime(account, message).as_bytes(policy=policy.SMTP)
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
    for attachment in message.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        # Bytes go base64; a non-ASCII name is encoded as RFC 2231 says (filename*=utf-8'').
        mime.add_attachment(
            attachment.content or b"",
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=attachment.filename,
        )
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
    db.session.commit()  # the point: no transaction stays open while a server talks
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
            server, smtp_oauth(account.authorized_email, token), sender, _recipients(message), raw
        ),
    )


def _send_graph(account: MailAccount, message: MailMessage) -> None:
    body = exchange.graph_message(
        subject=message.subject,
        body=message.body_text,
        to=[a for a in message.to_addresses.split(", ") if a],
        cc=[a for a in message.cc_addresses.split(", ") if a],
    )
    files = [
        exchange.OutgoingFile(a.filename, a.content_type, a.content or b"")
        for a in message.attachments
    ]
    db.session.commit()  # the point: no transaction stays open while Graph talks
    in_send_mail = exchange.fits_inline(files, body)  # else a draft (Mail.ReadWrite)

    def attempt(token: str) -> None:
        try:
            if in_send_mail:
                inline = [exchange.file_attachment(f) for f in files]
                exchange.send_mail(
                    token,
                    {**body, "attachments": inline} if inline else body,
                    mailbox=account.shared_address,
                )
            else:
                exchange.DraftSender(token, account.shared_address).send(body, files)
        except ProviderError as error:
            if error.status == 401:
                raise AuthRejected(f"HTTP 401 {error.message}") from error
            raise MailError(error.message, transient=error.transient) from error

    with_token(account.graph_authorization, graph_purpose(account), attempt)
