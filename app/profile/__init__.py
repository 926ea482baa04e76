"""A user's own profile and its Edit tabs."""

from flask import Blueprint

bp = Blueprint("profile", __name__)

from app.profile import routes, tab_views  # noqa: E402, F401
