"""Test control API under ``/_standin`` (loopback callers only)."""

from __future__ import annotations

from dataclasses import asdict
from ipaddress import ip_address

from flask import Blueprint, Response, abort, request

from .responses import json_response
from .store import STORE, Fault

bp = Blueprint("control", __name__, url_prefix="/_standin")

FAULT_MODES = {
    "token": {
        "500",
        "503",
        "429",
        "slow",
        "garbage",
        "invalid_grant",
        "consent_required",
        "temporarily_unavailable",
    },
    "authorize": {
        "server_error",
        "temporarily_unavailable",
        "consent_required",
        "interaction_required",
        "slow",
    },
    "discovery": {"500", "slow", "garbage"},
    "graph": {"401", "403", "404", "429", "503", "500", "slow"},
}
SETTINGS = {
    "access_token_lifetime": int,
    "refresh_token_lifetime": int,
    "revoke_on_rotation": bool,
    "send_iss": bool,
}


def _convert(kind: type, value: object) -> object:
    if kind is bool and not isinstance(value, bool):
        raise ValueError("expected true or false")
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError("expected an integer")
    return value


@bp.before_request
def _loopback_only() -> None:
    try:
        loopback = ip_address((request.remote_addr or "").split("%")[0]).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        abort(403)


def _bad(message: str) -> Response:
    return json_response({"error": message}, 400)


def _body() -> dict:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


@bp.get("/health")
def health() -> Response:
    """Liveness check."""
    return json_response({"status": "ok"})


@bp.get("/accounts")
def accounts() -> Response:
    """The demo accounts."""
    return json_response({"accounts": [asdict(a) for a in STORE.accounts.values()]})


@bp.post("/clients")
def clients() -> Response:
    """Register or replace a client: ``{"client_id", "client_secret", "redirect_uris"}``."""
    body = _body()
    client_id, secret, uris = (
        body.get("client_id"),
        body.get("client_secret"),
        body.get("redirect_uris"),
    )
    if not client_id or not isinstance(client_id, str) or not isinstance(secret, str | None):
        return _bad("client_id must be a string, client_secret a string or null (public client)")
    if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
        return _bad("redirect_uris must be a list of strings")
    client = STORE.register_client(client_id, secret, uris)
    return json_response(
        {"client_id": client.client_id, "redirect_uris": client.redirect_uris}, 201
    )


@bp.post("/faults")
def set_fault() -> Response:
    """Set the fault of an area: ``{"area", "mode", "count", "retry_after", "delay"}``."""
    body = _body()
    area, mode = body.get("area"), str(body.get("mode"))
    if area not in FAULT_MODES or mode not in FAULT_MODES[area]:
        choices = {a: sorted(m) for a, m in FAULT_MODES.items()}
        return _bad(f"unknown area/mode; choose from {choices}")
    try:
        count = None if body.get("count") is None else int(body["count"])
        retry_after = None if body.get("retry_after") is None else int(body["retry_after"])
        delay = float(body.get("delay") or 0)
    except (TypeError, ValueError):
        return _bad("count and retry_after must be integers or null, delay a number")
    if count is not None and count < 1:
        return _bad("count must be at least 1 (or null for until cleared)")
    fault = Fault(area=area, mode=mode, remaining=count, retry_after=retry_after, delay=delay)
    STORE.set_fault(fault)
    return json_response(asdict(fault), 201)


@bp.delete("/faults")
def clear_faults() -> Response:
    """Clear all faults."""
    STORE.clear_faults()
    return json_response({"status": "cleared"})


@bp.get("/stats")
def stats() -> Response:
    """Event counts since start or the last reset."""
    return json_response(STORE.stats())


@bp.post("/reset")
def reset() -> Response:
    """Forget codes, tokens, consents, faults, stats and setting changes."""
    STORE.reset()
    return json_response({"status": "reset"})


@bp.post("/settings")
def settings() -> Response:
    """Change settings (until reset): lifetimes in seconds, revoke_on_rotation, send_iss."""
    body = _body()
    unknown = set(body) - set(SETTINGS)
    if unknown:
        return _bad(f"unknown settings {sorted(unknown)}; known: {sorted(SETTINGS)}")
    try:
        values = {name: _convert(SETTINGS[name], value) for name, value in body.items()}
    except ValueError:
        return _bad("lifetimes must be integers (seconds), switches true or false")
    return json_response(asdict(STORE.update_settings(**values)))


@bp.post("/expire")
def expire() -> Response:
    """Expire all issued items of the kinds flagged: access_tokens, refresh_tokens, codes."""
    body = _body()
    STORE.expire(
        access_tokens=bool(body.get("access_tokens")),
        refresh_tokens=bool(body.get("refresh_tokens")),
        codes=bool(body.get("codes")),
    )
    return json_response({"status": "expired"})


@bp.post("/revoke")
def revoke() -> Response:
    """Revoke every refresh token of an account: ``{"oid"}``."""
    oid = str(_body().get("oid") or "")
    if oid not in STORE.accounts:
        return _bad(f"unknown oid {oid!r}")
    return json_response({"revoked": STORE.revoke_account(oid)})
