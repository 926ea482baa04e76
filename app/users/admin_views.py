"""Admin > User Management: list, create, edit (the profile's tabs), deactivate, delete."""

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.admin import bp
from app.core.forms import ConfirmForm
from app.extensions import db
from app.users import directory
from app.users.forms import CreateUserForm, DeleteUserForm
from app.users.models import User
from app.users.tabs import admin_context, dispatch


@bp.route("/users")
def user_list():
    """Users, paginated and searchable by username, name or email."""
    query = request.args.get("q", "")[:100]
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), 1_000_000)
    pagination = directory.search_users(query, max(page, 1), current_app.config["USERS_PER_PAGE"])
    return render_template("users/users.html", pagination=pagination, q=query)


@bp.route("/users/new", methods=["GET", "POST"])
def create_user():
    """Create a user who can sign in at once."""
    form = CreateUserForm()
    if form.validate_on_submit():
        try:
            user = directory.create_user(
                current_user,
                form.username.data.strip(),
                password=form.password.data,
                is_admin=form.is_admin.data,
                **form.profile_data(),
            )
        except directory.UserError as error:
            form[error.field].errors.append(error.message)
        else:
            db.session.commit()
            flash(f"User {user.username} was created.", "success")
            return redirect(url_for("admin.edit_user", user_id=user.id, tab="user-profile"))
    status = 400 if form.errors else 200
    return render_template("users/user_new.html", form=form), status


@bp.route("/users/<int:user_id>/edit")
def edit_user_default(user_id: int):
    """An admin's Edit page opens on the User Profile tab."""
    return redirect(url_for("admin.edit_user", user_id=user_id, tab="user-profile"))


@bp.route("/users/<int:user_id>/edit/<tab>", methods=["GET", "POST"])
def edit_user(user_id: int, tab: str):
    """An admin's Edit page of a user: the same tabs as the user's own."""
    subject = db.get_or_404(User, user_id)
    return dispatch(tab, admin_context(subject))


@bp.route("/users/<int:user_id>/deactivate", methods=["POST"])
def toggle_active(user_id: int):
    """Deactivate (or reactivate) a user from the list."""
    subject = db.get_or_404(User, user_id)
    if ConfirmForm().validate_on_submit():
        try:
            directory.update_profile(current_user, subject, active=not subject.active)
        except directory.UserError as error:
            flash(error.message, "error")
        else:
            db.session.commit()
            state = "reactivated" if subject.active else "deactivated"
            flash(f"User {subject.username} was {state}.", "success")
    return redirect(request.referrer if _is_local(request.referrer) else url_for("admin.user_list"))


def _is_local(url: str | None) -> bool:
    return bool(url) and url.startswith(current_app.config["PUBLIC_BASE_URL"] + "/admin/")


@bp.route("/users/<int:user_id>/delete", methods=["GET", "POST"])
def delete_user(user_id: int):
    """Confirm, then delete a user with everything they own (never the last admin)."""
    subject = db.get_or_404(User, user_id)
    form = DeleteUserForm()
    if form.validate_on_submit():
        try:
            username = subject.username
            directory.delete_user(current_user, subject)
        except directory.UserError as error:
            flash(error.message, "error")
            return render_template("users/user_delete.html", subject=subject, form=form), 409
        db.session.commit()
        flash(f"User {username} was deleted.", "success")
        return redirect(url_for("admin.user_list"))
    return render_template("users/user_delete.html", subject=subject, form=form)
