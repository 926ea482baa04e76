"""Security headers and the safe-redirect check."""

import time
from functools import lru_cache
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, g, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import generate_csrf
from itsdangerous import BadSignature

# A signed CSRF token stays valid for WTF_CSRF_TIME_LIMIT (an hour); signing a fresh one for every
# page costs a serializer, a compression and two HMACs. Each worker reuses the token it signed for
# a session for this long, so a page's token is at most this much older than the page.
CSRF_REUSE_SECONDS = 300
_signed_csrf: dict[tuple, tuple[str, float]] = {}
# Opened session cookies each worker remembers (cookie -> serializer, signed at, data).
OPENED_SESSIONS_MAX = 4096
_SCALARS = (str, int, float, bool, type(None))


def is_safe_next(target: str | None) -> bool:
    """A `next` is safe only as a local path: no scheme, no host, no backslash tricks."""
    if not target:
        return False
    if "\\" in target or any(ord(c) < 32 for c in target):
        return False
    parts = urlsplit(target)
    return (
        parts.scheme == ""
        and parts.netloc == ""
        and target.startswith("/")
        and not target.startswith("//")
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the signing serializer built once per key set, and
    each cookie verified and decoded once per worker.

    Flask builds a new serializer on every request (and itsdangerous test-serializes `{}` to
    inspect it); the keys only change with the configuration, so the serializer is kept until
    they do. A browser sends the same cookie on every page until the session changes; checking
    its signature and decoding it again gives the same answer each time, so a worker keeps the
    answer for that exact cookie and serializer. The cookie's age is still checked on every
    request against the time it was signed, and sessions holding anything but plain values
    (flashed messages) are not kept, so no request can change what another one opens.
    """

    def __init__(self) -> None:
        self._serializers: dict[tuple, object] = {}
        self._opened: dict[str, tuple[object, int, dict]] = {}

    def open_session(self, app: Flask, request):
        """The request's session: Flask's, from this worker's memory when the cookie is known."""
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        cookie = request.cookies.get(self.get_cookie_name(app))
        if not cookie:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        opened = self._opened.get(cookie)
        if opened is not None and opened[0] is serializer:
            age = int(time.time()) - opened[1]
            if 0 <= age <= max_age:
                return self.session_class(opened[2])  # a copy: the cached dict stays as signed
            self._opened.pop(cookie, None)
            return self.session_class()
        try:
            data, signed_at = serializer.loads(cookie, max_age=max_age, return_timestamp=True)
        except BadSignature:
            return self.session_class()
        if isinstance(data, dict) and all(type(v) in _SCALARS for v in data.values()):
            if len(self._opened) >= OPENED_SESSIONS_MAX:
                self._opened.clear()
            self._opened[cookie] = (serializer, int(signed_at.timestamp()), dict(data))
        return self.session_class(data)

    def get_signing_serializer(self, app: Flask):
        """The serializer for the app's current SECRET_KEY and SECRET_KEY_FALLBACKS."""
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        serializer = self._serializers.get(keys)
        if serializer is None:
            serializer = super().get_signing_serializer(app)
            self._serializers = {keys: serializer}
        return serializer


def has_nul(values) -> bool:
    """Whether any submitted value carries a NUL byte (PostgreSQL text refuses them)."""
    return any("\x00" in key or "\x00" in value for key, value in values.items(multi=True))


@lru_cache(maxsize=8)
def default_headers(authority: str) -> tuple[tuple[str, str], ...]:
    """The headers every response carries unless the view set its own."""
    csp = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; "
        f"form-action 'self' {_origin(authority)}"
    )
    return (
        ("Content-Security-Policy", csp),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "same-origin"),
        # Pages that open the sign-in pop-up keep their opener link; the OAuth callback
        # bridge opts out by setting the header to "" (it must stay reachable by its opener).
        ("Cross-Origin-Opener-Policy", "same-origin-allow-popups"),
    )


def csrf_token() -> str:
    """The page's CSRF token (Flask-WTF's), re-signed at most every CSRF_REUSE_SECONDS (or a
    quarter of WTF_CSRF_TIME_LIMIT when that is shorter, so a reused token never nears expiry)."""
    secret = current_app.config.get("WTF_CSRF_SECRET_KEY") or current_app.secret_key
    limit = current_app.config.get("WTF_CSRF_TIME_LIMIT", 3600)
    reuse = CSRF_REUSE_SECONDS if limit is None else min(CSRF_REUSE_SECONDS, limit / 4)
    if "csrf_token" not in g and session.get("csrf_token"):
        cached = _signed_csrf.get((session["csrf_token"], secret))
        if cached and time.monotonic() - cached[1] < reuse:
            g.csrf_token = cached[0]
            return cached[0]
    token = generate_csrf()  # also creates the session's raw token when it has none
    if session.get("csrf_token"):
        if len(_signed_csrf) >= 4096:
            _signed_csrf.clear()
        _signed_csrf[(session["csrf_token"], secret)] = (token, time.monotonic())
    return token


def register(app: Flask) -> None:
    """Refuse NUL bytes in input; add CSP, frame, sniffing, referrer and opener headers."""
    app.session_interface = SessionInterface()
    # Flask-WTF puts its own `csrf_token` in every template context; this one comes later and wins.
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.context_processor(lambda: {"csrf_token": csrf_token})
    bodies = {"POST", "PUT", "PATCH", "DELETE"}

    @app.before_request
    def _refuse_nul_bytes():
        if (
            "\x00" in request.path
            or (request.query_string and has_nul(request.args))
            or (request.method in bodies and has_nul(request.form))
        ):
            abort(400, "The request contains a NUL character, which is not allowed.")

    @app.after_request
    def _headers(response):
        headers = response.headers
        present = {name.lower() for name in headers.keys()}  # one pass, not one per header
        for name, value in default_headers(app.config["MICROSOFT_AUTHORITY"]):
            if name.lower() not in present:
                headers.add(name, value)
        if headers.get("Cross-Origin-Opener-Policy") == "":
            del headers["Cross-Origin-Opener-Policy"]
        if "cache-control" not in present and request.endpoint not in (None, "static"):
            headers.add("Cache-Control", "no-store")
        return response
