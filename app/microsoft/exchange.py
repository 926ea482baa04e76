"""Exchange Online: the mail hosts of each cloud (the only hosts a mail token goes to beside
MAIL_ALLOWED_HOSTS), the servers pre-filled for a mailbox, what its SMTP replies mean, and
sending through Graph (`POST /me/sendMail`, scope Mail.Send)."""

from flask import current_app

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
# Enhanced status codes Exchange Online answers SMTP AUTH with, in words.
SMTP_AUTH_CODES = {
    "5.7.139": "SMTP AUTH is turned off for this mailbox or tenant; an Exchange administrator "
    "must allow Authenticated SMTP.",
    "5.7.57": "The server wants the client authenticated before sending.",
    "5.2.252": "This mailbox may not send as that address (SendAsDenied).",
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


def smtp_reply_words(reply: str) -> str:
    """Exchange Online's meaning of an SMTP reply, when we know it (else "")."""
    return next((words for code, words in SMTP_AUTH_CODES.items() if code in reply), "")


def send_mail(access_token: str, message: dict) -> None:
    """`POST /me/sendMail`: 202 Accepted, or ProviderError (status 401 when Graph refused the
    token). `message` is Graph's message resource."""
    response = graph.call(
        "POST", "/me/sendMail", access_token, json={"message": message, "saveToSentItems": True}
    )
    if response.status_code != 202:
        raise graph.error(response)


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
