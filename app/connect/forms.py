"""External Accounts forms."""

from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, SubmitField
from wtforms.validators import AnyOf, DataRequired


class CreateAccountForm(FlaskForm):
    """Create: pick the Application, then Connect (pop-up, or this window when blocked)."""

    application = SelectField("Application", validators=[DataRequired()])
    mode = HiddenField(default="popup", validators=[AnyOf(["popup", "redirect"])])
    submit = SubmitField("Connect")


class ConnectForm(FlaskForm):
    """Reauthenticate an account."""

    mode = HiddenField(default="popup", validators=[AnyOf(["popup", "redirect"])])
    submit = SubmitField("Reauthenticate")
