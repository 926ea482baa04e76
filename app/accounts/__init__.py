"""External Accounts: a tab of Profile > Edit, and the pages of one account."""

from flask import Blueprint

bp = Blueprint("accounts", __name__)

from app.accounts import routes  # noqa: E402, F401
