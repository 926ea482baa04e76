"""Exchange Online: the mail hosts of each cloud (the only hosts a mail token goes to beside
MAIL_ALLOWED_HOSTS), the servers pre-filled for a mailbox, what its SMTP replies mean, and
sending through Graph (`POST /me/sendMail`, scope Mail.Send), and a message with large
attachments as Microsoft documents it: a draft, an upload session per file of 3 MB or more, then
`send` (scope Mail.ReadWrite)."""

import base64
import json
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote

import requests
from flask import current_app

from app.connect.oidc import retry_after
from app.connect.provider import ProviderError
from app.microsoft import graph

# Server, port and security pre-filled for an Exchange Online mailbox (editable per account).
EXCHANGE_SMTP = ("smtp.office365.com", 587, "starttls")
EXCHANGE_IMAP = ("outlook.office365.com", 993, "ssl")
# Microsoft's SMTP and IMAP hosts per cloud, keyed by the Outlook resource the mail scopes are
# on (MICROSOFT_OUTLOOK_RESOURCE): worldwide, US Government (GCC High/DoD), China (21Vianet).
EXCHANGE_MAIL_HOSTS = {
    "https://outlook.office.com": ("smtp.office365.com", "outlook.office365.com"),
    "https://outlook.office365.us": ("smtp.office365.us", "outlook.office365.us"),
    "https://partner.outlook.cn": ("smtp.partner.outlook.cn", "partner.outlook.cn"),
}
# Graph takes a request body of at most 4 MB: attachments totalling less than 3 MB travel inline
# (base64) in sendMail; a file of 3 MB or more goes through an upload session of its draft, in
# ranges of a multiple of 320 KiB and at most 4 MiB (12 x 320 KiB = 3.75 MiB).
INLINE_ATTACHMENTS_MAX = 3 * 1024 * 1024
# Graph refuses a request body over 4 MB; base64 makes a file a third larger, so a file just
# under 3 MB, or a small one beside a long body, can pass it: those go another way.
REQUEST_MAX = 4 * 1024 * 1024
ATTACHMENT_CHUNK = 12 * graph.UPLOAD_CHUNK_UNIT
MAX_RETRY_WAIT = 10.0  # seconds of Retry-After waited out per request before giving up
FILE_ATTACHMENT = "#microsoft.graph.fileAttachment"
# Enhanced status codes Exchange Online answers SMTP AUTH with, in words.
SMTP_AUTH_DISABLED = "5.7.139"
SMTP_AUTH_CODES = {
    SMTP_AUTH_DISABLED: "SMTP AUTH is turned off for this mailbox or tenant; an Exchange "
    "administrator must allow Authenticated SMTP.",
    "5.7.57": "The server wants the client authenticated before sending.",
    "5.2.252": "The person who authorized this account may not send as the From address "
    "(SendAsDenied): give them Send As on that mailbox in Exchange admin center > Recipients > "
    "Mailboxes > the mailbox > Delegation > Send as (it can take up to an hour to apply).",
}


def exchange_mail_hosts() -> tuple[str, str] | tuple[()]:
    """The configured cloud's (SMTP host, IMAP host): the only hosts an Exchange Online mail
    token goes to besides MAIL_ALLOWED_HOSTS; () for a resource we do not know."""
    resource = current_app.config["MICROSOFT_OUTLOOK_RESOURCE"].rstrip("/").lower()
    return EXCHANGE_MAIL_HOSTS.get(resource, ())


def exchange_servers() -> tuple[tuple[str, int, str], tuple[str, int, str]]:
    """The SMTP and IMAP (host, port, security) pre-filled for Exchange Online in this cloud."""
    hosts = exchange_mail_hosts() or (EXCHANGE_SMTP[0], EXCHANGE_IMAP[0])
    return (hosts[0], *EXCHANGE_SMTP[1:]), (hosts[1], *EXCHANGE_IMAP[1:])


def smtp_auth_turned_off(reply: str) -> bool:
    """Whether Exchange refused SMTP AUTH because it is turned off for the mailbox or tenant
    (535 5.7.139): an administrator's setting that no new token changes."""
    return SMTP_AUTH_DISABLED in reply


def smtp_reply_words(reply: str) -> str:
    """Exchange Online's meaning of an SMTP reply, when we know it (else "")."""
    return next((words for code, words in SMTP_AUTH_CODES.items() if code in reply), "")


def send_mail(access_token: str, message: dict, mailbox: str = "") -> None:
    """`POST /me/sendMail`, or `/users/{mailbox}/sendMail` to send as a shared mailbox (scope
    Mail.Send.Shared and Send As on it): 202 Accepted, or ProviderError (status 401 when Graph
    refused the token; a 403, no Mail.Send or no Send As, in words). `message` is Graph's
    message resource."""
    response = graph.call(
        "POST",
        f"{mailbox_path(mailbox)}/sendMail",
        access_token,
        json={"message": message, "saveToSentItems": True},
    )
    if response.status_code != 202:
        raise _refusal(response, mailbox)


def _refusal(response: requests.Response, mailbox: str) -> ProviderError:
    """Graph's refusal to send: a shared mailbox's 403 (no Send As) and another 403 (no
    Mail.Send) in words, anything else as Graph said it."""
    if response.status_code != 403:
        return graph.error(response)
    code = _graph_error_code(response)
    if mailbox and code in SEND_AS_CODES:
        return ProviderError(graph_send_as_refused(mailbox, code), status=403)
    return ProviderError(SEND_REFUSED, status=403)


# --- a shared mailbox reached with a delegate's sign-in: Exchange Online's refusals in words ----

# IMAP: the sign-in was accepted, but Exchange will not open the mailbox (every later command).
IMAP_NOT_CONNECTED = "User is authenticated but not connected."
# Graph: sendMail of /users/{shared} without Send As (or without Mail.Send.Shared).
SEND_AS_CODES = ("ErrorSendAsDenied", "ErrorAccessDenied")
EXCHANGE_ADMIN_CENTER = "Exchange admin center > Recipients > Mailboxes"


def shared_mailbox_refused(mailbox: str, delegate: str, reply: str) -> str:
    """Why Exchange refused IMAP to a shared mailbox though the delegate's authorization was
    just renewed (so it works). Exchange answers `NO AUTHENTICATE failed.` alike for a refused
    token, a `user=` mailbox the token's owner has no Full Access to, and a mailbox with IMAP
    turned off: with the token ruled out, both remaining causes are named."""
    return (
        f"Exchange Online refused to open {mailbox} with the sign-in of {delegate} "
        f"(it answered “{reply}”), although that sign-in is valid: it was just renewed. "
        f"Either {delegate} has no Full Access to {mailbox} ({EXCHANGE_ADMIN_CENTER} > "
        f"{mailbox} > Delegation > Read and manage), or IMAP is turned off for {mailbox} "
        f"({EXCHANGE_ADMIN_CENTER} > {mailbox} > Email apps > IMAP). Nothing was imported "
        "and nothing imported before was lost; after the fix, Check now continues where the "
        "import stopped."
    )


def imap_reply_words(reply: str, mailbox: str = "") -> str:
    """Exchange Online's meaning of an IMAP answer, when we know it (else "")."""
    if IMAP_NOT_CONNECTED.lower() in reply.lower():
        where = mailbox or "this mailbox"
        return (
            f"Exchange Online accepted the sign-in but will not open {where}: the person "
            f"who signed in has no access to it (for a shared mailbox, Full Access), the "
            f"address is not theirs, or IMAP is turned off for {where} "
            f"({EXCHANGE_ADMIN_CENTER} > {where} > Email apps > IMAP)."
        )
    return ""


def graph_send_as_refused(mailbox: str, code: str) -> str:
    """Graph's 403 for `/users/{shared}/sendMail`, in words."""
    why = f" ({code})" if code else ""
    return (
        f"Microsoft Graph did not let the signed-in person send as {mailbox}{why}: they need "
        f"Send As on {mailbox} ({EXCHANGE_ADMIN_CENTER} > {mailbox} > Delegation > Send as), "
        "and the authorization must include Mail.Send.Shared (authorize Microsoft Graph "
        "again if it was given before the shared address was set). The message is kept."
    )


def _graph_error_code(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else ""
    return code if isinstance(code, str) else ""


def graph_message(
    *, subject: str, body: str, to: list[str], cc: list[str], html: bool = False
) -> dict:
    """A Graph message resource for sendMail."""
    return {
        "subject": subject,
        "body": {"contentType": "HTML" if html else "Text", "content": body},
        "toRecipients": [{"emailAddress": {"address": a}} for a in to],
        "ccRecipients": [{"emailAddress": {"address": a}} for a in cc],
    }


@dataclass(frozen=True)
class OutgoingFile:
    """A file to attach: its name, MIME type and bytes."""

    name: str
    content_type: str
    content: bytes


def file_attachment(attachment: OutgoingFile) -> dict:
    """Graph's fileAttachment resource (bytes in base64) for sendMail or a draft."""
    return {
        "@odata.type": FILE_ATTACHMENT,
        "name": attachment.name,
        "contentType": attachment.content_type,
        "contentBytes": base64.b64encode(attachment.content).decode("ascii"),
    }


def fits_inline(attachments: list[OutgoingFile], message: dict) -> bool:
    """Whether the attachments can travel inside one sendMail request: under 3 MB in all,
    and the request with `message` (its body) and their base64 under Graph's 4 MB."""
    if sum(len(a.content) for a in attachments) >= INLINE_ATTACHMENTS_MAX:
        return False
    inline = {**message, "attachments": [file_attachment(a) for a in attachments]}
    return request_size({"message": inline, "saveToSentItems": True}) < REQUEST_MAX


def request_size(body: dict) -> int:
    """The bytes of `body` as the JSON request that requests sends."""
    return len(json.dumps(body).encode())


def mailbox_path(address: str = "") -> str:
    """`/me`, or `/users/{address}` for a mailbox the token's user acts on (a shared one)."""
    return f"/users/{quote(address, safe='@')}" if address else "/me"


def _patiently(send: Callable[[], requests.Response]) -> requests.Response:
    """Send a request; on 429/503 wait out Retry-After (at most MAX_RETRY_WAIT in all) and
    send it again, else return the answer as it is."""
    waited = 0.0
    while True:
        response = send()
        if response.status_code not in (429, 503):
            return response
        wait = max(1, retry_after(response) or 1)
        if waited + wait > MAX_RETRY_WAIT:
            return response
        response.close()
        time.sleep(wait)
        waited += wait


@contextmanager
def _refused_as(words: str):
    """Graph's 403 (a permission the token lacks) within the block, as ProviderError(words)."""
    try:
        yield
    except ProviderError as error:
        if error.status != 403:
            raise
        raise ProviderError(words, status=403) from error


def _graph(method: str, path: str, access_token: str, expected: int, **kwargs) -> dict:
    """One Graph call with the token, waiting out 429/503; the JSON answer ({} when it has
    none), or ProviderError when the status is not `expected`."""
    response = _patiently(lambda: graph.call(method, path, access_token, **kwargs))
    if response.status_code != expected:
        raise graph.error(response)
    try:
        body = response.json() if response.content else {}
    except ValueError:
        body = {}
    return body if isinstance(body, dict) else {}


# Graph's 403 in words: sending (sendMail, or a draft's send) needs Mail.Send, preparing a
# draft Mail.ReadWrite (a shared mailbox's refusals are worded by graph_send_as_refused).
SEND_REFUSED = (
    "Microsoft Graph refused to send the message, which needs the permission to send mail as "
    "you (Mail.Send). Press Authorize under Microsoft Graph authorization in Email Settings "
    "again, then send the message again."
)
DRAFT_REFUSED = (
    "Microsoft Graph refused to prepare the message: attachments of 3 MB or more in all go "
    "through a draft, which needs the permission to read and write your mail (Mail.ReadWrite). "
    "Press Authorize under Microsoft Graph authorization in Email Settings again, then send "
    "the message again."
)


class DraftSender:
    """Send a message whose attachments are too large for sendMail, as Microsoft documents:
    create a draft (small files inline), attach each file of 3 MB or more through an upload
    session, then send the draft. A failure deletes the draft (best effort)."""

    def __init__(self, access_token: str, mailbox: str = ""):
        self.access_token = access_token
        self.mailbox = mailbox
        self.base = mailbox_path(mailbox)
        self.draft_id = ""

    def send(self, message: dict, attachments: list[OutgoingFile]) -> None:
        """Draft, attachments, send; ProviderError (the draft deleted) when a step fails."""
        inline, posted, large = self._split(message, attachments)
        draft = {**message, "attachments": [file_attachment(a) for a in inline]}
        with _refused_as(DRAFT_REFUSED):
            created = _graph("POST", f"{self.base}/messages", self.access_token, 201, json=draft)
        self.draft_id = str(created.get("id") or "")
        if not self.draft_id:
            raise ProviderError("Microsoft Graph did not create the draft. Please try again.")
        try:
            with _refused_as(DRAFT_REFUSED):
                for attachment in posted:
                    self._post_attachment(attachment)
                for attachment in large:
                    self._upload(attachment)
            self._send_draft()
        except ProviderError:
            self.delete_draft()
            raise

    def _send_draft(self) -> None:
        send = f"{self._draft}/send"
        response = _patiently(lambda: graph.call("POST", send, self.access_token))
        if response.status_code != 202:
            raise _refusal(response, self.mailbox)

    @staticmethod
    def _split(message: dict, attachments: list[OutgoingFile]) -> tuple[list, list, list]:
        """(inline in the draft, posted one each, uploaded): files under 3 MB go inline while
        the draft's request stays under 4 MB, else each in its own POST when that fits; the
        rest, and every file of 3 MB or more, through an upload session."""
        inline, posted, large = [], [], []
        size, total = request_size({**message, "attachments": []}), 0
        for attachment in attachments:
            length = len(attachment.content)
            encoded = request_size(file_attachment(attachment)) + 2  # its comma and room
            if length >= INLINE_ATTACHMENTS_MAX or encoded >= REQUEST_MAX:
                large.append(attachment)
            elif total + length < INLINE_ATTACHMENTS_MAX and size + encoded < REQUEST_MAX:
                inline.append(attachment)
                size, total = size + encoded, total + length
            else:
                posted.append(attachment)
        return inline, posted, large

    @property
    def _draft(self) -> str:
        return f"{self.base}/messages/{quote(self.draft_id, safe='')}"

    def _post_attachment(self, attachment: OutgoingFile) -> None:
        body = file_attachment(attachment)
        _graph("POST", f"{self._draft}/attachments", self.access_token, 201, json=body)

    def _upload(self, attachment: OutgoingFile) -> None:
        """createUploadSession, then PUT the bytes in order to its pre-authenticated URL."""
        item = {
            "attachmentType": "file",
            "name": attachment.name,
            "size": len(attachment.content),
            "contentType": attachment.content_type,
        }
        session = _graph(
            "POST",
            f"{self._draft}/attachments/createUploadSession",
            self.access_token,
            201,
            json={"AttachmentItem": item},
        )
        upload_url = session.get("uploadUrl")
        if not isinstance(upload_url, str) or not upload_url.startswith(("https://", "http://")):
            raise ProviderError("Microsoft Graph did not start the upload. Please try again.")
        total = len(attachment.content)
        for start in range(0, total, ATTACHMENT_CHUNK):
            end = min(start + ATTACHMENT_CHUNK, total) - 1
            response = _patiently(
                lambda s=start, e=end: upload_range(upload_url, attachment.content, s, e, total)
            )
            last = end == total - 1
            if response.status_code != (201 if last else 200):
                raise _upload_error(response, attachment.name)

    def delete_draft(self) -> None:
        """Delete the draft (best effort: a failure here leaves it in Drafts, nothing else)."""
        if not self.draft_id:
            return
        try:
            graph.call("DELETE", self._draft, self.access_token).close()
        except ProviderError:
            pass


def upload_range(upload_url: str, content: bytes, start: int, end: int, total: int):
    """PUT bytes `start`..`end` to a pre-authenticated upload URL: no Authorization header."""
    headers = {
        "Content-Range": f"bytes {start}-{end}/{total}",
        "Content-Type": "application/octet-stream",
    }
    try:
        return graph.session.put(
            upload_url,
            data=content[start : end + 1],
            headers=headers,
            allow_redirects=False,
        )
    except requests.Timeout as exc:
        raise ProviderError(
            "Microsoft did not answer in time while an attachment was uploaded. Please try "
            "again in a moment.",
            transient=True,
        ) from exc
    except requests.RequestException as exc:
        raise ProviderError(
            "Microsoft could not be reached while an attachment was uploaded. Please try "
            "again in a moment.",
            transient=True,
        ) from exc


def _upload_error(response: requests.Response, name: str) -> ProviderError:
    """An upload URL's refusal: its own token expired or the range was refused, never the
    user's access token (a 401 here is no reason to refresh it)."""
    status = response.status_code
    return ProviderError(
        f"Uploading the attachment “{name}” failed: Microsoft answered "
        f"{graph.error_message(response).rstrip('.')}.",
        status=0 if status == 401 else status,
        retry_after=retry_after(response),
        transient=status in graph.TRANSIENT_STATUSES,
    )
