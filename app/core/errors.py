"""Central error handlers: the app's look for HTML, JSON for JSON clients; roll back on 500."""

import logging

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from app.core.crypto import DecryptionError
from app.extensions import db

log = logging.getLogger(__name__)

MESSAGES = {
    400: "The request could not be understood.",
    403: "You do not have permission to open this page.",
    404: "The page you asked for does not exist.",
    405: "That action is not allowed here.",
    413: "The upload is too large.",
    429: "Too many requests; please wait and try again.",
    500: "Something went wrong on our side. Nothing you entered was lost; please try again.",
}


def wants_json() -> bool:
    """JSON for API-style requests, HTML for browsers."""
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return request.path.startswith("/api/") or (
        best == "application/json"
        and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def error_response(status: int, message: str | None = None, back: tuple[str, str] | None = None):
    """An error answer in the app's look (HTML) or as {"error": message} (JSON); `back` is
    the page's way back, (label, url), where Home is not the natural one."""
    message = message or MESSAGES.get(status, "The request failed.")
    if wants_json():
        return jsonify(error=message), status
    back_label, back_url = back or (None, None)
    page = render_template(
        "core/error.html", status=status, message=message, back_label=back_label, back_url=back_url
    )
    return page, status


def init_app(app: Flask) -> None:
    """Attach the handlers to the app."""

    @app.errorhandler(CSRFError)
    def _csrf(error):
        return error_response(
            400,
            "The form expired or was not sent from this site. "
            "Please reload the page and try again.",
        )

    @app.errorhandler(DecryptionError)
    def _unreadable(error):
        # Every place that decrypts handles this itself; this is the net under them.
        log.error("A stored secret no configured key opens, on %s %s", request.method, request.path)
        db.session.rollback()
        return error_response(
            409,
            "A stored secret can no longer be read with the configured encryption keys. "
            "Ask your administrator: the secret must be entered again, or the old key restored.",
        )

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        if error.code is None or error.code >= 500:
            return _server_error(error)
        return error_response(error.code, MESSAGES.get(error.code, error.description))

    @app.errorhandler(Exception)
    def _server_error(error):
        db.session.rollback()
        if not isinstance(error, HTTPException):
            log.exception("Unhandled error on %s %s", request.method, request.path)
        elif isinstance(error, InternalServerError) and error.original_exception is not None:
            log.error("Unhandled error on %s %s", request.method, request.path)
        return error_response(500)
