"""User rules: sign-in, create, edit, deactivate, delete (never the last admin). These functions
flush; the view or command that called them commits."""

import secrets
from dataclasses import dataclass
from functools import cache

from sqlalchemy import func, or_, select
from werkzeug.security import check_password_hash, generate_password_hash

from app.extensions import db
from app.users import audit, sessions, throttle
from app.users.models import User

PROFILE_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "title",
    "department",
    "phone",
    "time_zone",
    "alert_emails",
)
MIN_PASSWORD_LENGTH = 8


class UserError(Exception):
    """A rule was broken; `field` names the form field the message belongs to, if any."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass
class SignIn:
    """The outcome of a sign-in attempt."""

    user: User | None
    error: str | None = None


def authenticate(username: str, password: str, address: str) -> SignIn:
    """Check a username and password, with throttling; one message for every kind of failure."""
    locked = throttle.seconds_locked(username, address)
    if locked:
        return SignIn(None, f"Too many failed attempts. Try again in {locked} seconds.")
    user = db.session.scalar(select(User).where(func.lower(User.username) == username.lower()))
    if not password_matches(user, password) or not user.active:
        throttle.record_failure(username, address)
        db.session.flush()
        return SignIn(None, "Invalid username or password")
    throttle.clear(username, address)
    db.session.flush()
    return SignIn(user)


@cache
def _stand_in_hash() -> str:
    """A hash of nothing anyone knows, made the way users' passwords are."""
    return generate_password_hash(secrets.token_urlsafe(24), method="scrypt")


def password_matches(user: User | None, password: str) -> bool:
    """Check a password; an unknown username costs the same hash time as a known one, so the
    answer's delay does not tell which usernames exist."""
    if user is None:
        check_password_hash(_stand_in_hash(), password)
        return False
    return user.check_password(password)


def _ensure_unique(username: str | None, email: str | None, exclude_id: int | None = None) -> None:
    if username is not None:
        query = select(User.id).where(func.lower(User.username) == username.lower())
        if exclude_id:
            query = query.where(User.id != exclude_id)
        if db.session.scalar(query):
            raise UserError("That username is already taken.", "username")
    if email is not None:
        query = select(User.id).where(func.lower(User.email) == email.lower())
        if exclude_id:
            query = query.where(User.id != exclude_id)
        if db.session.scalar(query):
            raise UserError("That email address is already used by another user.", "email")


def create_user(
    actor: User | None,
    username: str,
    email: str,
    password: str,
    *,
    is_admin: bool = False,
    **fields,
) -> User:
    """Create a user (the caller commits); raises UserError on a duplicate or a short password."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"Password must be at least {MIN_PASSWORD_LENGTH} characters.", "password")
    _ensure_unique(username, email)
    user = User(username=username, email=email, is_admin=is_admin, active=True)
    for name in PROFILE_FIELDS:
        if name in fields and fields[name] is not None:
            setattr(user, name, fields[name])
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    audit.record(actor, "user.created", target=user, detail=f"admin={is_admin}")
    db.session.flush()
    return user


def update_profile(actor: User, user: User, **fields) -> None:
    """Save profile fields (and, for admins, the admin and active flags)."""
    _ensure_unique(None, fields.get("email"), exclude_id=user.id)
    for name in PROFILE_FIELDS:
        if name in fields and fields[name] is not None:
            setattr(user, name, fields[name])
    changed_flags = []
    for flag in ("is_admin", "active"):
        if flag in fields and fields[flag] is not None and getattr(user, flag) != fields[flag]:
            if not fields[flag]:
                _refuse_removing_last_admin(user)
            setattr(user, flag, fields[flag])
            changed_flags.append(f"{flag}={fields[flag]}")
    if fields.get("active") is False:
        sessions.end_all(user)  # a deactivated user is signed out everywhere at once
    if actor.id != user.id or changed_flags:
        audit.record(actor, "user.updated", target=user, detail=", ".join(changed_flags))
    db.session.flush()


def change_password(user: User, current: str, new: str) -> None:
    """Change a user's own password; the current one is required. Every other sign-in of the
    user ends (this one stays)."""
    if not user.check_password(current):
        raise UserError("The current password is not correct.", "current_password")
    set_password(user, user, new)


def set_password(actor: User, user: User, new: str) -> None:
    """Set a new password (an admin may do it for a user). The user's sign-ins end: all of them
    when an admin resets it, all but the current one when the user changes their own."""
    if len(new) < MIN_PASSWORD_LENGTH:
        raise UserError(f"Password must be at least {MIN_PASSWORD_LENGTH} characters.", "password")
    user.set_password(new)
    ended = sessions.end_all(user, keep_current=actor.id == user.id)
    audit.record(actor, "user.password_changed", target=user, detail=f"sessions ended: {ended}")
    db.session.flush()


def _refuse_removing_last_admin(user: User) -> None:
    if not (user.is_admin and user.active):
        return
    others = db.session.scalar(
        select(func.count(User.id)).where(User.is_admin, User.active, User.id != user.id)
    )
    if not others:
        raise UserError("This is the last active admin; make another user an admin first.")


def delete_user(actor: User, user: User) -> None:
    """Delete a user and everything they own; never the last active admin."""
    _refuse_removing_last_admin(user)
    audit.record(actor, "user.deleted", target=user, detail=f"email={user.email}")
    db.session.delete(user)
    db.session.flush()


def search_users(query: str, page: int, per_page: int):
    """One page of users matching `query` in username, name or email, ordered by username."""
    statement = select(User).order_by(User.username)
    query = query.strip()
    if query:
        pattern = f"%{query.lower()}%"
        statement = statement.where(
            or_(
                func.lower(User.username).like(pattern),
                func.lower(User.email).like(pattern),
                func.lower(User.first_name).like(pattern),
                func.lower(User.last_name).like(pattern),
            )
        )
    return db.paginate(statement, page=page, per_page=per_page, error_out=False)
