"""Microsoft Graph: its base URL, what its errors and Retry-After mean, and who a token belongs
to (`/me`). The OneDrive client and sendMail build on these."""

import requests
from flask import current_app

from app.connect.oidc import retry_after
from app.connect.provider import ProviderError
from app.core import http

SIMPLE_UPLOAD_MAX = 4 * 1024 * 1024  # PUT .../content takes at most 4 MiB
UPLOAD_CHUNK_UNIT = 320 * 1024  # upload-session fragments are multiples of 320 KiB
UPLOAD_CHUNK_MAX = 32 * UPLOAD_CHUNK_UNIT  # 10 MiB: the largest fragment we send
NAME_CONFLICT = "nameAlreadyExists"  # error code of conflictBehavior=fail
# Drive and item ids are opaque but never contain "/", "?", "#", ":" or dots.
ID_PATTERN = r"[A-Za-z0-9!_-]{1,256}"
TRANSIENT_STATUSES = (429, 500, 502, 503, 504)

session = http.Session()


def url(path: str) -> str:
    """A Graph URL on the configured Graph base (MICROSOFT_GRAPH_URL)."""
    return f"{current_app.config['MICROSOFT_GRAPH_URL']}{path}"


def error_code(response: requests.Response) -> str:
    """Graph's `error.code` of an error answer, or ""."""
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return ""


def error_message(response: requests.Response, default: str | None = None) -> str:
    """Graph's `error.message` of an error answer, or `default` (the HTTP status)."""
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}" if default is None else default


def error(response: requests.Response) -> ProviderError:
    """A Graph error answer as a ProviderError: 401 means the token was refused."""
    if response.status_code == 401:
        return ProviderError(
            "Microsoft Graph did not accept the access token.", error="unauthorized", status=401
        )
    return ProviderError(
        f"Microsoft Graph answered: {error_message(response)}",
        status=response.status_code,
        retry_after=retry_after(response),
        transient=response.status_code in TRANSIENT_STATUSES,
    )


def call(method: str, path: str, access_token: str, **kwargs) -> requests.Response:
    """One Graph request with the bearer token; no answer becomes a transient ProviderError."""
    headers = {**kwargs.pop("headers", {}), "Authorization": f"Bearer {access_token}"}
    try:
        return session.request(method, url(path), headers=headers, allow_redirects=False, **kwargs)
    except requests.Timeout as exc:
        raise ProviderError(
            "Microsoft did not answer in time. Please try again in a moment.", transient=True
        ) from exc
    except requests.RequestException as exc:
        raise ProviderError(
            "Microsoft could not be reached. Please try again in a moment.", transient=True
        ) from exc


def me(access_token: str) -> dict:
    """Who the token belongs to, from `/me` (proves a Graph token works)."""
    response = call(
        "GET", "/me", access_token, params={"$select": "id,displayName,userPrincipalName,mail"}
    )
    if response.status_code != 200:
        raise error(response)
    return response.json()
