"""The form every area uses: nothing but the CSRF token."""

from flask_wtf import FlaskForm


class ConfirmForm(FlaskForm):
    """A form with nothing but the CSRF token: sign out, delete, disconnect."""
