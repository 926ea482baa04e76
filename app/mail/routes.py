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
FOLDERS = {"mine": "My Emails", "group": "Group Inbox"}


@bp.route("/")
@login_required
def index():
    """The Emails list: my sent and imported messages, or the group mailbox's."""
    folder = request.args.get("folder", "mine")
    if folder not in FOLDERS:
        folder = "mine"
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), 1_000_000)
    pagination = messages.messages_for(
        current_user, folder, page, current_app.config.get("EMAILS_PER_PAGE", 25)
    )
    return render_template("mail/list.html", pagination=pagination, folder=folder, folders=FOLDERS)


@bp.route("/<int:message_id>")
@login_required
def detail(message_id: int):
    """One message: addresses, status (and why it failed), body, attachments."""
    message = messages.message_for(current_user, message_id) or abort(404)
    return render_template(
        "mail/detail.html",
        message=message,
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
    try:
        file = attachments.open_attachment(message, found)
    except attachments.AttachmentGone as gone:
        return error_response(404, gone.message)
    except MailError as error:
        return error_response(502, f"The attachment could not be fetched: {error.message}")
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


@bp.route("/compose", methods=["GET", "POST"])
@login_required
def compose():
    """Compose: To, Cc, Subject, Body; stored first, then sent."""
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
            )
        except settings.MailSettingsError as error:
            if error.field in ("to", "cc", "subject"):
                form[error.field].errors = [*form[error.field].errors, error.message]
            else:
                flash(error.message, "error")
            status = error.status
        else:
            _flash_outcome(message)
            return redirect(url_for("emails.detail", message_id=message.id))
    elif form.errors:
        status = 400
    return render_template("mail/compose.html", form=form), status
