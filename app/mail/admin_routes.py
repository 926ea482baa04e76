"""Admin > System Email Settings, Admin > Inbound Email (a list of inbound mailboxes: Create,
each one's page, Delete) and a user's Email Settings from Admin > User Management (admins only,
audited)."""

from functools import wraps

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.admin import require_admin
from app.core.forms import ConfirmForm
from app.extensions import db
from app.mail import admin_bp, settings
from app.mail.forms import mailbox_form
from app.mail.models import GROUP, PERSONAL, SYSTEM
from app.mail.views import SettingsPage, add_routes, show

admin_bp.before_request(require_admin)

SYSTEM_PAGE = SettingsPage("emails_admin.system", SYSTEM, "System Email Settings", True, False)
MAILBOX_PAGE = SettingsPage(
    "emails_admin.mailbox", GROUP, "Inbound Email", False, True, account_arg="mailbox_id"
)
USER_PAGE = SettingsPage(
    "emails_admin.user_settings", PERSONAL, "Email Settings", True, True, subject_arg="user_id"
)


def _to_the_list_when_deleted(view):
    """A mailbox page's action whose mailbox was deleted meanwhile (Check now running while
    another tab deleted it) leads back to the list, with what the action said, not to the
    page's 404."""

    @wraps(view)
    def action(**values):
        response = view(**values)
        if request.method == "POST" and settings.inbound_mailbox(values["mailbox_id"]) is None:
            return redirect(url_for("emails_admin.inbound"))
        return response

    return action


add_routes(admin_bp, "/system", SYSTEM_PAGE)
add_routes(admin_bp, "/inbound/<int:mailbox_id>", MAILBOX_PAGE, _to_the_list_when_deleted)
add_routes(admin_bp, "/users/<int:user_id>", USER_PAGE)


@admin_bp.get("/inbound")
def inbound():
    """Inbound Email: every inbound mailbox with its address, sign-in, import and viewers."""
    return render_template(
        "mail/inbound_list.html", mailboxes=settings.inbound_mailboxes(), form=ConfirmForm()
    )


def _details(form) -> settings.MailboxDetails:
    return settings.MailboxDetails(
        name=form.name.data or "",
        shared_address=form.shared_address.data or "",
        visibility=form.visibility.data,
        viewer_ids=list(form.viewers.data or []),
    )


def _field_error(form, error: settings.MailSettingsError) -> None:
    for problem in getattr(error, "problems", [error]):  # every problem of the form at once
        target = form[problem.field] if problem.field and problem.field in form else None
        if target is None:
            flash(problem.message, "error")
        else:
            target.errors = [*target.errors, problem.message]


@admin_bp.route("/inbound/new", methods=["GET", "POST"])
def new_mailbox():
    """Create an inbound mailbox: name, shared address, who sees it; then its own page."""
    form = mailbox_form()
    if form.validate_on_submit():
        try:
            account = settings.create_mailbox(current_user, _details(form))
        except settings.MailSettingsError as error:
            _field_error(form, error)
        else:
            db.session.commit()
            flash(f"The mailbox “{account.name}” was created. Authorize it below.", "success")
            return redirect(url_for("emails_admin.mailbox", mailbox_id=account.id))
    status = 400 if form.is_submitted() else 200
    return render_template("mail/inbound_new.html", form=form), status


@admin_bp.post("/inbound/<int:mailbox_id>/details")
def save_mailbox(mailbox_id: int):
    """Save a mailbox's name, shared address and who sees its mail."""
    account = settings.inbound_mailbox(mailbox_id) or abort(404)
    form = mailbox_form(account)
    if form.validate_on_submit():
        try:
            settings.save_mailbox(current_user, account, _details(form))
        except settings.MailSettingsError as error:
            _field_error(form, error)
        else:
            db.session.commit()
            flash("The mailbox was saved.", "success")
            return redirect(url_for("emails_admin.mailbox", mailbox_id=account.id))
    return show(MAILBOX_PAGE, mailbox=form, status=400)


@admin_bp.route("/inbound/<int:mailbox_id>/delete", methods=["GET", "POST"])
def delete_mailbox(mailbox_id: int):
    """Delete a mailbox, after a confirmation that says what goes and what stays."""
    account = settings.inbound_mailbox(mailbox_id) or abort(404)
    form = ConfirmForm()
    if form.validate_on_submit():
        name = account.name
        removed = settings.delete_mailbox(current_user, account)
        db.session.commit()
        flash(
            f"The mailbox “{name}” was deleted with its {removed} imported "
            f"message{'' if removed == 1 else 's'}.",
            "success",
        )
        return redirect(url_for("emails_admin.inbound"))
    status = 400 if form.is_submitted() else 200
    return render_template("mail/inbound_delete.html", account=account, form=form), status
