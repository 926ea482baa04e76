"""Admin: the Admin page, the Audit Log and Connections; and the blueprint the other areas'
admin pages hang on (User Management, Connectors, a user's External Accounts), every route of
which is admin-only and refusals are audited."""

from flask import Blueprint, Flask, abort, request
from flask_login import current_user, login_required

from app.extensions import db
from app.users import audit

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
        audit.record(
            current_user, "access.refused", detail=f"{request.method} {request.path}"[:300]
        )
        db.session.commit()  # the point: the refusal is recorded though the request aborts
        abort(403)


def init_app(app: Flask) -> None:
    """The Admin blueprint with every area's admin pages, and this area's two sections."""
    from app.admin import routes  # noqa: F401
    from app.connect import admin_accounts, admin_connectors  # noqa: F401
    from app.core.shell import Section, shell
    from app.users import admin_views  # noqa: F401

    app.register_blueprint(bp, url_prefix="/admin")
    shell(app).sections += [
        Section(
            "admin.audit_log",
            "Audit Log",
            "Who changed what: connectors, accounts, users, refused requests.",
        ),
        Section(
            "admin.connections",
            "Connections",
            "Every user's connected accounts and which need attention.",
        ),
    ]
