"""Cloud Drive: the Home dashlet over the user's OneDrive, its JSON API and full-page views."""

from flask import Blueprint

bp = Blueprint("drive", __name__)

from app.drive import routes  # noqa: E402, F401
