"""External Accounts: a tab of Profile > Edit, and the pages of one account."""

from flask import Blueprint

bp = Blueprint("accounts", __name__)

from app.accounts import routes  # noqa: E402, F401


@bp.app_context_processor
def _reconnect_banner():
    """Templates may call `accounts_needing_reconnect()` to show the Reauthenticate banner."""
    from flask_login import current_user

    from app.services.external_accounts import needing_reconnect

    def accounts_needing_reconnect():
        return needing_reconnect(current_user) if current_user.is_authenticated else []

    return {"accounts_needing_reconnect": accounts_needing_reconnect}
