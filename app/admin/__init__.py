"""Admin: sections, User Management (and later Connectors, Audit Log)."""

from flask import Blueprint, abort
from flask_login import current_user, login_required

bp = Blueprint("admin", __name__)


@bp.before_request
@login_required
def require_admin():
    """Every admin route: signed in (else the login page) and an admin (else 403)."""
    if not current_user.is_admin:
        abort(403)


from app.admin import (  # noqa: E402, F401
    accounts,
    connectors,
    routes,  # noqa: E402, F401
)
