"""Profile view and its Edit tabs."""

from flask import redirect, render_template, url_for
from flask_login import current_user, login_required

from app.profile import bp
from app.profile.tabs import EditContext, dispatch


@bp.route("/")
@login_required
def view():
    """The signed-in user's record, read-only, with an Edit button."""
    return render_template("profile/view.html", subject=current_user)


@bp.route("/edit")
@login_required
def edit_default():
    """Edit opens on the User Profile tab."""
    return redirect(url_for("profile.edit", tab="user-profile"))


@bp.route("/edit/<tab>", methods=["GET", "POST"])
@login_required
def edit(tab: str):
    """The Edit page of the signed-in user; each tab has its own URL."""
    user = current_user._get_current_object()
    context = EditContext(
        subject=user,
        actor=user,
        tab_url=lambda slug: url_for("profile.edit", tab=slug),
        cancel_url=url_for("profile.view"),
        as_admin=False,
    )
    return dispatch(tab, context)
