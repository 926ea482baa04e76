"""Test control API under ``/_standin`` (loopback callers only).

Faults (``POST /faults``): ``{"area", "mode", "count", "retry_after", "delay", "code"}``; see
:data:`FAULT_MODES`. Mode ``aadsts`` (areas ``authorize`` and ``token``) answers the next request
with the AADSTS ``code`` given, as Microsoft sends it: at authorize a redirect back with ``error``
(e.g. ``access_denied`` for 90094, 90095, 65004, 53003, 50105, 50020, 530003;
``interaction_required`` for 50076, 50079; ``unauthorized_client`` for 700016) and
``error_description=AADSTS<code>: ...``; at the token endpoint Microsoft's JSON error, 400, or 401
with ``invalid_client`` (7000215, 7000222, token only). Other codes: ``invalid_request``.

Tenant-wide (admin) consents: ``GET /admin-consents``, ``POST /admin-consents``
``{"client_id", "tenant", "scopes"}``, ``DELETE /admin-consents`` ``{"client_id", "tenant"}``.

Signing key rollover: ``POST /keys/rotate`` (a new key signs; the JWKS lists both until reset).

SharePoint: ``GET /sites`` (every site with its libraries and followers), ``POST /sites``
``{"tenant", "count", "prefix", "followers"}`` (more sites, each with a Documents library),
``DELETE /sites/{site-id}`` (the site and its libraries are gone: Graph answers 404).
``/drive/seed`` and ``/drive/items`` take ``drive`` (a library's drive id) instead of ``oid``.
"""

from __future__ import annotations

from dataclasses import asdict
from ipaddress import ip_address
from time import time

from flask import Blueprint, Response, abort, request

from .aadsts import answer_for
from .drive_store import DRIVES, DriveError, check_name
from .keys import key_ring
from .responses import json_response
from .scopes import ScopeError, full_scope, parse_admin_scopes, token_scopes
from .sites import SITES
from .store import GRAPH, OUTLOOK, STORE, Fault

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
        "aadsts",
    },
    "authorize": {
        "server_error",
        "temporarily_unavailable",
        "consent_required",
        "interaction_required",
        "slow",
        "aadsts",
    },
    "discovery": {"500", "slow", "garbage"},
    # Forge the next successful token response, to test the client's id_token checks.
    "token_response": {
        "bad_signature",
        "wrong_nonce",
        "wrong_audience",
        "wrong_issuer",
        "expired",
        "no_refresh_token",
    },
    "graph": {"401", "403", "404", "429", "503", "500", "slow"},
    "transfer": {"401", "403", "404", "429", "503", "500", "slow"},
}
SETTINGS = {
    "access_token_lifetime": int,
    "refresh_token_lifetime": int,
    "revoke_on_rotation": bool,
    "send_iss": bool,
    "drive_simple_upload_limit": int,
    "drive_download_url_lifetime": int,
    "drive_upload_session_lifetime": int,
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


@bp.get("/tenants")
def tenants() -> Response:
    """The demo tenants (``user_consent`` false: only an admin can consent to an app)."""
    return json_response({"tenants": [asdict(t) for t in STORE.tenants.values()]})


def _consent_row(client_id: str, tid: str, grants) -> dict:
    return {
        "client_id": client_id,
        "tenant": tid,
        "scopes": sorted(full_scope(resource, name) for resource, name in grants),
    }


@bp.get("/admin-consents")
def admin_consents() -> Response:
    """Tenant-wide consents: ``{"admin_consents": [{"client_id", "tenant", "scopes"}]}``.

    ``tenant`` is the tenant GUID; ``scopes`` are full URIs, sorted.
    """
    rows = [_consent_row(*consent) for consent in STORE.tenant_consents()]
    return json_response({"admin_consents": rows})


def _consent_target(body: dict) -> tuple[str, str]:
    client_id, tenant = body.get("client_id"), STORE.find_tenant(str(body.get("tenant") or ""))
    if not client_id or not isinstance(client_id, str) or tenant is None:
        raise ValueError("need client_id (a string) and tenant (a known GUID or domain)")
    return client_id, tenant.tid


@bp.post("/admin-consents")
def grant_admin_consent() -> Response:
    """Consent for a whole tenant, as an admin would: ``{"client_id", "tenant", "scopes"}``.

    ``scopes`` are scope strings as in a request (Graph short names or full URIs, any resources;
    OIDC ones are ignored); they are added to any the client already has there.
    """
    body = _body()
    scopes = body.get("scopes", [])
    try:
        client_id, tid = _consent_target(body)
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise ValueError("scopes must be a list of strings")
        grants = parse_admin_scopes(" ".join(scopes)).grants if scopes else ()
    except (ScopeError, ValueError) as exc:
        return _bad(str(exc))
    STORE.grant_tenant_consent(client_id, tid, grants)
    row = next(r for r in STORE.tenant_consents() if r[:2] == (client_id, tid))
    return json_response(_consent_row(*row), 201)


@bp.delete("/admin-consents")
def revoke_admin_consent() -> Response:
    """Withdraw a client's tenant-wide consent: ``{"client_id", "tenant"}`` -> ``{"revoked"}``."""
    try:
        client_id, tid = _consent_target(_body())
    except ValueError as exc:
        return _bad(str(exc))
    return json_response({"revoked": STORE.revoke_tenant_consent(client_id, tid)})


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


def _fault_code(area: str, mode: str, code: object) -> int | None:
    """The AADSTS code of an ``aadsts`` fault (required then, refused otherwise)."""
    if mode != "aadsts":
        if code is not None:
            raise ValueError("code goes only with mode aadsts")
        return None
    if isinstance(code, bool) or not isinstance(code, int) or code <= 0:
        raise ValueError("mode aadsts needs code, a positive integer (e.g. 90094)")
    if area == "authorize" and answer_for(code).authorize is None:
        raise ValueError(f"AADSTS{code} comes only from the token endpoint")
    return code


@bp.post("/faults")
def set_fault() -> Response:
    """Set the fault of an area: ``{"area", "mode", "count", "retry_after", "delay", "code"}``.

    ``code`` (an AADSTS number) goes with mode ``aadsts`` (areas authorize and token).
    """
    body = _body()
    area, mode = body.get("area"), str(body.get("mode"))
    if area not in FAULT_MODES or mode not in FAULT_MODES[area]:
        choices = {a: sorted(m) for a, m in FAULT_MODES.items()}
        return _bad(f"unknown area/mode; choose from {choices} (aadsts also takes a code)")
    try:
        code = _fault_code(area, mode, body.get("code"))
    except ValueError as exc:
        return _bad(str(exc))
    try:
        count = None if body.get("count") is None else int(body["count"])
        retry_after = None if body.get("retry_after") is None else int(body["retry_after"])
        delay = float(body.get("delay") or 0)
    except (TypeError, ValueError):
        return _bad("count and retry_after must be integers or null, delay a number")
    if count is not None and count < 1:
        return _bad("count must be at least 1 (or null for until cleared)")
    fault = Fault(
        area=area, mode=mode, remaining=count, retry_after=retry_after, delay=delay, code=code
    )
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
    """Forget codes, tokens, consents, faults, stats, setting changes, a retired signing key;
    drives back to seed."""
    STORE.reset()
    key_ring().forget_retired()
    return json_response({"status": "reset"})


@bp.post("/keys/rotate")
def rotate_keys() -> Response:
    """Roll the signing key over, as Microsoft does: tokens are signed with a new key (a new
    ``kid``) from now on; the JWKS lists it beside the retired one until the next reset."""
    kid, retired = key_ring().rotate()
    return json_response({"kid": kid, "retired": retired})


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


AUDIENCES = {"graph": GRAPH, "outlook": OUTLOOK, GRAPH: GRAPH, OUTLOOK: OUTLOOK}
SEED_LIMIT = 100_000


@bp.post("/tokens")
def tokens() -> Response:
    """Issue an access token directly (tests): ``{"oid", "audience", "scopes", "lifetime"}``.

    ``audience`` is ``graph`` (default), ``outlook`` or the resource URL; ``scopes`` are the
    short names put on the token (e.g. ``["Files.ReadWrite.All"]``).
    """
    body = _body()
    account = STORE.accounts.get(str(body.get("oid") or ""))
    audience = AUDIENCES.get(str(body.get("audience") or "graph"))
    scopes = body.get("scopes", [])
    lifetime = body.get("lifetime")
    if account is None or audience is None:
        return _bad(f"need a known oid and an audience from {sorted(AUDIENCES)}")
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        return _bad("scopes must be a list of strings")
    if lifetime is not None and (isinstance(lifetime, bool) or not isinstance(lifetime, int)):
        return _bad("lifetime must be an integer (seconds)")
    token = STORE.issue_access_token(
        audience=audience,
        scopes=token_scopes(scopes, ()),
        account=account,
        client_id=str(body.get("client_id") or "standin-control"),
        lifetime=lifetime,
    )
    expires_in = lifetime if lifetime is not None else STORE.settings.access_token_lifetime
    return json_response(
        {
            "token_type": "Bearer",
            "access_token": token.token,
            "expires_in": expires_in,
            "scope": " ".join(sorted(token.scopes)),
        },
        201,
    )


def _count(body: dict, key: str) -> int:
    value = body.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= SEED_LIMIT:
        raise ValueError(f"{key} must be an integer from 0 to {SEED_LIMIT}")
    return value


@bp.post("/drive/seed")
def drive_seed() -> Response:
    """Bulk-create items: ``{"oid" or "drive", "parent", "folders", "files", "prefix", "size"}``.

    ``drive`` is a drive id (a site's library). ``parent`` is ``root`` (default), an item id or
    a path like ``Documents/Sub``. Items are named ``{prefix} folder 00001`` and
    ``{prefix} file 00001.txt`` (renamed on conflict); ``size`` (bytes) fixes
    every file's size, else files are a few dozen bytes.
    """
    body = _body()
    drive = _drive_named(body)
    size = body.get("size")
    try:
        folders, files = _count(body, "folders"), _count(body, "files")
        prefix = check_name(str(body.get("prefix") or "Item"))
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
            raise ValueError("size must be a non-negative integer")
    except (ValueError, DriveError) as exc:
        return _bad(str(exc))
    if drive is None:
        return _bad(f"unknown oid {body.get('oid')!r} or drive {body.get('drive')!r}")
    with DRIVES.lock:
        parent = _drive_item(drive, str(body.get("parent") or "root"))
        if parent is None or not parent.is_folder:
            return _bad(f"parent {body.get('parent')!r} is not a folder of that drive")
        folder_ids, file_ids = DRIVES.bulk_seed(
            drive, parent, folders=folders, files=files, prefix=prefix, size=size
        )
    return json_response(
        {"parent_id": parent.id, "folder_ids": folder_ids, "file_ids": file_ids}, 201
    )


def _drive_named(source):
    """The drive of ``oid`` (an account's OneDrive) or ``drive`` (any drive id: a library)."""
    if source.get("drive"):
        return DRIVES.drive_by_id(str(source["drive"]))
    return DRIVES.drive_of(str(source.get("oid") or ""))


def _drive_item(drive, ref: str):
    if ref.lower() == "root":
        return drive.root
    return drive.items.get(ref) or drive.lookup(drive.root, ref)


@bp.get("/drive/items")
def drive_items() -> Response:
    """Inspect a drive: ``?oid=...`` or ``?drive=<drive id>`` (a library) [``&parent=id-or-path``
    for one folder's children]."""
    drive = _drive_named(request.args)
    if drive is None:
        return _bad(f"unknown oid {request.args.get('oid')!r} or drive")
    with DRIVES.lock:
        items = list(drive.items.values())
        if request.args.get("parent"):
            parent = _drive_item(drive, request.args["parent"])
            if parent is None or not parent.is_folder:
                return _bad("parent is not a folder of that drive")
            items = [drive.items[i] for i in (parent.children or {}).values()]
        rows = [
            {
                "id": item.id,
                "name": item.name,
                "path": drive.path_of(item) or "/",
                "parent_id": item.parent_id,
                "folder": item.is_folder,
                "size": item.size,
                "child_count": len(item.children) if item.children is not None else None,
                "mime_type": None if item.is_folder else item.mime,
                "sha256": item.sha256(),
            }
            for item in items
        ]
    return json_response(
        {
            "drive_id": drive.id,
            "drive_type": drive.drive_type,
            "root_id": drive.root_id,
            "items": rows,
        }
    )


@bp.post("/drive/share")
def drive_share() -> Response:
    """Share an item: ``{"owner_oid", "item_id" (or "path"), "with_oid", "roles"}``.

    ``roles`` is ``["read"]`` (default) or ``["write"]``.
    """
    body = _body()
    owner, with_oid = str(body.get("owner_oid") or ""), str(body.get("with_oid") or "")
    roles = body.get("roles") or ["read"]
    if not isinstance(roles, list) or not set(roles) <= {"read", "write"}:
        return _bad('roles must be ["read"] or ["write"]')
    drive = DRIVES.drive_of(owner)
    if drive is None:
        return _bad(f"unknown owner_oid {owner!r}")
    with DRIVES.lock:
        item = _drive_item(drive, str(body.get("item_id") or body.get("path") or ""))
        try:
            share = DRIVES.share(owner, item.id if item else "", with_oid, tuple(roles))
        except DriveError as exc:
            return _bad(exc.message)
    return json_response(
        {
            "id": share.id,
            "owner_oid": share.owner,
            "item_id": share.item_id,
            "with_oid": share.with_oid,
            "roles": list(share.roles),
        },
        201,
    )


def _site_row(site) -> dict:
    return {
        "id": site.id,
        "name": site.name,
        "display_name": site.display_name,
        "tenant": site.tenant,
        "followers": sorted(site.followers),
        "libraries": [{"id": d.id, "name": d.name} for d in SITES.libraries(site)],
    }


@bp.get("/sites")
def sites() -> Response:
    """Every SharePoint site, with its libraries (drive ids) and followers."""
    with DRIVES.lock:
        rows = [_site_row(site) for site in SITES.sites.values()]
    return json_response({"sites": rows})


@bp.post("/sites")
def add_sites() -> Response:
    """Add ``count`` sites named ``{prefix} 001``... to a tenant, each with a Documents
    library, followed by the accounts in ``followers`` (oids)."""
    body = _body()
    tenant = STORE.find_tenant(str(body.get("tenant") or ""))
    followers = body.get("followers") or []
    try:
        count = _count(body, "count")
        prefix = check_name(str(body.get("prefix") or "Site"))
        if not isinstance(followers, list) or not set(followers) <= set(STORE.accounts):
            raise ValueError("followers must be a list of known oids")
    except (ValueError, DriveError) as exc:
        return _bad(str(exc))
    if tenant is None:
        return _bad("need tenant, a known GUID or domain")
    with DRIVES.lock:
        added = []
        for number in range(1, count + 1):
            shown = f"{prefix} {number:03d}"
            owner = followers[0] if followers else ""
            site = SITES.add(shown.replace(" ", ""), shown, "", tenant.tid, owner, when=time())
            site.followers.update(followers)
            added.append(_site_row(site))
    return json_response({"sites": added}, 201)


@bp.delete("/sites/<site_id>")
def delete_site(site_id: str) -> Response:
    """Delete a site: it, its libraries and their items answer 404 itemNotFound from now on."""
    with DRIVES.lock:
        deleted = SITES.delete(site_id)
    if not deleted:
        return json_response({"error": f"no site {site_id!r}"}, 404)
    return json_response({"deleted": site_id})
