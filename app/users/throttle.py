"""Sign-in throttling shared by every worker: too many failures lock (username, address) a while."""

from datetime import timedelta

from flask import current_app

from app.core.db import utcnow
from app.extensions import db
from app.users.models import LoginThrottle


def _key(username: str, address: str) -> str:
    return f"{username.strip().lower()[:120]}|{address[:60]}"


def seconds_locked(username: str, address: str) -> int:
    """Seconds left on a lock for this (username, address), 0 when sign-in may be tried."""
    row = db.session.get(LoginThrottle, _key(username, address))
    if row is None or row.locked_until is None:
        return 0
    left = (row.locked_until - utcnow()).total_seconds()
    return max(0, int(left) + 1) if left > 0 else 0


def record_failure(username: str, address: str) -> None:
    """Count a failure; the Nth within the window locks further tries. The caller commits."""
    key = _key(username, address)
    window = timedelta(seconds=current_app.config["LOGIN_LOCKOUT_SECONDS"])
    now = utcnow()
    row = db.session.get(LoginThrottle, key)
    if row is None:
        row = LoginThrottle(key=key, failures=0, first_failure_at=now)
        db.session.add(row)
    if now - row.first_failure_at > window:
        row.failures, row.first_failure_at, row.locked_until = 0, now, None
    row.failures += 1
    if row.failures >= current_app.config["LOGIN_MAX_FAILURES"]:
        row.locked_until = now + window


def clear(username: str, address: str) -> None:
    """Forget failures after a good sign-in. The caller commits."""
    row = db.session.get(LoginThrottle, _key(username, address))
    if row is not None:
        db.session.delete(row)
