"""Admin forms."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from app.forms import PASSWORD_LENGTH_MESSAGE, USERNAME_RULE, ProfileFieldsForm


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
