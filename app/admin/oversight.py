"""Admin > Audit Log and Admin > Connections."""

from flask import current_app, render_template, request

from app.admin import bp
from app.admin.sections import Section, register_section
from app.services import connectors, overview

register_section(
    Section(
        "admin.audit_log",
        "Audit Log",
        "Who changed what: connectors, accounts, users, refused requests.",
    )
)
register_section(
    Section(
        "admin.connections",
        "Connections",
        "Every user's connected accounts and which need attention.",
    )
)


MAX_PAGE = 1_000_000  # a larger page number would overflow the database's OFFSET


def _page(name: str = "page") -> int:
    return min(max(request.args.get(name, 1, type=int) or 1, 1), MAX_PAGE)


@bp.route("/audit")
def audit_log():
    """The audit log, newest first, filterable by user and action."""
    username = request.args.get("user", "")[:64].strip()
    action = request.args.get("action", "")[:64].strip()
    pagination = overview.audit_page(_page(), 50, username, action)
    return render_template(
        "admin/audit.html",
        pagination=pagination,
        user=username,
        action=action,
        actions=overview.audit_actions(),
    )


@bp.route("/connections")
def connections():
    """External accounts across users, with Idle and Needs reconnect easy to find."""
    attention = request.args.get("filter") == "attention"
    pagination = overview.connections_page(_page(), current_app.config["USERS_PER_PAGE"], attention)
    mail = overview.mail_connections_page(
        _page("mail_page"),
        current_app.config["USERS_PER_PAGE"],
        attention,
    )
    cutoff = overview.idle_before()
    rows = [(a, overview.connection_status(a, cutoff)) for a in pagination.items]
    mail_rows = [(m, overview.connection_status(m, cutoff)) for m in mail.items]
    labels = {p: s.label for p, s in connectors.REGISTRY.items()}
    return render_template(
        "admin/connections.html",
        pagination=pagination,
        rows=rows,
        mail=mail,
        mail_rows=mail_rows,
        attention=attention,
        labels=labels,
        idle_days=overview.IDLE_DAYS,
    )
