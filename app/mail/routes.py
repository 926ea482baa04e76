"""Emails: the list, a message, Compose, retry, and the user's own Email Settings."""

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required

from app.core.errors import error_response
from app.core.forms import ConfirmForm
from app.drive.presenters import attachment as content_disposition
from app.mail import attachments, bp, messages, sending, settings
from app.mail.forms import ComposeForm
from app.mail.models import PERSONAL, SENT
from app.mail.transport import MailError
from app.mail.views import SettingsPage, add_routes

SETTINGS_PAGE = SettingsPage("emails.settings", PERSONAL, "Email Settings", True, True)
add_routes(bp, "/settings", SETTINGS_PAGE, decorate=login_required)
# Compose's text fields (a Body of up to a million characters) and the form's framing, beside
# the attachments: its request may be this much larger than MAIL_MAX_ATTACHMENT_BYTES.
COMPOSE_TEXT_BYTES = 5 * 1024 * 1024


@bp.route("/")
@login_required
def index():
    """The Emails list: my sent and imported messages, or those of an inbound mailbox I may
    see (any other mailbox in the URL is a 404, as if it did not exist)."""
    folder = request.args.get("folder", messages.MINE)
    mailboxes = messages.visible_mailboxes(current_user)
    mailbox = None if folder == messages.MINE else messages.mailbox_named(mailboxes, folder)
    if folder != messages.MINE and mailbox is None:
        abort(404)
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), 1_000_000)
    pagination = messages.messages_for(
        current_user, mailbox, page, current_app.config.get("EMAILS_PER_PAGE", 25)
    )
    folders = {messages.MINE: "My Emails", **{str(m.id): m.name for m in mailboxes}}
    current = messages.MINE if mailbox is None else str(mailbox.id)
    return render_template("mail/list.html", pagination=pagination, folder=current, folders=folders)


@bp.route("/<int:message_id>")
@login_required
def detail(message_id: int):
    """One message: addresses, status (and why it failed), body, attachments."""
    message = messages.message_for(current_user, message_id) or abort(404)
    mailbox = messages.inbound_mailbox_of(message)
    return render_template(
        "mail/detail.html",
        message=message,
        mailbox=mailbox,
        back_url=url_for("emails.index", folder=mailbox.id if mailbox else None),
        form=ConfirmForm(),
        can_retry=sending.can_retry(message),
    )


@bp.route("/<int:message_id>/attachments/<int:attachment_id>")
@login_required
def attachment(message_id: int, attachment_id: int):
    """Download an attachment, with the message page's access rule; an imported one is
    fetched from the mailbox now and streamed (the Cloud Drive's download headers)."""
    message = messages.message_for(current_user, message_id) or abort(404)
    found = attachments.attachment_of(message, attachment_id) or abort(404)
    back = ("Back to the message", url_for("emails.detail", message_id=message.id))
    try:
        file = attachments.open_attachment(message, found)
    except attachments.AttachmentGone as gone:
        return error_response(404, gone.message, back)
    except MailError as error:
        return error_response(502, f"The attachment could not be fetched: {error.message}", back)
    response = Response(file.chunks, mimetype=file.content_type, direct_passthrough=True)
    if file.length is not None:
        response.content_length = file.length
    response.headers["Content-Disposition"] = content_disposition(file.filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/<int:message_id>/retry", methods=["POST"])
@login_required
def retry(message_id: int):
    """Send a failed message again."""
    message = messages.message_for(current_user, message_id) or abort(404)
    if message.user_id != current_user.id or not ConfirmForm().validate_on_submit():
        abort(403 if message.user_id != current_user.id else 400)
    try:
        sending.retry(current_user, message)
    except settings.MailSettingsError as error:
        flash(error.message, "error")
        return redirect(url_for("emails.detail", message_id=message.id))
    _flash_outcome(message)
    return redirect(url_for("emails.detail", message_id=message.id))


def _flash_outcome(message) -> None:
    if message.status == SENT:
        flash("The message was sent.", "success")
    else:
        flash(
            f"The message could not be sent: {message.status_reason} It is kept; "
            "you can try again.",
            "error",
        )


@bp.url_value_preprocessor
def _compose_limits(endpoint, _values) -> None:
    """Compose's request may carry MAIL_MAX_ATTACHMENT_BYTES of files beside its text; every
    other request keeps the app's MAX_CONTENT_LENGTH. Set here because this runs before any
    before_request (CSRFProtect reads the form there). Only a multipart body gets the larger
    limit: Werkzeug reads a urlencoded one whole, with max_content_length its only bound."""
    if endpoint == "emails.compose" and request.mimetype == "multipart/form-data":
        request.max_content_length = max(
            sending.attachment_limit() + COMPOSE_TEXT_BYTES,
            current_app.config["MAX_CONTENT_LENGTH"] or 0,
        )
        request.max_form_memory_size = COMPOSE_TEXT_BYTES


@bp.errorhandler(413)
def _too_large(_error):
    """A Compose request over the limit, in words, with the way back (nothing was stored)."""
    if request.endpoint != "emails.compose":
        return error_response(413)
    limit = sending.size_words(sending.attachment_limit())
    message = (
        f"The message is too large to send: its attachments may total at most {limit}. "
        "Nothing was sent or stored. Go back to Compose, attach fewer or smaller files and "
        "send again."
    )
    return error_response(413, message, ("Back to Compose", url_for("emails.compose")))


def _attached(form: ComposeForm) -> list[sending.NewAttachment]:
    """The files picked in Compose (a file input left empty sends one without a name)."""
    return [
        sending.NewAttachment(file.filename, file.mimetype, file.read())
        for file in form.attachments.data or []
        if getattr(file, "filename", "")
    ]


@bp.route("/compose", methods=["GET", "POST"])
@login_required
def compose():
    """Compose: To, Cc, Subject, Body, Attachments; stored first, then sent."""
    form = ComposeForm()
    status = 200
    if form.validate_on_submit():
        try:
            account = sending.sending_account(current_user)
            message = sending.compose(
                current_user,
                account,
                to=form.to.data,
                cc=form.cc.data or "",
                subject=form.subject.data or "",
                body=form.body.data or "",
                attachments=_attached(form),
            )
        except settings.MailSettingsError as error:
            if error.field in ("to", "cc", "subject", "attachments"):
                form[error.field].errors = [*form[error.field].errors, error.message]
            else:
                flash(error.message, "error")
            status = error.status
        else:
            _flash_outcome(message)
            return redirect(url_for("emails.detail", message_id=message.id))
    elif form.errors:
        status = 400
    return render_template("mail/compose.html", form=form, **_compose_page()), status


def _compose_page() -> dict:
    """What Compose's attachment picker shows and checks: the limit, in bytes and in words."""
    limit = sending.attachment_limit()
    return {"attachment_limit": limit, "attachment_limit_words": sending.size_words(limit)}
