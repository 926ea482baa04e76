"""Login and logout views."""

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.core.forms import ConfirmForm
from app.core.security import is_safe_next
from app.extensions import db
from app.users import auth_bp as bp
from app.users import directory, sessions
from app.users.forms import LoginForm


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the login form; sign in and go to a safe `next` or Home."""
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm(next=request.args.get("next", ""))
    status = 200
    if form.validate_on_submit():
        result = directory.authenticate(
            form.username.data, form.password.data, request.remote_addr or ""
        )
        if result.user is not None:
            sessions.begin(result.user)
        db.session.commit()  # the new session, or the throttle's count of the failure
        if result.user is not None:
            target = form.next.data
            return redirect(target if is_safe_next(target) else url_for("main.home"))
        flash(result.error, "error")
        status = 401 if "Invalid" in result.error else 429
    elif request.method == "POST":
        status = 400
    return render_template("users/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Sign out (POST with CSRF, so no other site can sign a user out)."""
    if ConfirmForm().validate_on_submit():
        sessions.end_current()
        db.session.commit()
        flash("You have been logged out.", "info")
    return redirect(url_for("auth.login"))
