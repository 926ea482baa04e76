"""Emails forms: outbound and inbound settings, an inbound mailbox's details, Authorize,
Compose."""

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    MultipleFileField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length, NumberRange, Optional

from app.mail.models import (
    EXCHANGE_ONLINE,
    NONE,
    OTHER,
    SEND_GRAPH,
    SEND_SMTP,
    SSL,
    STARTTLS,
    VISIBLE_TO_ALL,
    VISIBLE_TO_CHOSEN,
)

SECURITY_CHOICES = {SSL: "SSL", STARTTLS: "STARTTLS", NONE: "None (this machine only)"}
PORT = [
    InputRequired(message="Enter the port."),
    NumberRange(1, 65535, "Ports go from 1 to 65535."),
]


class OutboundForm(FlaskForm):
    """Outbound: Email Provider, From Name, SMTP server, Send via (and the system's fallback)."""

    email_provider = SelectField(
        "Email Provider", choices={EXCHANGE_ONLINE: "Exchange Online", OTHER: "Other"}
    )
    from_name = StringField("From Name", validators=[Optional(), Length(max=200)])
    smtp_host = StringField(
        "SMTP Server", validators=[DataRequired(message="Enter the SMTP server."), Length(max=253)]
    )
    smtp_port = IntegerField("SMTP Port", validators=PORT)
    smtp_security = SelectField("SMTP Security", choices=SECURITY_CHOICES)
    username = StringField("Username", validators=[Optional(), Length(max=254)])
    password = PasswordField("Password", validators=[Optional(), Length(max=500)])
    send_via = RadioField(
        "Send via",
        choices={SEND_SMTP: "SMTP (XOAUTH2)", SEND_GRAPH: "Microsoft Graph"},
        default=SEND_SMTP,
    )
    allow_user_fallback = BooleanField(
        "Users without an email account of their own may send through this account"
    )
    shared_address = StringField("Send as shared mailbox", validators=[Optional(), Length(max=254)])


class InboundForm(FlaskForm):
    """Inbound: IMAP server, folder, and whether to import the mailbox into Emails."""

    imap_host = StringField(
        "IMAP Server", validators=[DataRequired(message="Enter the IMAP server."), Length(max=253)]
    )
    imap_port = IntegerField("IMAP Port", validators=PORT)
    imap_security = SelectField("IMAP Security", choices=SECURITY_CHOICES)
    imap_folder = StringField("Folder", validators=[Optional(), Length(max=200)], default="INBOX")
    import_enabled = BooleanField("Import into Emails")


class MailboxForm(FlaskForm):
    """An inbound mailbox: its name, the shared mailbox it is (if any), who sees its mail."""

    name = StringField("Name", validators=[DataRequired(message="Enter a name."), Length(max=200)])
    shared_address = StringField("Shared mailbox address", validators=[Optional(), Length(max=254)])
    visibility = RadioField(
        "Who sees its mail",
        choices={VISIBLE_TO_ALL: "All users", VISIBLE_TO_CHOSEN: "Chosen users"},
        default=VISIBLE_TO_ALL,
    )
    viewers = SelectMultipleField("Users who see its mail", coerce=int, validate_choice=False)


def mailbox_form(account=None, users=None) -> MailboxForm:
    """The mailbox form, filled from a stored mailbox when given; its user list is every
    active user (`users`, else asked of settings)."""
    from app.mail import settings

    form = MailboxForm(obj=account) if account is not None else MailboxForm()
    if account is not None and not form.is_submitted():
        form.viewers.data = [u.id for u in account.viewers]
    people = users if users is not None else settings.active_users()
    form.viewers.choices = [(u.id, f"{u.full_name} ({u.username})") for u in people]
    return form


class AuthorizeForm(FlaskForm):
    """Authorize in the pop-up (or this window when the pop-up is blocked)."""

    mode = HiddenField(default="redirect", validators=[AnyOf(["popup", "redirect"])])


class ComposeForm(FlaskForm):
    """Compose: To, Cc, Subject, Body, Attachments (several files; their total is checked by
    the sending service against MAIL_MAX_ATTACHMENT_BYTES)."""

    to = StringField("To", validators=[DataRequired(message="Enter at least one recipient.")])
    cc = StringField("Cc", validators=[Optional(), Length(max=5000)])
    subject = StringField("Subject", validators=[Optional(), Length(max=998)])
    body = TextAreaField("Body", validators=[Optional(), Length(max=1_000_000)])
    attachments = MultipleFileField("Attachments")
