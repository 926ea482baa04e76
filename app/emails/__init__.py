"""Emails: Email Settings (a mailbox authorized on its own), Compose, the Emails list, inbound
import; Admin > System Email Settings and Admin > Inbound Email; `flask mail fetch`."""

from flask import Blueprint

from app.admin.sections import Section, register_section
from app.main.registry import NavItem, register_nav_item

bp = Blueprint("emails", __name__, cli_group="mail")
admin_bp = Blueprint("emails_admin", __name__)

register_nav_item(NavItem("emails.index", "Emails", "emails"))
register_section(
    Section(
        "emails_admin.system",
        "System Email Settings",
        "The system's outbound email account (Exchange Online or other SMTP).",
    )
)
register_section(
    Section(
        "emails_admin.inbound",
        "Inbound Email",
        "A monitored group mailbox imported into the Emails list.",
    )
)

from app.emails import admin_routes, cli, routes  # noqa: E402, F401
