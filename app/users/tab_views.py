"""The User Profile and Password tabs."""

from flask import flash, redirect

from app.extensions import db
from app.users import directory
from app.users.forms import AdminPasswordForm, AdminProfileForm, PasswordForm, ProfileForm
from app.users.tabs import EditContext, render_tab


def profile_tab(ctx: EditContext):
    """Edit the record's fields (admins also edit the admin flag and active status)."""
    form_class = AdminProfileForm if ctx.as_admin else ProfileForm
    form = form_class(obj=ctx.subject)
    if form.validate_on_submit():
        fields = {**form.profile_data(), "alert_emails": form.alert_emails.data}
        if ctx.as_admin:
            fields.update(is_admin=form.is_admin.data, active=form.active.data)
        try:
            directory.update_profile(ctx.actor, ctx.subject, **fields)
        except directory.UserError as error:
            if error.field:
                form[error.field].errors.append(error.message)
            else:
                flash(error.message, "error")
            return render_tab(ctx, "user-profile", "users/_tab_profile.html", status=400, form=form)
        db.session.commit()
        flash("The profile was saved.", "success")
        return redirect(ctx.tab_url("user-profile"))
    return render_tab(ctx, "user-profile", "users/_tab_profile.html", form=form)


def password_tab(ctx: EditContext):
    """Change the password: the user gives the current one; an admin sets a new one."""
    form = AdminPasswordForm() if ctx.as_admin else PasswordForm()
    if form.validate_on_submit():
        try:
            if ctx.as_admin:
                directory.set_password(ctx.actor, ctx.subject, form.new_password.data)
            else:
                directory.change_password(
                    ctx.subject, form.current_password.data, form.new_password.data
                )
        except directory.UserError as error:
            form[error.field if error.field in form else "new_password"].errors.append(
                error.message
            )
            return render_tab(ctx, "password", "users/_tab_password.html", status=400, form=form)
        db.session.commit()
        flash("The password was changed.", "success")
        return redirect(ctx.tab_url("password"))
    return render_tab(ctx, "password", "users/_tab_password.html", form=form)
