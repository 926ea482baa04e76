"""Raising alerts: one row per event and recipient, added only when absent, so a request that
fails again and again (or two workers failing at once) adds nothing after the first; the
email goes out later, from `flask alerts send`, and the page shows the state at once.

Events: an authorization turned Needs reconnect (its owner is told; the admins for the system
account and each inbound mailbox), the provider refused the connector's client secret, and the
secret expires in 30, 7 or 1 day(s) or expired (the admins are told). These functions flush; the one
that records a refusal commits (its callers roll back)."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.alerts.models import Alert
from app.connect import connectors
from app.connect.models import Connector, ExternalAccount
from app.connect.provider import ProviderError
from app.core import times
from app.core.db import utcnow
from app.extensions import db
from app.mail.models import GROUP, SYSTEM, MailGraphAuthorization
from app.users import audit
from app.users.models import User

# Alert.kind
KIND_RECONNECT = "needs_reconnect"
KIND_REFUSED = "secret_refused"
KIND_EXPIRES = "secret_expires"
KIND_EXPIRED = "secret_expired"
EXPIRY_THRESHOLDS = (1, 7, 30)  # days before the secret's expiry date, nearest first


@dataclass(frozen=True)
class Place:
    """An authorization in words and where to fix it: `name` fits "the connection of …",
    `page` is where it lives on the screen, `action` the button that fixes it."""

    name: str
    page: str
    action: str
    endpoint: str
    values: tuple = ()

    @property
    def path(self) -> str:
        """The fixing page's path in the CRM."""
        return path_for(self.endpoint, **dict(self.values))


def path_for(endpoint: str, **values) -> str:
    """A page's path, inside or outside a request (cron builds links too)."""
    return current_app.url_map.bind("").build(endpoint, values)


def absolute(path: str) -> str:
    """A CRM path as the URL users reach, from PUBLIC_BASE_URL (never from a Host header)."""
    return f"{current_app.config['PUBLIC_BASE_URL']}{path}"


_MAIL_PAGES = {
    SYSTEM: ("the system email account", "Admin > System Email Settings", "emails_admin.system"),
}


def _mailbox_place(owner, account, what: str) -> Place:
    """An inbound mailbox, named, with whose sign-in it uses (a shared mailbox's delegate)."""
    mailbox = account.mailbox_address or "not authorized yet"
    delegate = ""
    if account.shared_address and owner.authorized_email:
        delegate = f", signed in by {owner.authorized_name or owner.authorized_email} as delegate"
    name = f"the inbound mailbox “{account.name}” ({mailbox}{delegate}; {what})"
    values = (("mailbox_id", account.id),)
    return Place(name, "Admin > Inbound Email", "Authorize", "emails_admin.mailbox", values)


def describe(owner) -> Place:
    """Which authorization `owner` is (an External Account, a mail account's SMTP/IMAP
    authorization or its Graph one) and where its owner fixes it."""
    if isinstance(owner, ExternalAccount):
        label = connectors.label(owner.provider)
        name = f"your {label} account {owner.authorized_email}".rstrip()
        page, values = "Profile > External Accounts", (("account_id", owner.id),)
        return Place(name, page, "Reauthenticate", "accounts.detail", values)
    graph = isinstance(owner, MailGraphAuthorization)
    account = owner.mail_account if graph else owner
    what = "Microsoft Graph" if graph else "SMTP and IMAP"
    if account.role == GROUP:
        return _mailbox_place(owner, account, what)
    whose, page, endpoint = _MAIL_PAGES.get(
        account.role, ("your email", "Emails > Email Settings", "emails.settings")
    )
    address = f" {owner.authorized_email}" if owner.authorized_email else ""
    return Place(f"{whose}{address} ({what})", page, "Authorize", endpoint)


def active_admins() -> list[User]:
    """Who is told about the system's own connections and the connector."""
    statement = select(User).where(User.is_admin.is_(True), User.active.is_(True))
    return list(db.session.scalars(statement.order_by(User.id)))


def _recipients(owner) -> list[User]:
    user = owner.user
    return [user] if user is not None else active_admins()


def local_time(when: datetime, user: User) -> str:
    """A moment as the user reads it: in their time zone, named."""
    return times.local(when, user.time_zone)


def _greeting(user: User) -> str:
    return f"Hello {user.full_name},\n\n"


def _footer() -> str:
    profile = absolute(path_for("profile.edit", tab="user-profile"))
    return (
        "\n\nYou get this email because alert emails are on in your profile. To stop them, "
        f"untick them at {profile}\n"
    )


def _event_time(owner) -> str:
    return owner.authorized_at.astimezone(UTC).isoformat() if owner.authorized_at else ""


def raise_for_needs_reconnect(owner) -> None:
    """Tell the owner (every active admin, for the system account and inbound mailboxes) that this
    authorization needs reconnecting; once per grant: the same event again adds nothing, a
    reconnect makes the next failure a new event. The caller commits."""
    place = describe(owner)
    label = connectors.label(owner.provider)
    event = f"{owner.AUDIT_NAME}.needs_reconnect:{owner.id}:{_event_time(owner)}"
    url = absolute(place.path)
    now = utcnow()
    why = f"\nThe reason given: {owner.status_reason}" if owner.status_reason else ""
    rows = [
        _row(
            event,
            KIND_RECONNECT,
            user,
            subject=f"{label} no longer accepts {place.name}",
            body=(
                f"{_greeting(user)}{label} no longer accepts the connection of "
                f"{place.name} ({place.page}) since {local_time(now, user)}.{why}\n\n"
                f"To use it again, open {url} and press {place.action}."
                f"{_footer()}"
            ),
            link=place.path,
        )
        for user in _recipients(owner)
    ]
    _insert_once(rows)


def on_provider_error(provider: str, error: ProviderError) -> None:
    """When `error` says the provider refused the connector's client secret, record it and
    alert every active admin at once (commits); any other error is left to the caller."""
    if error.secret_refused:
        secret_refused(provider)


def secret_refused(provider: str) -> None:
    """The provider refused the connector's client secret: note when (shown on every admin
    page until a new secret is saved) and alert every active admin, once per secret."""
    connector = connectors.get(provider)
    if connector is None:
        return
    if connector.secret_refused_at is None:
        connector.secret_refused_at = utcnow()
        audit.record(None, "connector.secret_refused", detail=provider)
    label = connectors.label(provider)
    set_at = connector.secret_set_at.astimezone(UTC).isoformat() if connector.secret_set_at else ""
    place = connector_place(provider)
    rows = [
        _row(
            f"connector.secret_refused:{provider}:{set_at}",
            KIND_REFUSED,
            user,
            subject=f"{label} refused the client secret of the {label} connector",
            body=(
                f"{_greeting(user)}{label} refused the client secret of the {label} connector "
                f"at {local_time(connector.secret_refused_at, user)}. Until a valid secret is "
                f"entered, nobody can connect a {label} account, authorize email or renew a "
                f"connection.\n\nCreate a new client secret for the app registration at {label}, "
                f"then enter it and its expiry date at {absolute(place.path)} ({place.page})."
                f"{_footer()}"
            ),
            link=place.path,
        )
        for user in active_admins()
    ]
    _insert_once(rows)
    db.session.commit()  # the point: the caller's request fails and rolls back; the alert stays


def connector_place(provider: str) -> Place:
    """Admin > Connectors > the provider: where a client secret is entered."""
    label = connectors.label(provider)
    return Place(
        f"the {label} connector",
        f"Admin > Connectors > {label}",
        "Save",
        "admin.connector_edit",
        (("provider", provider),),
    )


def expiry_threshold(expires_on: date, today: date) -> int | None:
    """The nearest warning reached: 30, 7 or 1 day(s) before, 0 on and after the day; None
    while more than 30 days are left."""
    days = (expires_on - today).days
    if days <= 0:
        return 0
    return next((t for t in EXPIRY_THRESHOLDS if days <= t), None)


def due_secret_alerts(today: date) -> int:
    """Alert every active admin of each connector whose client secret reached a warning
    (only the nearest one: a date entered 5 days ahead warns once, at 7); returns how many
    connectors are due. The caller commits."""
    due = 0
    statement = select(Connector).where(
        Connector.secret_expires_on.is_not(None),
        Connector.secret_expires_on <= today + timedelta(days=max(EXPIRY_THRESHOLDS)),
        Connector.client_secret_encrypted != "",
    )
    admins = None
    for connector in db.session.scalars(statement):
        threshold = expiry_threshold(connector.secret_expires_on, today)
        if threshold is None:
            continue
        due += 1
        admins = admins if admins is not None else active_admins()
        _insert_once([_expiry_row(connector, threshold, today, user) for user in admins])
    return due


def expiry_words(label: str, expires_on: date, today: date) -> str:
    """The words of a warning: expires in 7 days (on 2027-01-31), expires today, expired on …"""
    days = (expires_on - today).days
    secret = f"The client secret of the {label} connector"
    if days < 0:
        return f"{secret} expired on {expires_on.isoformat()}"
    if days == 0:
        return f"{secret} expires today ({expires_on.isoformat()})"
    plural = "day" if days == 1 else "days"
    return f"{secret} expires in {days} {plural} (on {expires_on.isoformat()})"


def _expiry_row(connector: Connector, threshold: int, today: date, user: User) -> dict:
    label = connectors.label(connector.provider)
    place = connector_place(connector.provider)
    expires_on = connector.secret_expires_on
    words = expiry_words(label, expires_on, today)
    after = (
        f"From then on nobody can connect a {label} account, authorize email or renew a "
        "connection until a new secret is entered."
    )
    return _row(
        f"connector.secret_expires:{connector.provider}:{expires_on.isoformat()}:{threshold}",
        KIND_EXPIRED if threshold == 0 else KIND_EXPIRES,
        user,
        subject=words,
        body=(
            f"{_greeting(user)}{words}. {after}\n\nCreate a new client secret for the app "
            f"registration at {label}, then enter it and its expiry date at "
            f"{absolute(place.path)} ({place.page}).{_footer()}"
        ),
        link=place.path,
    )


def _row(event: str, kind: str, user: User, *, subject: str, body: str, link: str) -> dict:
    return {
        "event": event[:200],
        "kind": kind,
        "recipient_id": user.id,
        "subject": subject[:200],
        "body": body,
        "link": link[:500],
        "created_at": utcnow(),
        "email_attempts": 0,
        "email_error": "",
    }


def _insert_once(rows: list[dict]) -> None:
    """Insert the rows whose (event, recipient) is not stored yet, in one statement that
    skips the others (ON CONFLICT DO NOTHING): two workers raising the same event at once
    store it once, and neither's transaction fails. SQLite or PostgreSQL, as the refresh lock."""
    if not rows:
        return
    insert = postgresql_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    statement = insert(Alert).values(rows)
    db.session.execute(
        statement.on_conflict_do_nothing(index_elements=[Alert.event, Alert.recipient_id])
    )
