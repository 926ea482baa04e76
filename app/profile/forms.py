"""Profile forms: the record fields, the admin flags, and the password change."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SubmitField
from wtforms.validators import DataRequired

from app.forms import ProfileFieldsForm, new_password_fields


class ProfileForm(ProfileFieldsForm):
    """User Profile tab."""

    submit = SubmitField("Save")


class AdminProfileForm(ProfileFieldsForm):
    """User Profile tab as an admin sees it: also the admin flag and active status."""

    is_admin = BooleanField("Administrator")
    active = BooleanField("Active")
    submit = SubmitField("Save")


class PasswordForm(FlaskForm):
    """Password tab: the current password, then the new one twice."""

    current_password = PasswordField("Current Password", validators=[DataRequired()])
    new_password, confirm_password = new_password_fields()
    submit = SubmitField("Save")


class AdminPasswordForm(FlaskForm):
    """Password tab for an admin setting a user's password (no current password)."""

    new_password, confirm_password = new_password_fields()
    submit = SubmitField("Save")
