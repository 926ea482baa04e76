"""Security headers and the safe-redirect check."""

from urllib.parse import urlsplit

from flask import Flask, abort, current_app, request


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


def _authority_origin() -> str:
    parts = urlsplit(current_app.config["MICROSOFT_AUTHORITY"])
    return f"{parts.scheme}://{parts.netloc}"


def has_nul(values) -> bool:
    """Whether any submitted value carries a NUL byte (PostgreSQL text refuses them)."""
    return any("\x00" in key or "\x00" in value for key, value in values.items(multi=True))


def register(app: Flask) -> None:
    """Refuse NUL bytes in input; add CSP, frame, sniffing, referrer and opener headers."""

    @app.before_request
    def _refuse_nul_bytes():
        if has_nul(request.args) or (request.form and has_nul(request.form)):
            abort(400, "The request contains a NUL character, which is not allowed.")

    @app.after_request
    def _headers(response):
        csp = (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; "
            f"form-action 'self' {_authority_origin()}"
        )
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        # Pages that open the sign-in pop-up keep their opener link; the OAuth callback
        # bridge opts out by setting the header to "" (it must stay reachable by its opener).
        coop = response.headers.get("Cross-Origin-Opener-Policy")
        if coop is None:
            response.headers["Cross-Origin-Opener-Policy"] = "same-origin-allow-popups"
        elif coop == "":
            del response.headers["Cross-Origin-Opener-Policy"]
        if request.endpoint and request.endpoint != "static":
            response.headers.setdefault("Cache-Control", "no-store")
        return response
