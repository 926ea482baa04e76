"""Security headers and the safe-redirect check."""

from functools import lru_cache
from urllib.parse import urlsplit

from flask import Flask, abort, request


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


def init_app(app: Flask) -> None:
    """Refuse NUL bytes in input; add CSP, frame, sniffing, referrer and opener headers."""
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
