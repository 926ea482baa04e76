"""Admin: sections, User Management, Connectors, Audit Log, Connections."""

from flask import Blueprint, abort, request
from flask_login import current_user, login_required

bp = Blueprint("admin", __name__)


@bp.before_request
@login_required
def require_admin():
    """Every admin route: signed in (else the login page; 401 for OPTIONS, which Flask-Login
    lets through) and an admin (else 403, recorded: a non-admin naming another user's records
    in an admin URL is a forgery attempt)."""
    if not current_user.is_authenticated:
        abort(401)
    if not current_user.is_admin:
        from app.extensions import db
        from app.services import audit

        audit.record(
            current_user, "access.refused", detail=f"{request.method} {request.path}"[:300]
        )
        db.session.commit()
        abort(403)


from app.admin import accounts, connectors, oversight, routes  # noqa: E402, F401
