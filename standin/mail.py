"""Mail in the stand-in: Graph ``POST /v1.0/me/sendMail``, the token introspection endpoint
Dovecot asks, and the control API under ``/_standin/mail``:

* ``GET /_standin/mail/servers`` — ``{"smtp": {"host", "port"} | null, "imap": {"host", "port",
  "ssl_port"} | null, "ca_file": path | null}``
* ``GET /_standin/mail/outbox`` — messages accepted over SMTP or sendMail; ``DELETE`` empties it
* ``POST /_standin/mail/mailboxes/<address>/messages`` — seed the INBOX:
  ``{"messages": [{from, to, cc, subject, text, html, date, message_id, attachments}],
  "count": N, "raw": ["RFC 5322 text", ...]}`` (``count`` makes N generated messages)
* ``GET /_standin/mail/mailboxes/<address>`` — ``{uidvalidity, uidnext, messages}``
* ``POST /_standin/mail/mailboxes/<address>/uidvalidity`` — ``{"value": N}`` (default: +1)
* ``DELETE /_standin/mail/mailboxes/<address>`` — empty the mailbox (and its indexes)

Reset (``POST /_standin/reset``) empties the outbox and every mailbox. Fault areas: ``smtp``
(``535``, ``disconnect``, ``slow``) and ``imap`` (``reject``: introspection says inactive).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from flask import Blueprint, Response, request

from . import control
from .delegation import DELEGATION
from .graph import MAIL_DENIED, graph_error, graph_fault, require_token
from .imap import Dovecot, DovecotError
from .mail_drafts import check_attachments, too_large
from .mail_store import OUTBOX, build_many, build_message, mailbox_name, to_crlf
from .responses import json_response
from .store import OUTLOOK, STORE
from .tls import Certificates

control.FAULT_MODES.setdefault("smtp", set()).update(
    {"535", "auth_disabled", "454", "disconnect", "slow"}
)
control.FAULT_MODES.setdefault("imap", set()).update({"reject"})

bp = Blueprint("mail_control", __name__, url_prefix="/_standin/mail")
bp.before_request(control._loopback_only)
graph_bp = Blueprint("graph_mail", __name__, url_prefix="/v1.0")
SEED_LIMIT = 20_000


@dataclass
class Servers:
    """The mail servers running beside the HTTP server (set by ``python -m standin``)."""

    smtp: tuple[str, int] | None = None
    imap: Dovecot | None = None
    certificates: Certificates | None = None


SERVERS = Servers()


def _wipe_mailboxes() -> None:
    if SERVERS.imap is not None:
        SERVERS.imap.wipe()


STORE.on_reset(_wipe_mailboxes)


@bp.get("/servers")
def servers() -> Response:
    """Where the SMTP and IMAP servers listen."""
    imap = SERVERS.imap
    return json_response(
        {
            "smtp": {"host": SERVERS.smtp[0], "port": SERVERS.smtp[1]} if SERVERS.smtp else None,
            "imap": (
                {"host": imap.host, "port": imap.port, "ssl_port": imap.ssl_port} if imap else None
            ),
            # The CA that signed both servers' certificate (STARTTLS on SMTP and IMAP, IMAPS).
            "ca_file": str(SERVERS.certificates.ca) if SERVERS.certificates else None,
        }
    )


@bp.get("/outbox")
def outbox() -> Response:
    """Every message accepted for delivery."""
    return json_response({"messages": OUTBOX.all()})


@bp.delete("/outbox")
def clear_outbox() -> Response:
    """Forget the accepted messages."""
    OUTBOX.clear()
    return json_response({"status": "cleared"})


# Exchange Online's answer to AUTHENTICATE for any refusal: a bad token, no Full Access to the
# `user=` mailbox, IMAP turned off for it.
AUTHENTICATE_FAILED = "AUTHENTICATE failed."


@bp.post("/introspect")
def introspect() -> Response:
    """RFC 7662-style introspection for Dovecot's sign-in of ``user`` with ``token``: active
    only for an Outlook-audience token with IMAP.AccessAsUser.All whose owner may open that
    mailbox (``delegation``); a refusal carries Exchange's words as ``reason``."""
    token = STORE.lookup_access_token(request.form.get("token", ""))
    user = request.form.get("user", "").strip().lower()
    STORE.count("imap.introspect")
    fault = STORE.take_fault("imap")
    problem = None
    if token is None or token.audience != OUTLOOK or fault is not None:
        problem = "token"
    elif "IMAP.AccessAsUser.All" not in token.scopes:
        problem = "scope"
    else:
        problem = DELEGATION.imap_refusal(token.email or "", user or token.email or "")
    if problem is not None:
        STORE.count("imap.auth.rejected")
        STORE.count(f"imap.auth.rejected.{problem}")
        return json_response({"active": False, "reason": AUTHENTICATE_FAILED})
    STORE.count("imap.auth.ok")
    return json_response(
        {
            "active": True,
            "email": user or (token.email or "").lower(),
            "scope": " ".join(sorted(token.scopes)),
            "aud": token.audience,
            "client_id": token.client_id,
        }
    )


def _mailbox(address: str) -> tuple[Dovecot | None, str | None, Response | None]:
    name = mailbox_name(address)
    if SERVERS.imap is None:
        return None, None, json_response({"error": "IMAP is off (start with --imap-port)"}, 409)
    if name is None:
        return None, None, json_response({"error": f"not a mailbox address: {address!r}"}, 400)
    return SERVERS.imap, name, None


def _seed_messages(body: dict) -> list[bytes]:
    specs = body.get("messages") or []
    raws = body.get("raw") or []
    count = body.get("count") or 0
    if not isinstance(specs, list) or not isinstance(raws, list):
        raise ValueError("messages and raw must be lists")
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= SEED_LIMIT:
        raise ValueError(f"count must be an integer from 0 to {SEED_LIMIT}")
    if len(specs) + len(raws) + count > SEED_LIMIT:
        raise ValueError(f"at most {SEED_LIMIT} messages per request")
    template = body.get("template") if isinstance(body.get("template"), dict) else {}
    start = int(body.get("start") or 0)
    built = [build_message(spec, i) for i, spec in enumerate(specs) if isinstance(spec, dict)]
    built += [to_crlf(str(raw).encode("utf-8")) for raw in raws]
    built += build_many(template, start, count)
    return built


@bp.post("/mailboxes/<address>/messages")
def seed(address: str) -> Response:
    """Deliver messages into a mailbox's INBOX, or into ``folder`` (created when missing)."""
    dovecot, name, failed = _mailbox(address)
    if failed is not None:
        return failed
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    folder = body.get("folder") or "INBOX"
    if not isinstance(folder, str) or any(ord(c) < 32 for c in folder) or len(folder) > 200:
        return json_response({"error": "folder must be a name of at most 200 characters"}, 400)
    try:
        messages = _seed_messages(body)
        delivered = dovecot.deliver(name, messages, folder)
    except (ValueError, TypeError) as error:
        return json_response({"error": str(error)}, 400)
    except DovecotError as error:
        return json_response({"error": str(error)}, 500)
    return json_response({"mailbox": name, "folder": folder, "delivered": delivered}, 201)


@bp.get("/mailboxes/<address>")
def mailbox_status(address: str) -> Response:
    """UIDVALIDITY, UIDNEXT and message count, as Dovecot sees them."""
    dovecot, name, failed = _mailbox(address)
    if failed is not None:
        return failed
    try:
        return json_response({"mailbox": name, **dovecot.status(name)})
    except DovecotError as error:
        return json_response({"error": str(error)}, 500)


@bp.post("/mailboxes/<address>/uidvalidity")
def change_uidvalidity(address: str) -> Response:
    """Change the INBOX's UIDVALIDITY (``{"value": N}``, default the current one + 1)."""
    dovecot, name, failed = _mailbox(address)
    if failed is not None:
        return failed
    body = request.get_json(silent=True) or {}
    try:
        value = int(body.get("value") or dovecot.status(name).get("uidvalidity", 0) + 1)
        dovecot.set_uidvalidity(name, value)
    except (DovecotError, TypeError, ValueError) as error:
        return json_response({"error": str(error)}, 400)
    return json_response({"mailbox": name, "uidvalidity": value})


@bp.delete("/mailboxes/<address>")
def wipe(address: str) -> Response:
    """Empty a mailbox; it starts afresh (new UIDVALIDITY) at the next login."""
    dovecot, name, failed = _mailbox(address)
    if failed is not None:
        return failed
    dovecot.wipe(name)
    return json_response({"mailbox": name, "status": "wiped"})


# --- Microsoft Graph sendMail -------------------------------------------------------------------


def _addresses(message: dict, key: str) -> list[str]:
    recipients = message.get(key) or []
    if not isinstance(recipients, list):
        raise ValueError(key)
    found = []
    for recipient in recipients:
        address = (recipient or {}).get("emailAddress", {}).get("address", "")
        if not isinstance(address, str) or "@" not in address:
            raise ValueError(key)
        found.append(address)
    return found


@graph_bp.post("/me/sendMail")
def send_mail() -> Response:
    """Send as the signed-in user: a Graph token with Mail.Send; 202 with no body."""
    return _send_mail("")


@graph_bp.post("/users/<mailbox>/sendMail")
def send_mail_as(mailbox: str) -> Response:
    """Send as a mailbox named by id or UPN: the token's own, or a shared mailbox its owner
    has Send As on, which also takes Mail.Send.Shared (403 as Graph answers, else)."""
    return _send_mail(mailbox)


def _sender(token, mailbox: str) -> tuple[str, Response | None]:
    """The From address for a sendMail of `mailbox` ("" for /me), or Graph's refusal."""
    own = (token.email or "").lower()
    if not mailbox:
        return own, None
    wanted = mailbox.strip().lower()
    person = next(
        (a for a in STORE.accounts.values() if wanted in (a.oid.lower(), a.email.lower())), None
    )
    target = person.email.lower() if person is not None else wanted
    if target == own:
        return own, None
    if person is None and not DELEGATION.is_shared(target):
        words = f"The requested user '{mailbox}' is invalid."
        return "", graph_error(404, "ErrorInvalidUser", words)
    if "Mail.Send.Shared" not in token.scopes:
        STORE.count("graph.sendMail.access_denied")
        words = "Access is denied. Check credentials and try again."
        return "", graph_error(403, "ErrorAccessDenied", words)
    if not DELEGATION.may_send_as(own, target):
        STORE.count("graph.sendMail.send_as_denied")
        return "", graph_error(
            403,
            "ErrorSendAsDenied",
            "The user account which was used to submit this request does not have the right to "
            "send mail on behalf of the specified sending account., Cannot submit message.",
        )
    return target, None


def _send_mail(mailbox: str) -> Response:
    STORE.count("graph.sendMail")
    failed = graph_fault()
    if failed is not None:
        return failed
    token, failed = require_token("Mail.Send", refused=MAIL_DENIED)
    if failed is not None:
        return failed
    sender, failed = _sender(token, mailbox)
    if failed is not None:
        return failed
    failed = too_large()
    if failed is not None:
        return failed
    body = request.get_json(silent=True)
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, dict):
        return graph_error(400, "ErrorInvalidRequest", "The message is missing.")
    _attachments, failed = check_attachments(message)
    if failed is not None:
        return failed
    try:
        recipients = [
            a
            for k in ("toRecipients", "ccRecipients", "bccRecipients")
            for a in _addresses(message, k)
        ]
    except ValueError:
        return graph_error(400, "ErrorInvalidRecipients", "At least one recipient is not valid.")
    if not recipients:
        return graph_error(400, "ErrorInvalidRecipients", "At least one recipient is required.")
    OUTBOX.add(
        via="graph",
        auth_user=(token.email or "").lower(),
        mail_from=sender,
        rcpt_tos=recipients,
        subject=str(message.get("subject") or ""),
        graph_message=json.loads(json.dumps(message)),
    )
    return Response(status=202)
