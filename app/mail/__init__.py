"""Mail: Email Settings (a mailbox authorized on its own), Compose, the Emails list and inbound
import; Admin > System Email Settings, Admin > Inbound Email and a user's Email Settings from
User Management; `flask mail fetch`."""

from flask import Blueprint, Flask

bp = Blueprint("emails", __name__, cli_group="mail")
admin_bp = Blueprint("emails_admin", __name__)


def init_app(app: Flask) -> None:
    """Routes, the Emails navigation entry, two Admin sections, flow completions, token owners,
    the encrypted password column, `flask mail fetch`."""
    from app.core import keys
    from app.core.shell import NavItem, Section, shell
    from app.mail import admin_routes, authorizations, cli, routes, sending  # noqa: F401
    from app.mail.models import MailAccount

    app.register_blueprint(bp, url_prefix="/emails")
    app.register_blueprint(admin_bp, url_prefix="/admin/email")
    shell(app).nav.append(NavItem("emails.index", "Emails", "emails"))
    shell(app).sections += [
        Section(
            "emails_admin.system",
            "System Email Settings",
            "The system's outbound email account (Exchange Online or other SMTP).",
        ),
        Section(
            "emails_admin.inbound",
            "Inbound Email",
            "Team mailboxes (support@, sales@) imported into Emails, and who sees each.",
        ),
    ]
    app.add_template_filter(sending.size_words)  # attachment sizes, as Compose words them
    authorizations.init_app(app)
    keys.register_encrypted(app, MailAccount, "password_encrypted")
