"""Exchange Online's SMTP submission, played by aiosmtpd: ``AUTH XOAUTH2`` with a bearer token
of the Outlook audience that carries ``SMTP.Send`` for the same mailbox as ``user=``.

Answers like Office 365: ``235 2.7.0`` on success, ``535 5.7.3 Authentication unsuccessful``
on a bad token, ``530 5.7.57`` when MAIL comes before AUTH, ``554 5.2.252 SendAsDenied`` when
MAIL FROM is another mailbox than the signed-in one without Send As on it (``delegation``).
``AUTH PLAIN``/``LOGIN`` accept any known mailbox with
:data:`BASIC_PASSWORD` (to play an "Other" SMTP server). Accepted messages go to the
:data:`~standin.mail_store.OUTBOX`. Fault area ``smtp``: ``535`` (reject every AUTH),
``disconnect`` (hang up on AUTH), ``slow`` (sleep ``delay`` seconds before answering AUTH).
Runs in its own thread and event loop inside the stand-in process, so it shares the token
store with the identity endpoints.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import socket
import ssl
import warnings
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from .delegation import DELEGATION
from .mail_store import OUTBOX
from .store import OUTLOOK, STORE
from .tls import Certificates

BASIC_PASSWORD = "standin-smtp-password"
REJECTED = "535 5.7.3 Authentication unsuccessful"
# Exchange Online's answers to AUTH when SMTP AUTH is turned off for the mailbox or the tenant
# (security defaults do that), and a passing failure (RFC 4954).
AUTH_DISABLED = (
    "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the "
    "Tenant. Visit https://aka.ms/smtp_auth_disabled for more information."
)
TEMPORARY = "454 4.7.0 Temporary authentication failure"
log = logging.getLogger(__name__)
# Loopback only: the app talks to this server with security "none" (see the module docstring).
warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")


def parse_xoauth2(blob: bytes) -> tuple[str, str] | None:
    """``user=...\\x01auth=Bearer ...\\x01\\x01`` → (user, token), or None when malformed."""
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError:
        return None
    fields = dict(part.split("=", 1) for part in text.split("\x01") if "=" in part)
    scheme, _, token = fields.get("auth", "").partition(" ")
    if not fields.get("user") or scheme.lower() != "bearer" or not token.strip():
        return None
    return fields["user"].strip().lower(), token.strip()


def check_bearer(user: str, token: str, scope: str) -> str | None:
    """Why a token may not act as ``user`` for ``scope`` on the Outlook resource (None: it may)."""
    record = STORE.lookup_access_token(token)
    if record is None:
        return "expired"
    if record.audience != OUTLOOK:
        return "audience"
    if scope not in record.scopes:
        return "scope"
    if (record.email or "").lower() != user:
        return "user"
    return None


class Handler:
    """aiosmtpd hooks: XOAUTH2, the sender check and keeping received messages."""

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:  # noqa: N802
        """RFC 7628-style XOAUTH2: initial response or one empty challenge."""
        fault = STORE.take_fault("smtp")
        if fault is not None:
            await asyncio.sleep(fault.delay or (30 if fault.mode == "slow" else 0))
            if fault.mode == "disconnect":
                server.transport.close()
                return AuthResult(success=False, handled=True)
        blob = _decode(args[1]) if len(args) > 1 else await server.challenge_auth("")
        parsed = parse_xoauth2(blob) if isinstance(blob, bytes) else None
        problem = "malformed" if parsed is None else check_bearer(*parsed, "SMTP.Send")
        if fault is not None and fault.mode in ("auth_disabled", "454"):
            STORE.count(f"smtp.auth.{fault.mode}")
            reply = AUTH_DISABLED if fault.mode == "auth_disabled" else TEMPORARY
            return AuthResult(success=False, handled=False, message=reply)
        if fault is not None and fault.mode == "535":
            problem = "fault"
        if problem:
            STORE.count("smtp.auth.rejected")
            STORE.count(f"smtp.auth.rejected.{problem}")
            return AuthResult(success=False, handled=False, message=REJECTED)
        STORE.count("smtp.auth.ok")
        return AuthResult(success=True, auth_data=parsed[0])

    async def handle_MAIL(self, server, session, envelope, address, options):  # noqa: N802
        """Only the authenticated mailbox, or a shared mailbox it has Send As on, may be the
        sender."""
        if not session.authenticated:
            return "530 5.7.57 Client not authenticated to send mail"
        if not DELEGATION.may_send_as(str(session.auth_data), address):
            STORE.count("smtp.send_as_denied")
            return f"554 5.2.252 SendAsDenied; {session.auth_data} not allowed to send as {address}"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 Sender OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        """Keep the message in the outbox."""
        raw = envelope.original_content or b""
        subject = message_from_bytes(raw, policy=policy.default).get("Subject", "")
        OUTBOX.add(
            via="smtp",
            auth_user=str(session.auth_data),
            mail_from=envelope.mail_from,
            rcpt_tos=list(envelope.rcpt_tos),
            subject=str(subject),
            raw=raw.decode("utf-8", "replace"),
        )
        STORE.count("smtp.sent")
        return "250 2.0.0 OK Queued"


def _decode(value: str) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def basic_authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
    """PLAIN/LOGIN: any known mailbox with the stand-in's basic password."""
    if not isinstance(auth_data, LoginPassword):
        return AuthResult(success=False, handled=False)
    login = auth_data.login.decode("utf-8", "replace").lower()
    known = {a.email.lower() for a in STORE.accounts.values()}
    if login in known and auth_data.password.decode("utf-8", "replace") == BASIC_PASSWORD:
        STORE.count("smtp.auth.ok")
        return AuthResult(success=True, auth_data=login)
    STORE.count("smtp.auth.rejected")
    return AuthResult(success=False, handled=False, message=REJECTED)


class _Controller(Controller):
    def __init__(self, *args, tls_context: ssl.SSLContext | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.tls_context = tls_context

    def factory(self):
        return SMTP(
            self.handler,
            hostname="standin.outlook.example",
            ident="Microsoft ESMTP MAIL Service (stand-in)",
            auth_required=True,
            auth_require_tls=False,  # loopback: the tests also use security "none"
            tls_context=self.tls_context,  # offers STARTTLS, as smtp.office365.com:587 does
            authenticator=basic_authenticator,
            data_size_limit=35 * 1024 * 1024,
            timeout=60,
        )


def free_port(host: str) -> int:
    """A free TCP port on ``host``."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def start_smtp(host: str, port: int, certificates: Certificates | None = None) -> Controller:
    """Start the SMTP server in its own thread; ``port`` 0 picks a free one. With
    ``certificates`` it offers STARTTLS with them."""
    logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd's chatty logger
    context = None
    if certificates is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certificates.cert, certificates.key)
    controller = _Controller(
        Handler(), hostname=host, port=port or free_port(host), tls_context=context
    )
    controller.start()
    return controller
