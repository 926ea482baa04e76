"""External Accounts on the signed-in user's own profile."""

from flask import url_for
from flask_login import login_required

from app.connect import account_views as views
from app.connect import accounts_bp as bp
from app.users.tabs import EditContext, own_context


def _own() -> tuple[EditContext, views.Links]:
    context = own_context()
    links = views.Links(
        new=url_for("accounts.new"),
        account=lambda i: url_for("accounts.detail", account_id=i),
        connect=lambda i: url_for("accounts.reconnect", account_id=i),
        delete=lambda i: url_for("accounts.delete", account_id=i),
        check=lambda i: url_for("accounts.check", account_id=i),
    )
    return context, links


TAB = views.TAB


def tab(context: EditContext):
    """The External Accounts tab of an Edit page: the user's own, or an admin's view of a user."""
    if context.as_admin:
        from app.connect.admin_accounts import admin_links

        return views.list_tab(context, admin_links(context.subject))
    return views.list_tab(context, _own()[1])


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    """Create an external account and connect it."""
    return views.new(*_own())


@bp.route("/<int:account_id>")
@login_required
def detail(account_id: int):
    """One of my external accounts."""
    return views.detail(*_own(), account_id)


@bp.route("/<int:account_id>/connect", methods=["POST"])
@login_required
def reconnect(account_id: int):
    """Reauthenticate one of my external accounts."""
    return views.reconnect(*_own(), account_id)


@bp.route("/<int:account_id>/delete", methods=["GET", "POST"])
@login_required
def delete(account_id: int):
    """Delete one of my external accounts."""
    return views.delete(*_own(), account_id)


@bp.route("/<int:account_id>/check")
@login_required
def check(account_id: int):
    """Check that one of my external accounts still works."""
    return views.check(*_own(), account_id)
