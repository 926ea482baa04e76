"""The app's models, one module per area."""

from app.models.audit import AuditEvent
from app.models.connector import Connector
from app.models.external_account import Credential, ExternalAccount
from app.models.mail import MailAccount, MailAttachment, MailGraphAuthorization, MailMessage
from app.models.oauth_flow import OAuthFlow
from app.models.user import LoginThrottle, User, UserSession

__all__ = [
    "AuditEvent",
    "Connector",
    "Credential",
    "ExternalAccount",
    "LoginThrottle",
    "MailAccount",
    "MailAttachment",
    "MailGraphAuthorization",
    "MailMessage",
    "OAuthFlow",
    "User",
    "UserSession",
]
