"""Response helpers shared by the blueprints: Microsoft-style errors, redirects, faults."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import urlencode, urlsplit

from flask import Response, current_app, request

from .aadsts import message
from .pages import error_page
from .store import Fault


def base_url() -> str:
    """The public base URL: the app's configured hint, else the request's host URL."""
    return current_app.config.get("STANDIN_BASE_URL") or request.host_url.rstrip("/")


def ms_error(
    status: int,
    error: str,
    code: int,
    *,
    extra: dict | None = None,
    description: str | None = None,
    **fields,
) -> Response:
    """A token-endpoint style JSON error, shaped like Microsoft's (AADSTS code, ids, timestamp).

    ``description`` replaces the catalogue's ``AADSTS<code>: ...`` text (filled from ``fields``).
    """
    trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    text = description or message(code, **fields)
    body = {
        "error": error,
        "error_description": f"{text} Trace ID: {trace_id} "
        f"Correlation ID: {correlation_id} Timestamp: {stamp}",
        "error_codes": [code],
        "timestamp": stamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"{base_url()}/error?code={code}",
        **(extra or {}),
    }
    return json_response(body, status)


def json_response(body: dict, status: int = 200, headers: dict | None = None) -> Response:
    """A JSON response with no-store caching, as the identity platform sends."""
    response = Response(
        json.dumps(body), status=status, mimetype="application/json", headers=headers
    )
    response.headers["Cache-Control"] = "no-store, no-cache"
    return response


def html_error(status: int, code: int, **fields) -> Response:
    """A sign-in error page (never a redirect) showing an AADSTS message."""
    return Response(error_page(message(code, **fields)), status=status, mimetype="text/html")


def with_params(uri: str, params: dict[str, str | None]) -> str:
    """Append query parameters (skipping None values), keeping the URI's own query verbatim."""
    added = urlencode({k: v for k, v in params.items() if v is not None})
    if not added:
        return uri
    return f"{uri}{'&' if urlsplit(uri).query else '?'}{added}"


def redirect_to(uri: str, params: dict[str, str | None]) -> Response:
    """A 302 redirect to ``uri`` with the given query parameters."""
    return Response(status=302, headers={"Location": with_params(uri, params)})


def sleep_for(fault: Fault | None) -> None:
    """Honour a fault's delay (used by every mode, and alone by ``slow``)."""
    if fault is not None and fault.delay > 0:
        time.sleep(fault.delay)


def plain_fault(fault: Fault) -> Response | None:
    """Response for the transport-level fault modes shared by token and discovery.

    ``500`` is an HTML error page, ``503``/``429`` carry Retry-After, ``garbage``
    is a 200 that is not JSON. Returns None for modes handled elsewhere.
    """
    retry = {"Retry-After": str(fault.retry_after if fault.retry_after is not None else 1)}
    if fault.mode == "500":
        return html_error(500, 50000)
    if fault.mode == "503":
        return Response(
            "<html><body><h1>Service Unavailable</h1></body></html>",
            503,
            retry,
            mimetype="text/html",
        )
    if fault.mode == "429":
        response = ms_error(429, "temporarily_unavailable", 50196)
        response.headers.update(retry)
        return response
    if fault.mode == "garbage":
        return Response(
            "<html>upstream proxy says hello; this is not JSON", 200, mimetype="text/html"
        )
    return None
