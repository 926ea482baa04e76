"""External Accounts forms.

`mode` is "redirect" as the page sends it: a form posted before connect.js has run (a slow
network, scripts off) signs in in this window. connect.js sets "popup" when it opens one."""

from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, SubmitField
from wtforms.validators import AnyOf, DataRequired


class CreateAccountForm(FlaskForm):
    """Create: pick the Application, then Connect (pop-up, or this window when blocked)."""

    application = SelectField("Application", validators=[DataRequired()])
    mode = HiddenField(default="redirect", validators=[AnyOf(["popup", "redirect"])])
    submit = SubmitField("Connect")


class ConnectForm(FlaskForm):
    """Reauthenticate an account."""

    mode = HiddenField(default="redirect", validators=[AnyOf(["popup", "redirect"])])
    submit = SubmitField("Reauthenticate")
