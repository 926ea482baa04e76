"""Security headers and the safe-redirect check."""

from urllib.parse import urlsplit

from flask import Flask, current_app, request


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


def register(app: Flask) -> None:
    """Add CSP, frame, sniffing, referrer and opener headers to every response."""

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
