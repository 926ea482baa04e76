"""What the pages show at once, from the live state (never from the alert rows, so a missing or
broken system email account changes nothing here): the Reauthenticate banner on Home with every
authorization of the signed-in user that needs reconnecting, and the warning on every Admin page
while a connector's client secret expires within 30 days, expired, or was refused."""

import logging
from dataclasses import dataclass
from datetime import date, timedelta

from flask import request
from flask_login import current_user
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import SQLAlchemyError

from app.alerts import service
from app.connect import connectors
from app.connect.models import NEEDS_RECONNECT, Connector, ExternalAccount
from app.core import times
from app.extensions import db
from app.mail.models import GROUP, SEND_GRAPH, SYSTEM, MailAccount, MailGraphAuthorization
from app.users.models import User

log = logging.getLogger(__name__)
WARN_DAYS = 30


@dataclass(frozen=True)
class Line:
    """One sentence of a banner, with the link that fixes it: `before` the link, its text,
    `after` it."""

    before: str
    link: str
    action: str
    after: str


def needing_reconnect(user: User) -> list[Line]:
    """Every authorization the user must reconnect, in two statements: their External
    Accounts; their own mail account's SMTP/IMAP and Graph authorizations (for admins also the
    system account's and every inbound mailbox's)."""
    owners: list = list(
        db.session.scalars(
            select(ExternalAccount)
            .where(ExternalAccount.user_id == user.id, ExternalAccount.status == NEEDS_RECONNECT)
            .order_by(ExternalAccount.id)
        )
    )
    mine = MailAccount.slot.in_([f"user-{user.id}", *((SYSTEM,) if user.is_admin else ())])
    # Admins answer for every inbound mailbox: each dead one is a line of its own, by name.
    whose = or_(mine, MailAccount.role == GROUP) if user.is_admin else mine
    graph = MailGraphAuthorization
    graph_red = and_(graph.status == NEEDS_RECONNECT, MailAccount.send_via == SEND_GRAPH)
    rows = db.session.execute(
        select(MailAccount, graph)
        .outerjoin(graph, graph.mail_account_id == MailAccount.id)
        .where(whose, or_(MailAccount.status == NEEDS_RECONNECT, graph_red))
        .order_by(MailAccount.id)
    )
    for account, authorization in rows:
        if account.status == NEEDS_RECONNECT:
            owners.append(account)
        # A Graph authorization counts while the account sends with it.
        dead = authorization is not None and authorization.status == NEEDS_RECONNECT
        if dead and account.send_via == SEND_GRAPH:
            owners.append(authorization)
    return [_reconnect_line(owner) for owner in owners]


def _reconnect_line(owner) -> Line:
    place = service.describe(owner)
    label = connectors.label(owner.provider)
    return Line(
        f"{label} no longer accepts the connection of {place.name}.",
        place.path,
        place.action,
        f"in {place.page} to use it again.",
    )


def _today(user: User) -> date:
    """Today where the user is (a secret's expiry date is a calendar day)."""
    return times.today(user.time_zone)


def connector_warnings(today: date) -> list[Line]:
    """A line per connector whose client secret was refused, expired or expires within 30
    days (one statement)."""
    statement = select(Connector).where(
        Connector.client_secret_encrypted != "",
        or_(
            Connector.secret_refused_at.is_not(None),
            Connector.secret_expires_on <= today + timedelta(days=WARN_DAYS),
        ),
    )
    lines = []
    for connector in db.session.scalars(statement.order_by(Connector.provider)):
        label = connectors.label(connector.provider)
        place = service.connector_place(connector.provider)
        if connector.secret_refused_at is not None:
            words = f"{label} refused the client secret of the {label} connector."
        else:
            words = f"{service.expiry_words(label, connector.secret_expires_on, today)}."
        lines.append(Line(words, place.path, "Enter a new client secret", f"in {place.page}."))
    return lines


def _on_admin_page() -> bool:
    path = request.path
    return (path == "/admin" or path.startswith("/admin/")) and bool(
        current_user.is_authenticated and current_user.is_admin
    )


def inbound_warnings() -> list[Line]:
    """A line per inbound mailbox whose authorization needs reconnecting, each by its name
    (one statement)."""
    statement = select(MailAccount).where(
        MailAccount.role == GROUP, MailAccount.status == NEEDS_RECONNECT
    )
    return [_reconnect_line(a) for a in db.session.scalars(statement.order_by(MailAccount.id))]


def admin_warnings() -> list[Line]:
    """The connector warnings and the inbound mailboxes that need reconnecting, on Admin pages
    for admins only (the layout asks once)."""
    if not _on_admin_page():
        return []
    try:
        return connector_warnings(_today(current_user)) + inbound_warnings()
    except SQLAlchemyError:  # an error page while the database is down still renders
        db.session.rollback()
        log.exception("Could not read the connectors for the admin warning")
        return []


def context() -> dict:
    """What templates may call: `reconnect_lines()` (the Home banner) and `admin_warnings()`
    (every page's layout; empty outside Admin)."""

    def reconnect_lines() -> list[Line]:
        if not current_user.is_authenticated:
            return []
        return needing_reconnect(current_user._get_current_object())

    return {"reconnect_lines": reconnect_lines, "admin_warnings": admin_warnings}
