"""Profile view and its Edit tabs."""

from flask import redirect, render_template, url_for
from flask_login import current_user, login_required

from app.users import profile_bp as bp
from app.users.tabs import dispatch, own_context


@bp.route("/")
@login_required
def view():
    """The signed-in user's record, read-only, with an Edit button."""
    return render_template("users/view.html", subject=current_user._get_current_object())


@bp.route("/edit")
@login_required
def edit_default():
    """Edit opens on the User Profile tab."""
    return redirect(url_for("profile.edit", tab="user-profile"))


@bp.route("/edit/<tab>", methods=["GET", "POST"])
@login_required
def edit(tab: str):
    """The Edit page of the signed-in user; each tab has its own URL."""
    return dispatch(tab, own_context())
