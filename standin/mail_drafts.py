"""Graph's Outlook drafts in the stand-in, for messages with attachments, as Microsoft documents
them ("Attach large files to Outlook messages or events", "attachment: createUploadSession"):

* ``POST /v1.0/me/messages`` — a draft (``Mail.ReadWrite``), inline ``fileAttachment`` allowed;
  201 with the message and its ``id``
* ``POST /v1.0/me/messages/{id}/attachments`` — one ``fileAttachment`` under 3 MB; 201
* ``POST /v1.0/me/messages/{id}/attachments/createUploadSession`` —
  ``{"AttachmentItem": {"attachmentType": "file", "name", "size", "contentType"}}``; 201 with a
  pre-authenticated ``uploadUrl``, ``expirationDateTime`` and ``nextExpectedRanges: ["0-"]``
* ``PUT {uploadUrl}`` — the bytes in order, ``Content-Range: bytes start-end/total``, each range
  at most 4 MiB and, but for the last, a multiple of 320 KiB; no ``Authorization`` header (401
  with one). 200 with ``nextExpectedRanges: ["{next}"]``, then 201 with a ``Location`` header
* ``POST /v1.0/me/messages/{id}/send`` — ``Mail.Send``; 202; the message goes to the outbox with
  every attachment's ``contentBytes`` (uploaded ones too) and the draft is gone
* ``DELETE /v1.0/me/messages/{id}`` — 204

The same under ``/v1.0/users/{address}`` for the token's own mailbox (another one is refused,
403 ErrorAccessDenied, unless :data:`MAILBOX_ACCESS` says the token's user may act for it).
``/me/sendMail`` checks its attachments with :func:`check_attachments` and refuses a request over
Graph's 4 MB. Control: ``GET /_standin/mail/drafts`` lists the drafts left (tests check a failed
send deleted its draft). Fault area ``attachment_upload`` (``500``, ``503``, ``429``, ``404``,
``slow``) strikes the next range PUT after the first one of a file: a failure mid-upload.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flask import Blueprint, Response, request

from . import control
from .graph import MAIL_DENIED, graph_error, graph_fault, require_token
from .mail_store import OUTBOX
from .responses import base_url, json_response
from .store import STORE, AccessToken

control.FAULT_MODES.setdefault("attachment_upload", set()).update(
    {"500", "503", "429", "404", "slow"}
)

graph_bp = Blueprint("graph_drafts", __name__, url_prefix="/v1.0")
upload_bp = Blueprint("attachment_upload", __name__)
control_bp = Blueprint("drafts_control", __name__, url_prefix="/_standin/mail")
control_bp.before_request(control._loopback_only)

FILE_ATTACHMENT = "#microsoft.graph.fileAttachment"
SMALL_ATTACHMENT_MAX = 3 * 1024 * 1024  # POST .../attachments takes files under 3 MB
REQUEST_MAX = 4 * 1024 * 1024  # Graph refuses a request body over 4 MB
LARGE_ATTACHMENT_MAX = 150 * 1024 * 1024  # an upload session takes up to 150 MB
RANGE_MAX = 4 * 1024 * 1024
RANGE_UNIT = 320 * 1024
SESSION_LIFETIME = 15 * 60
CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")
# Who may use whose mailbox beside their own: (token user's email, mailbox address) pairs. The
# stand-in's delegation rules may fill it; empty, only one's own mailbox is open.
MAILBOX_ACCESS: set[tuple[str, str]] = set()


@dataclass
class Draft:
    """A draft message in a mailbox, with its attachments (each with its bytes)."""

    id: str
    mailbox: str
    message: dict
    attachments: list[dict] = field(default_factory=list)


@dataclass
class UploadSession:
    """An attachment being uploaded in ranges to a draft."""

    id: str
    secret: str
    draft_id: str
    name: str
    size: int
    content_type: str
    expires_at: float
    received: bytearray = field(default_factory=bytearray)


class Drafts:
    """The drafts and upload sessions of every mailbox."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.drafts: dict[str, Draft] = {}
        self.sessions: dict[str, UploadSession] = {}

    def clear(self) -> None:
        """Forget every draft and session."""
        with self.lock:
            self.drafts.clear()
            self.sessions.clear()


DRAFTS = Drafts()
STORE.on_reset(DRAFTS.clear)


def _now_iso(offset: float = 0) -> str:
    return datetime.fromtimestamp(time.time() + offset, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_attachments(message: dict) -> tuple[list[dict], Response | None]:
    """A message's ``attachments`` as fileAttachments with their bytes decoded (``size`` set),
    or a Graph error response when one is not a fileAttachment Graph would take."""
    attachments = message.get("attachments") or []
    if not isinstance(attachments, list):
        return [], graph_error(400, "ErrorInvalidRequest", "attachments must be a collection.")
    checked = []
    for attachment in attachments:
        if not isinstance(attachment, dict) or attachment.get("@odata.type") != FILE_ATTACHMENT:
            return [], graph_error(
                400, "ErrorInvalidRequest", "Only #microsoft.graph.fileAttachment is supported."
            )
        name, content = attachment.get("name"), attachment.get("contentBytes")
        if not isinstance(name, str) or not name or not isinstance(content, str):
            return [], graph_error(
                400, "ErrorInvalidRequest", "A fileAttachment needs a name and contentBytes."
            )
        try:
            size = len(base64.b64decode(content, validate=True))
        except (binascii.Error, ValueError):
            return [], graph_error(400, "ErrorInvalidRequest", "contentBytes is not base64.")
        checked.append({**attachment, "size": size})
    return checked, None


def too_large() -> Response | None:
    """Graph's answer to a request body over 4 MB, or None."""
    if (request.content_length or 0) > REQUEST_MAX:
        return graph_error(
            413, "RequestBodyTooLarge", "The maximum request length supported is 4MB."
        )
    return None


def _mailbox(token: AccessToken, address: str | None) -> tuple[str, Response | None]:
    own = (token.email or "").lower()
    wanted = (address or own).lower()
    if wanted in (own, (token.oid or "").lower()) or (own, wanted) in MAILBOX_ACCESS:
        return (own if wanted == (token.oid or "").lower() else wanted), None
    return "", graph_error(403, *MAIL_DENIED)


def _open(scopes: tuple[str, ...], address: str | None) -> tuple[str, Response | None]:
    """Faults, the token (one of ``scopes``) and the mailbox: (mailbox, None) or (_, error).
    A valid token without the scope is 403 ErrorAccessDenied, as Outlook's endpoints answer;
    401 is kept for a token that is missing, expired or for another audience."""
    failed = graph_fault()
    if failed is not None:
        return "", failed
    token, failed = require_token(*scopes, refused=MAIL_DENIED)
    if failed is not None:
        return "", failed
    return _mailbox(token, address)


def _draft(mailbox: str, draft_id: str) -> Draft | None:
    draft = DRAFTS.drafts.get(draft_id)
    return draft if draft is not None and draft.mailbox == mailbox else None


def _not_found() -> Response:
    return graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.")


def _route(rule: str, methods: list[str]) -> Callable:
    """Register a view under ``/me`` and ``/users/<address>``."""

    def register(view: Callable) -> Callable:
        graph_bp.add_url_rule(f"/me{rule}", view.__name__, view, methods=methods)
        graph_bp.add_url_rule(
            f"/users/<address>{rule}", f"{view.__name__}_of", view, methods=methods
        )
        return view

    return register


def _attachment_resource(attachment: dict) -> dict:
    return {
        "@odata.type": FILE_ATTACHMENT,
        "id": attachment["id"],
        "name": attachment["name"],
        "contentType": attachment.get("contentType") or "application/octet-stream",
        "size": attachment["size"],
        "isInline": False,
    }


@_route("/messages", ["POST"])
def create_draft(address: str | None = None) -> Response:
    """A draft in the mailbox; its inline fileAttachments are kept with their bytes."""
    STORE.count("graph.drafts.create")
    mailbox, failed = _open(("Mail.ReadWrite", "Mail.ReadWrite.Shared"), address)
    if failed is None:
        failed = too_large()
    if failed is not None:
        return failed
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return graph_error(400, "ErrorInvalidRequest", "The message is missing.")
    attachments, failed = check_attachments(body)
    if failed is not None:
        return failed
    draft_id = f"AAMkAD{secrets.token_urlsafe(18)}="
    message = {k: v for k, v in body.items() if k != "attachments"}
    for attachment in attachments:
        attachment["id"] = f"AAMkAtt{secrets.token_urlsafe(12)}="
    with DRAFTS.lock:
        DRAFTS.drafts[draft_id] = Draft(draft_id, mailbox, message, attachments)
    resource = {**message, "id": draft_id, "isDraft": True, "hasAttachments": bool(attachments)}
    return json_response(resource, 201)


@_route("/messages/<draft_id>/attachments", ["POST"])
def add_attachment(draft_id: str, address: str | None = None) -> Response:
    """One fileAttachment under 3 MB added to a draft."""
    STORE.count("graph.drafts.attachment")
    mailbox, failed = _open(("Mail.ReadWrite", "Mail.ReadWrite.Shared"), address)
    if failed is None:
        failed = too_large()
    if failed is not None:
        return failed
    body = request.get_json(silent=True)
    checked, failed = check_attachments({"attachments": [body]})
    if failed is not None:
        return failed
    (attachment,) = checked
    if attachment["size"] >= SMALL_ATTACHMENT_MAX:
        return graph_error(
            413, "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize", "Use an upload session."
        )
    attachment["id"] = f"AAMkAtt{secrets.token_urlsafe(12)}="
    with DRAFTS.lock:
        draft = _draft(mailbox, draft_id)
        if draft is None:
            return _not_found()
        draft.attachments.append(attachment)
    return json_response(_attachment_resource(attachment), 201)


def _attachment_item(body: object) -> tuple[dict, Response | None]:
    item = body.get("AttachmentItem") if isinstance(body, dict) else None
    if not isinstance(item, dict) or item.get("attachmentType") != "file":
        return {}, graph_error(
            400, "ErrorInvalidRequest", "AttachmentItem with attachmentType file is required."
        )
    name, size = item.get("name"), item.get("size")
    if not isinstance(name, str) or not name or isinstance(size, bool):
        return {}, graph_error(400, "ErrorInvalidRequest", "AttachmentItem needs a name.")
    if not isinstance(size, int) or not 0 < size <= LARGE_ATTACHMENT_MAX:
        return {}, graph_error(
            400, "ErrorInvalidRequest", "AttachmentItem.size must be from 1 byte to 150 MB."
        )
    return item, None


@_route("/messages/<draft_id>/attachments/createUploadSession", ["POST"])
def create_upload_session(draft_id: str, address: str | None = None) -> Response:
    """An upload session for one file of a draft, at a pre-authenticated URL."""
    STORE.count("graph.attachments.uploadSession")
    mailbox, failed = _open(("Mail.ReadWrite", "Mail.ReadWrite.Shared"), address)
    if failed is not None:
        return failed
    item, failed = _attachment_item(request.get_json(silent=True))
    if failed is not None:
        return failed
    session = UploadSession(
        id=secrets.token_urlsafe(12),
        secret=secrets.token_urlsafe(24),
        draft_id=draft_id,
        name=item["name"],
        size=item["size"],
        content_type=str(item.get("contentType") or "application/octet-stream"),
        expires_at=time.time() + SESSION_LIFETIME,
    )
    with DRAFTS.lock:
        if _draft(mailbox, draft_id) is None:
            return _not_found()
        DRAFTS.sessions[session.id] = session
    body = {
        "@odata.context": f"{base_url()}/v1.0/$metadata#microsoft.graph.uploadSession",
        "uploadUrl": f"{base_url()}/_attachment_upload/{session.id}?authtoken={session.secret}",
        "expirationDateTime": _now_iso(SESSION_LIFETIME),
        "nextExpectedRanges": ["0-"],
    }
    return json_response(body, 201)


def _range_problem(session: UploadSession, header: str, length: int) -> str:
    """Why a range PUT is refused ("" when it is the next one, well shaped)."""
    match = CONTENT_RANGE.fullmatch(header.strip())
    if match is None:
        return "Content-Range must be 'bytes {start}-{end}/{total}'."
    start, end, total = (int(v) for v in match.groups())
    if total != session.size:
        return f"The total {total} is not the size {session.size} the session was made for."
    if start != len(session.received):
        return f"Ranges go in order: the next one starts at {len(session.received)}."
    if end < start or end >= total or end - start + 1 != length:
        return "The range does not match the bytes sent (Content-Length)."
    if length > RANGE_MAX:
        return "A range may hold at most 4 MiB."
    if end < total - 1 and length % RANGE_UNIT:
        return "A range but the last must be a multiple of 320 KiB."
    return ""


def _upload_guard(session: UploadSession | None) -> Response | None:
    if session is None or not secrets.compare_digest(
        request.args.get("authtoken", ""), session.secret
    ):
        return graph_error(404, "ErrorItemNotFound", "The upload session does not exist.")
    if request.headers.get("Authorization"):
        STORE.count("attachment_upload.authorization_sent")
        return graph_error(
            401,
            "InvalidAuthenticationToken",
            "The upload URL is pre-authenticated: send no Authorization header.",
        )
    if session.expires_at < time.time():
        return graph_error(404, "ErrorItemNotFound", "The upload session has expired.")
    return None


@upload_bp.put("/_attachment_upload/<session_id>")
def upload_range(session_id: str) -> Response:
    """One range of an attachment: 200 with the next expected start, 201 at the last byte."""
    STORE.count("graph.attachments.range")
    with DRAFTS.lock:
        session = DRAFTS.sessions.get(session_id)
    failed = _upload_guard(session)
    if failed is not None:
        return failed
    if session.received:
        failed = graph_fault("attachment_upload")
        if failed is not None:
            return failed
    data = request.get_data(cache=False)
    problem = _range_problem(session, request.headers.get("Content-Range", ""), len(data))
    if problem:
        STORE.count("attachment_upload.refused")
        return graph_error(400, "ErrorInvalidRange", problem)
    with DRAFTS.lock:
        session.received += data
        if len(session.received) < session.size:
            expires = datetime.fromtimestamp(session.expires_at, UTC)
            body = {
                "expirationDateTime": expires.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "nextExpectedRanges": [str(len(session.received))],
            }
            return json_response(body, 200)
        del DRAFTS.sessions[session_id]
        draft = DRAFTS.drafts.get(session.draft_id)
        if draft is None:
            return _not_found()
        attachment = {
            "@odata.type": FILE_ATTACHMENT,
            "id": f"AAMkAtt{secrets.token_urlsafe(12)}=",
            "name": session.name,
            "contentType": session.content_type,
            "size": session.size,
            "contentBytes": base64.b64encode(bytes(session.received)).decode("ascii"),
        }
        draft.attachments.append(attachment)
    location = (
        f"{base_url()}/v1.0/users('{draft.mailbox}')/messages('{draft.id}')"
        f"/attachments('{attachment['id']}')"
    )
    return Response(status=201, headers={"Location": location})


def _recipients(message: dict) -> list[str]:
    found = []
    for key in ("toRecipients", "ccRecipients", "bccRecipients"):
        for recipient in message.get(key) or []:
            address = ((recipient or {}).get("emailAddress") or {}).get("address")
            if isinstance(address, str) and "@" in address:
                found.append(address)
    return found


@_route("/messages/<draft_id>/send", ["POST"])
def send_draft(draft_id: str, address: str | None = None) -> Response:
    """Send a draft: it leaves the mailbox's drafts for the outbox, attachments and all."""
    STORE.count("graph.drafts.send")
    mailbox, failed = _open(("Mail.Send", "Mail.Send.Shared"), address)
    if failed is not None:
        return failed
    with DRAFTS.lock:
        draft = _draft(mailbox, draft_id)
        if draft is None:
            return _not_found()
        recipients = _recipients(draft.message)
        if not recipients:
            return graph_error(400, "ErrorInvalidRecipients", "At least one recipient is required.")
        del DRAFTS.drafts[draft_id]
    OUTBOX.add(
        via="graph",
        auth_user=mailbox,
        mail_from=mailbox,
        rcpt_tos=recipients,
        subject=str(draft.message.get("subject") or ""),
        graph_message={**draft.message, "attachments": draft.attachments},
    )
    return Response(status=202)


@_route("/messages/<draft_id>", ["DELETE"])
def delete_draft(draft_id: str, address: str | None = None) -> Response:
    """Delete a draft (and its upload sessions)."""
    STORE.count("graph.drafts.delete")
    mailbox, failed = _open(("Mail.ReadWrite", "Mail.ReadWrite.Shared"), address)
    if failed is not None:
        return failed
    with DRAFTS.lock:
        if _draft(mailbox, draft_id) is None:
            return _not_found()
        del DRAFTS.drafts[draft_id]
        for key in [k for k, s in DRAFTS.sessions.items() if s.draft_id == draft_id]:
            del DRAFTS.sessions[key]
    return Response(status=204)


@control_bp.get("/drafts")
def drafts() -> Response:
    """The drafts left in every mailbox: id, mailbox, subject, attachments (name, size)."""
    with DRAFTS.lock:
        rows = [
            {
                "id": d.id,
                "mailbox": d.mailbox,
                "subject": d.message.get("subject", ""),
                "attachments": [{"name": a["name"], "size": a["size"]} for a in d.attachments],
            }
            for d in DRAFTS.drafts.values()
        ]
    return json_response({"drafts": rows})
