"""An admin's view of a user's External Accounts: the same pages, acting for that user."""

from flask import url_for

from app.admin import bp
from app.connect import account_views as views
from app.extensions import db
from app.users.models import User
from app.users.tabs import EditContext, admin_context


def admin_links(subject: User) -> views.Links:
    """Where the External Accounts pages of `subject` live under Admin."""
    return views.Links(
        new=url_for("admin.account_new", user_id=subject.id),
        account=lambda i: url_for("admin.account_detail", user_id=subject.id, account_id=i),
        connect=lambda i: url_for("admin.account_reconnect", user_id=subject.id, account_id=i),
        delete=lambda i: url_for("admin.account_delete", user_id=subject.id, account_id=i),
        check=lambda i: url_for("admin.account_check", user_id=subject.id, account_id=i),
    )


def _for(user_id: int) -> tuple[EditContext, views.Links]:
    subject = db.get_or_404(User, user_id)
    context = admin_context(subject)
    return context, admin_links(subject)


@bp.route("/users/<int:user_id>/external-accounts/new", methods=["GET", "POST"])
def account_new(user_id: int):
    """Create and connect an external account for a user."""
    return views.new(*_for(user_id))


@bp.route("/users/<int:user_id>/external-accounts/<int:account_id>")
def account_detail(user_id: int, account_id: int):
    """A user's external account."""
    return views.detail(*_for(user_id), account_id)


@bp.route("/users/<int:user_id>/external-accounts/<int:account_id>/connect", methods=["POST"])
def account_reconnect(user_id: int, account_id: int):
    """Reauthenticate a user's external account."""
    return views.reconnect(*_for(user_id), account_id)


@bp.route("/users/<int:user_id>/external-accounts/<int:account_id>/delete", methods=["GET", "POST"])
def account_delete(user_id: int, account_id: int):
    """Delete a user's external account."""
    return views.delete(*_for(user_id), account_id)


@bp.route("/users/<int:user_id>/external-accounts/<int:account_id>/check")
def account_check(user_id: int, account_id: int):
    """Check that a user's external account still works."""
    return views.check(*_for(user_id), account_id)
