"""Users' forms: sign-in, the profile's record fields, the password change, and User
Management's Create User."""

from zoneinfo import available_timezones

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    SelectField,
    StringField,
    SubmitField,
)
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional, Regexp

PASSWORD_LENGTH_MESSAGE = "Password must be at least 8 characters (and at most 200)."  # noqa: S105
TIME_ZONES = sorted(available_timezones() - {"localtime", "Factory"})
USERNAME_RULE = Regexp(
    r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$",
    message="Use letters, digits and . _ @ - only, starting with a letter or digit.",
)


class ProfileFieldsForm(FlaskForm):
    """The record fields a user sees on their profile."""

    first_name = StringField("First Name", validators=[Optional(), Length(max=80)])
    last_name = StringField("Last Name", validators=[Optional(), Length(max=80)])
    email = EmailField(
        "Email", validators=[DataRequired(), Email(check_deliverability=False), Length(max=254)]
    )
    title = StringField("Title", validators=[Optional(), Length(max=120)])
    department = StringField("Department", validators=[Optional(), Length(max=120)])
    phone = StringField(
        "Phone",
        validators=[
            Optional(),
            Length(max=40),
            Regexp(r"^[0-9+()./ x-]*$", message="Use digits, spaces and + ( ) - . only."),
        ],
    )
    time_zone = SelectField("Time Zone", choices=TIME_ZONES, default="UTC")

    def profile_data(self) -> dict:
        """The validated fields as keyword arguments for the users service."""
        return {
            "first_name": self.first_name.data.strip() if self.first_name.data else "",
            "last_name": self.last_name.data.strip() if self.last_name.data else "",
            "email": self.email.data.strip().lower(),
            "title": (self.title.data or "").strip(),
            "department": (self.department.data or "").strip(),
            "phone": (self.phone.data or "").strip(),
            "time_zone": self.time_zone.data,
        }


def new_password_fields():
    """A new password and its confirmation."""
    return (
        PasswordField(
            "New Password",
            validators=[DataRequired(), Length(min=8, max=200, message=PASSWORD_LENGTH_MESSAGE)],
        ),
        PasswordField(
            "Confirm Password",
            validators=[DataRequired(), EqualTo("new_password", message="The passwords differ.")],
        ),
    )


class LoginForm(FlaskForm):
    """Username and Password, and the page to return to."""

    username = StringField("Username", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])
    next = HiddenField()
    submit = SubmitField("Log In")


ALERT_EMAILS_LABEL = "Email me when one of my connections needs attention"


class ProfileForm(ProfileFieldsForm):
    """User Profile tab, with the choice of alert emails."""

    alert_emails = BooleanField(ALERT_EMAILS_LABEL)
    submit = SubmitField("Save")


class AdminProfileForm(ProfileFieldsForm):
    """User Profile tab as an admin sees it: also alert emails, the admin flag and status."""

    alert_emails = BooleanField(ALERT_EMAILS_LABEL)
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


class CreateUserForm(ProfileFieldsForm):
    """Create a user: the record fields, a username, a first password and the admin flag."""

    username = StringField("Username", validators=[DataRequired(), Length(max=64), USERNAME_RULE])
    password = PasswordField(
        "Password",
        validators=[DataRequired(), Length(min=8, max=200, message=PASSWORD_LENGTH_MESSAGE)],
    )
    is_admin = BooleanField("Administrator")
    submit = SubmitField("Create")


class DeleteUserForm(FlaskForm):
    """Confirm a deletion (CSRF only)."""

    submit = SubmitField("Delete")
