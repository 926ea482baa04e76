"""The Admin page, Admin > Audit Log and Admin > Connections."""

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.admin import bp, overview
from app.connect import connectors, token_jobs
from app.core.shell import shell
from app.extensions import db
from app.jobs import checks
from app.jobs import functions as jobs_functions
from app.jobs import queue as jobs_queue
from app.mail import importing as mail_import
from app.mail.models import MailAccount
from app.users import audit


@bp.route("/")
def index():
    """The Admin page: the sections the areas added."""
    return render_template("admin/index.html", sections=shell().sections)


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
    syncs = overview.mailbox_sync_page(_page("sync_page"), current_app.config["USERS_PER_PAGE"])
    cutoff = token_jobs.idle_before()
    rows = [(a, overview.connection_status(a, cutoff)) for a in pagination.items]
    sync_rows = [
        (m, mail_import.mailbox_name(m), jobs_functions.needs_authorization(m)) for m in syncs.items
    ]
    mail_rows = [(m, overview.connection_status(m, cutoff)) for m in mail.items]
    labels = connectors.labels()
    return render_template(
        "admin/connections.html",
        pagination=pagination,
        rows=rows,
        mail=mail,
        mail_rows=mail_rows,
        attention=attention,
        labels=labels,
        idle_days=token_jobs.IDLE_DAYS,
        syncs=syncs,
        sync_rows=sync_rows,
        queued_mode=jobs_queue.uses_queue(current_app),
    )


@bp.post("/connections/mailboxes/<int:account_id>/check")
def check_mailbox(account_id: int):
    """Check now: sync one mailbox (queued for the workers with PostgreSQL, inline with
    SQLite); back to Connections, which shows when it ran."""
    account = db.get_or_404(MailAccount, account_id)
    owner = account.user  # read now: the mailbox may be deleted while it is checked
    outcome = checks.check_now(account)
    audit.record(current_user, "mail_account.check_now", target=owner, detail=outcome.message[:300])
    db.session.commit()
    flash(outcome.message, "success" if outcome.ok else "error")
    return redirect(url_for("admin.connections", _anchor="mailbox-sync"))
