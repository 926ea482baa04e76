"""The OAuth redirect endpoints: go to the provider, come back, report to the opener."""

from flask import Blueprint

bp = Blueprint("oauth", __name__)

from app.oauth import routes  # noqa: E402, F401
