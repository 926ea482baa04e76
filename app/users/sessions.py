"""Sign-ins the server knows about: the session cookie carries a random id whose hash is kept
in `user_sessions`, so a sign-in ends for real (logout, password change, deactivation), and no
sign-in outlives SESSION_LIFETIME_HOURS or SESSION_IDLE_MINUTES without use.

The cookie stays Flask's signed cookie; the row is what makes a copy of it worthless once the
session ended."""

import hashlib
import secrets
from datetime import timedelta

from flask import current_app, request, session
from flask_login import login_user, logout_user
from sqlalchemy import bindparam, delete, or_, select, update

from app.core.db import utcnow
from app.extensions import db
from app.users.models import User, UserSession

SESSION_KEY = "sid"
TOUCH_EVERY = timedelta(minutes=1)
KEEP_ENDED = timedelta(days=30)

# Built once: the one statement a signed-in page costs (the user with their live session).
_USER_AND_SESSION = (
    select(User, UserSession.id, UserSession.created_at, UserSession.last_seen_at)
    .join(UserSession, UserSession.user_id == User.id)
    .where(
        UserSession.token_hash == bindparam("token_hash"),
        User.id == bindparam("user_id"),
        UserSession.ended_at.is_(None),
    )
)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def lifetime() -> timedelta:
    """How long a sign-in lasts at most, whatever happens."""
    return timedelta(hours=current_app.config["SESSION_LIFETIME_HOURS"])


def idle_limit() -> timedelta:
    """How long a sign-in may go unused."""
    return timedelta(minutes=current_app.config["SESSION_IDLE_MINUTES"])


def begin(user: User) -> None:
    """Sign `user` in with a new server-side session: whatever session id the cookie carried
    before (even one planted by someone else) is replaced, so a sign-in cannot be fixed in
    advance. The caller commits."""
    token = secrets.token_urlsafe(32)
    db.session.add(
        UserSession(
            user_id=user.id,
            token_hash=_hash(token),
            address=(request.remote_addr or "")[:64],
            user_agent=request.user_agent.string[:200],
        )
    )
    db.session.flush()
    login_user(user)
    session[SESSION_KEY] = token
    session.permanent = True  # the cookie expires with the sign-in's lifetime


def end_current() -> None:
    """Log out: this sign-in ends on the server too, so a copy of the cookie stops working
    (the caller commits)."""
    token = session.get(SESSION_KEY)
    if token:
        db.session.execute(
            update(UserSession)
            .where(UserSession.token_hash == _hash(token), UserSession.ended_at.is_(None))
            .values(ended_at=utcnow())
        )
    logout_user()
    session.clear()


def end_all(user: User, *, keep_current: bool = False) -> int:
    """End every sign-in of `user` (all but this request's with `keep_current`); the caller
    commits. Returns how many ended."""
    statement = update(UserSession).where(
        UserSession.user_id == user.id, UserSession.ended_at.is_(None)
    )
    token = session.get(SESSION_KEY) if keep_current else None
    if token:
        statement = statement.where(UserSession.token_hash != _hash(token))
    return db.session.execute(statement.values(ended_at=utcnow())).rowcount


def user_for(user_id: str) -> User | None:
    """Flask-Login's loader: the user, only while this cookie's server-side session is live
    (not ended, younger than the lifetime, used within the idle limit)."""
    token = session.get(SESSION_KEY)
    if not token or not user_id.isdigit():
        return None
    row = db.session.execute(
        _USER_AND_SESSION, {"token_hash": _hash(token), "user_id": int(user_id)}
    ).first()
    if row is None:
        return None
    user, session_id, created_at, last_seen_at = row
    now = utcnow()
    if not user.active or now - created_at > lifetime() or now - last_seen_at > idle_limit():
        _update(session_id, ended_at=now)
        db.session.commit()  # the point: the lapsed sign-in is over even though nothing else is
        return None
    if now - last_seen_at > min(TOUCH_EVERY, idle_limit() / 4):
        _update(session_id, last_seen_at=now)
        # The point: a read-only page keeps the sign-in alive too. This runs when the request
        # first asks who the user is, before its view has changed anything.
        db.session.commit()
    return user


def _update(session_id: int, **values) -> None:
    db.session.execute(update(UserSession).where(UserSession.id == session_id).values(**values))


def purge() -> int:
    """Delete sessions that ended (or lapsed) more than KEEP_ENDED ago; for `flask cleanup`."""
    cutoff = utcnow() - KEEP_ENDED
    return db.session.execute(
        delete(UserSession).where(
            or_(
                UserSession.ended_at < cutoff,
                UserSession.last_seen_at < cutoff,
                UserSession.created_at < cutoff - lifetime(),
            )
        )
    ).rowcount
