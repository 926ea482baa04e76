"""Connect: the allauth-like core. Connectors (an admin's configuration of a provider), External
Accounts, their credentials, OAuth flows, the one token service and key rotation, behind the
`Provider` protocol; the External Accounts tab, the OAuth callback and Admin > Connectors."""

from flask import Blueprint, Flask

accounts_bp = Blueprint("accounts", __name__)
oauth_bp = Blueprint("oauth", __name__)


def init_app(app: Flask) -> None:
    """Routes, the External Accounts tab, flow completions, encrypted columns,
    token owners, commands."""
    from app.connect import (  # noqa: F401
        account_routes,
        admin_consent,
        cli,
        external_accounts,
        oauth_routes,
        token_jobs,
    )
    from app.connect.models import Connector, Credential, OAuthFlow
    from app.core import keys
    from app.core.shell import Section, Tab, shell

    app.register_blueprint(accounts_bp, url_prefix="/profile/external-accounts")
    app.register_blueprint(oauth_bp)
    shell(app).tabs.append(Tab(account_routes.TAB, "External Accounts", account_routes.tab))
    shell(app).sections.append(
        Section(
            "admin.connector_list",
            "Connectors",
            "Configure the Microsoft connector (client ID, secret, tenant) for the whole system.",
        )
    )
    external_accounts.init_app(app)
    admin_consent.init_app(app)
    token_jobs.register_owner_relation(app, "account")
    keys.register_encrypted(app, Connector, "client_secret_encrypted")
    keys.register_encrypted(app, Credential, "access_token_encrypted", "refresh_token_encrypted")
    keys.register_encrypted(app, OAuthFlow, "code_verifier_encrypted", "pending_result_encrypted")
    cli.init_app(app)
