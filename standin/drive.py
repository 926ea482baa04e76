"""Microsoft Graph OneDrive stand-in: ``/v1.0/me/drive/...`` over :data:`DRIVES`.

Routes (each also under ``/v1.0/drives/{drive-id}/...`` for items shared with the caller):

* ``GET /me/drive``, ``GET /drives/{id}``, ``GET /me/drive/sharedWithMe``
* item by id ``/me/drive/items/{id}`` (``root`` is an alias), ``/me/drive/root``, or by path
  ``/me/drive/root:/{path}`` and ``/me/drive/items/{id}:/{path}``, followed by an optional
  segment (``/children``, ``/content``, ``/createUploadSession``, ``/createLink``; after a
  path the segment is written ``:/children`` etc.):

  ====== ===================== ==========================================================
  GET    (none)                the driveItem
  DELETE (none)                204
  PATCH  (none)                rename (``name``) and/or move (``parentReference.id``, same
                               drive, not ``root``); 409 nameAlreadyExists when the
                               destination holds that name (no conflictBehavior, as documented)
  GET    children              list, ``$top`` (default 200, clamped to 999), ``$select``,
                               ``$orderby`` (name / lastModifiedDateTime / size /
                               createdDateTime, asc|desc), ``@odata.nextLink`` with an
                               opaque ``$skiptoken``. Default order: creation order.
                               ``$expand=thumbnails`` (or ``thumbnails($select=small,...)``)
                               adds ``thumbnails``: ``[]`` or one set ``{"id": "0", small:
                               {width, height, url}, ...}`` whose urls need no token
  POST   children              create a folder (conflictBehavior default ``fail``)
  GET    content               302 to a pre-authenticated ``/_download/{token}`` URL
  PUT    content               simple upload (conflictBehavior default ``replace``)
  POST   createUploadSession   resumable upload; ``uploadUrl`` is ``/_upload/{session}``
  POST   createLink            sharing link (201 new, 200 existing of same type+scope)
  GET    thumbnails/0/{size}/content  302 to a pre-authenticated ``/_thumbnail/{token}``
                               PNG (small 48x48 cropped, medium 176, large 800 bound) for
                               images, PDF and Office files; 404 itemNotFound for others
  GET    search(q='text')      items below whose name holds every word (case-insensitive),
                               breadth first; ``$top``, ``$select``, ``@odata.nextLink``;
                               parentReference carries driveId, driveType and id only
  ====== ===================== ==========================================================

Choices where Graph is vague: an app-only token is 400 BadRequest (``/me`` needs a
user); a file asked for ``children`` (or used as a parent) is 400 invalidRequest; an
unknown id, path or another account's (unshared) item is 404 itemNotFound; a Graph token
without any Files scope is 403 accessDenied, as is a read-only Files scope on a write;
``sharedWithMe`` and ``/drives/{other}`` need a ``*.All`` Files scope (403 otherwise).
The transfer URLs (``/_download``, ``/_upload``) need no token, reject an Authorization
header on ``/_upload`` (401), and obey the ``transfer`` fault area rather than ``graph``.
Files carry ``file.hashes.sha256Hash`` (no quickXorHash).

Uploads: simple PUT bodies are capped at ``drive_simple_upload_limit`` (setting, default
4 MiB; 413 requestBodyTooLarge). Upload-session fragments need ``Content-Range: bytes
a-b/total`` and a matching Content-Length, must be multiples of 320 KiB except the last
(400 invalidRange), at most 60 MiB (413), and must start at the next expected byte (416
with ``nextExpectedRanges``); 202 until complete, then 201 (new) or 200 (new version).
``GET`` an uploadUrl for its status, ``DELETE`` it to cancel. Fragments are read straight
into one preallocated buffer that becomes the file's bytes (no extra copies).
Folder create with ``replace`` on an existing folder returns it unchanged (200), as Graph
does. Download URLs live ``drive_download_url_lifetime`` seconds (default 300).

Each Graph call counts ``graph.drive.<op>``; transfer URLs count ``drive.<op>``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import struct
import time
import zlib
from dataclasses import dataclass
from html import escape
from urllib.parse import quote

from flask import Blueprint, Response, abort, request

from .drive_store import (
    CHUNK_UNIT,
    CONFLICT_BEHAVIORS,
    DRIVES,
    MAX_CHUNK,
    QUOTA_TOTAL,
    Drive,
    DriveError,
    Item,
    check_name,
    iso,
    name_exists,
    not_found,
)
from .graph import graph_error, graph_fault, require_token
from .responses import base_url
from .store import STORE

bp = Blueprint("drive", __name__, url_prefix="/v1.0")
transfer_bp = Blueprint("drive_transfer", __name__)

READ_SCOPES = frozenset({"Files.Read", "Files.ReadWrite", "Files.Read.All", "Files.ReadWrite.All"})
WRITE_SCOPES = frozenset({"Files.ReadWrite", "Files.ReadWrite.All"})
ALL_SCOPES = frozenset({"Files.Read.All", "Files.ReadWrite.All"})
DEFAULT_TOP = 200
MAX_TOP = 999
STREAM_PIECE = 256 * 1024
SAFE_QUERY = ",'()!$"
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
DOWNLOAD_URL = "@microsoft.graph.downloadUrl"
# search(q='...') (also search(query='...')): an OData string literal, ' written twice.
SEARCH_OP = re.compile(r"search\((?:q|query)='((?:[^']|'')*)'\)", re.DOTALL)
SEARCH_PATH = re.compile(r"(?:root|items/([^/]+))/(search\(.*\))", re.DOTALL)
SELECTABLE = frozenset(
    {
        "id",
        "name",
        "size",
        "createdDateTime",
        "lastModifiedDateTime",
        "webUrl",
        "parentReference",
        "file",
        "folder",
        "root",
        "createdBy",
        "lastModifiedBy",
        "eTag",
        "cTag",
        "fileSystemInfo",
        "description",
        "shared",
        "remoteItem",
        "package",
        "image",
        "photo",
        "video",
        "audio",
        "specialFolder",
        "deleted",
        "sharepointIds",
        "webDavUrl",
        DOWNLOAD_URL,
        "content.downloadUrl",
    }
)
ORDER_KEYS = {
    "name": lambda item: item.name.casefold(),
    "lastmodifieddatetime": lambda item: item.modified,
    "createddatetime": lambda item: item.created,
    "size": lambda item: item.size,
}


@dataclass
class Caller:
    """The signed-in account behind a Graph request."""

    oid: str
    scopes: frozenset[str]


@dataclass
class Target:
    """What a request addresses: an item (None when about to be created) in a drive."""

    drive: Drive
    item: Item | None
    parent: Item | None
    name: str
    by_path: bool
    via: str | None


# -- errors and plumbing ---------------------------------------------------------
def _graph_error(exc: DriveError) -> Response:
    STORE.count("graph.error")
    response = graph_error(exc.status, exc.code, exc.message)
    if exc.extra:
        body = json.loads(response.get_data())
        body.update(exc.extra)
        response.set_data(json.dumps(body))
    return response


def _drain(response: Response) -> Response:
    """Read any unread request body so the client sees our answer, not a reset."""
    exhaust = getattr(request.stream, "exhaust", None)
    if exhaust is not None:
        with contextlib.suppress(Exception):
            exhaust()
    return response


for _blueprint in (bp, transfer_bp):
    _blueprint.register_error_handler(DriveError, _graph_error)
    _blueprint.after_request(_drain)


def _json(status: int, body: dict, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json", headers=headers)


def _denied(message: str = "Access denied") -> DriveError:
    return DriveError(403, "accessDenied", message)


def _bad(message: str, code: str = "invalidRequest") -> DriveError:
    return DriveError(400, code, message)


def _arg(name: str) -> str | None:
    """A system query option, with or without its ``$``."""
    value = request.args.get(f"${name}")
    return value if value is not None else request.args.get(name)


def _begin(op: str, write: bool = False) -> Caller:
    """Count the call, apply the ``graph`` fault, check the token and its Files scopes."""
    STORE.count(f"graph.drive.{op}")
    failed = graph_fault()
    if failed is not None:
        abort(failed)
    token, failed = require_token()
    if failed is not None:
        abort(failed)
    if token.oid is None or token.oid not in STORE.accounts:
        raise _bad("/me request is only valid with delegated authentication flow.", "BadRequest")
    if not token.scopes & (WRITE_SCOPES if write else READ_SCOPES):
        raise _denied()
    return Caller(token.oid, token.scopes)


def _identity(oid: str) -> dict:
    account = STORE.accounts.get(oid)
    if account is None:
        return {"user": {"displayName": "System Account"}}
    return {"user": {"email": account.email, "id": account.oid, "displayName": account.name}}


# -- rendering -----------------------------------------------------------------------
class Render:
    """Turns items of one drive into Graph driveItem JSON for one viewer."""

    def __init__(
        self,
        drive: Drive,
        viewer: str,
        select: frozenset[str] | None = None,
        thumbnails: tuple[str, ...] = (),
    ) -> None:
        self.drive = drive
        self.viewer = viewer
        self.select = select
        self.thumbnails = thumbnails  # the sizes $expand=thumbnails asked for
        self.base = base_url()
        own = drive.owner == viewer
        self.root_path = "/drive/root:" if own else f"/drives/{drive.id}/root:"

    def web_url(self, item: Item) -> str:
        if item.id == self.drive.root_id:
            return f"{self.base}/_onedrive/{self.drive.id}"
        return f"{self.base}/_onedrive/{self.drive.id}/items/{item.id}"

    def download_url(self, item: Item) -> str:
        return f"{self.base}/_download/{DRIVES.download_token(self.drive, item)}"

    def parent_reference(self, item: Item, parent_path: str | None) -> dict:
        reference = {"driveType": self.drive.drive_type, "driveId": self.drive.id}
        if item.parent_id is None:
            return reference
        parent = self.drive.items[item.parent_id]
        if parent_path is None:
            parent_path = self.drive.path_of(parent)
        name = {} if parent.parent_id is None else {"name": parent.name}
        return {**reference, "id": parent.id, **name, "path": self.root_path + parent_path}

    def facets(self, item: Item) -> dict:
        if item.remote is not None:
            return {"remoteItem": self.remote_item(*item.remote)}
        if item.is_folder:
            facets: dict = {"folder": {"childCount": len(item.children or {})}}
            if item.id == self.drive.root_id:
                facets["root"] = {}
            return facets
        return {"file": {"mimeType": item.mime, "hashes": {"sha256Hash": item.sha256().upper()}}}

    def remote_item(self, drive_id: str, item_id: str) -> dict:
        """The remoteItem facet of a shortcut: where the folder lives and, while the viewer
        may still open it, what it is."""
        drive = DRIVES.drive_by_id(drive_id)
        target = drive.items.get(item_id) if drive else None
        reference = {"driveId": drive_id, "driveType": drive.drive_type if drive else "business"}
        if target is None or DRIVES.roles_for(drive, target, self.viewer) is None:
            return {"id": item_id, "parentReference": reference}
        return {
            "id": target.id,
            "name": target.name,
            "size": target.size,
            "lastModifiedDateTime": iso(target.modified),
            "lastModifiedBy": _identity(target.modified_by),
            "webUrl": Render(drive, self.viewer).web_url(target),
            "folder": {"childCount": len(target.children or {})},
            "parentReference": {**reference, "id": target.parent_id},
        }

    def item(self, item: Item, parent_path: str | None = None) -> dict:
        """The driveItem JSON, filtered by ``$select`` when given."""
        data: dict = {}
        if item.content is not None:
            data[DOWNLOAD_URL] = self.download_url(item)
        data.update(
            {
                "createdDateTime": iso(item.created),
                "eTag": f'"{{{item.id}}},{item.version}"',
                "id": item.id,
                "lastModifiedDateTime": iso(item.modified),
                "name": item.name,
                "webUrl": self.web_url(item),
                "cTag": f'"c:{{{item.id}}},{item.version}"',
                "size": item.size,
                "createdBy": _identity(item.created_by),
                "lastModifiedBy": _identity(item.modified_by),
                "parentReference": self.parent_reference(item, parent_path),
                "fileSystemInfo": {
                    "createdDateTime": iso(item.created),
                    "lastModifiedDateTime": iso(item.modified),
                },
                **self.facets(item),
            }
        )
        if self.thumbnails:
            data["thumbnails"] = self.thumbnail_sets(item)
        if self.select is None:
            return data
        wanted = set(self.select) | ({"thumbnails"} if self.thumbnails else set())
        if "content.downloadUrl" in wanted:
            wanted.add(DOWNLOAD_URL)
        return {key: value for key, value in data.items() if key in wanted}

    def thumbnail_sets(self, item: Item) -> list[dict]:
        """Graph's thumbnails collection: one set ("0") for images, PDF and Office files."""
        if not has_thumbnail(item):
            return []
        thumbnail_set: dict = {"id": "0"}
        for size in self.thumbnails:
            token = DRIVES.thumbnail_token(self.drive, item, size)
            side = THUMBNAIL_SIDES[size]
            thumbnail_set[size] = {
                "height": side,
                "width": side,
                "url": f"{self.base}/_thumbnail/{token}",
            }
        return [thumbnail_set]

    def drive_json(self) -> dict:
        used = self.drive.root.size
        return {
            "id": self.drive.id,
            "driveType": self.drive.drive_type,
            "name": self.drive.name,
            "description": "",
            "createdDateTime": iso(self.drive.created),
            "lastModifiedDateTime": iso(self.drive.root.modified),
            "webUrl": f"{self.base}/_onedrive/{self.drive.id}",
            "createdBy": {"user": {"displayName": "System Account"}},
            "lastModifiedBy": _identity(self.drive.owner),
            "owner": _identity(self.drive.owner),
            "quota": {
                "deleted": 0,
                "remaining": QUOTA_TOTAL - used,
                "state": "normal",
                "total": QUOTA_TOTAL,
                "used": used,
            },
        }


def _select() -> frozenset[str] | None:
    raw = _arg("select")
    if raw is None:
        return None
    names = frozenset(part.strip() for part in raw.split(",") if part.strip())
    unknown = sorted(names - SELECTABLE)
    if unknown:
        raise _bad(
            f"Could not find a property named '{unknown[0]}' on type 'microsoft.graph.driveItem'.",
            "BadRequest",
        )
    return names


THUMBNAIL_SIDES = {"small": 48, "medium": 176, "large": 800}
THUMBNAIL_MIMES = ("image/", "application/pdf", "application/vnd.openxmlformats-officedocument")
EXPAND_THUMBNAILS = re.compile(r"thumbnails(?:\(\$?select=([a-z,]+)\))?")


def has_thumbnail(item: Item) -> bool:
    """Whether Graph would have thumbnails for the item: images, PDF and Office files."""
    return item.content is not None and item.mime.startswith(THUMBNAIL_MIMES)


def _expand() -> tuple[str, ...]:
    """The thumbnail sizes ``$expand=thumbnails(...)`` asks for; () without $expand."""
    raw = _arg("expand")
    if raw is None:
        return ()
    found = EXPAND_THUMBNAILS.fullmatch(raw.replace(" ", ""))
    if not found:
        raise _bad(f"Parsing OData Select and Expand failed: '{raw}'.", "BadRequest")
    sizes = tuple(found.group(1).split(",")) if found.group(1) else tuple(THUMBNAIL_SIDES)
    unknown = [size for size in sizes if size not in THUMBNAIL_SIDES]
    if unknown:
        raise _bad(
            f"Could not find a property named '{unknown[0]}' on type "
            "'microsoft.graph.thumbnailSet'.",
            "BadRequest",
        )
    return sizes


def _context(target: Target, caller: Caller, suffix: str) -> str:
    owner = f"users('{caller.oid}')/drive" if target.via is None else f"drives('{target.drive.id}')"
    return f"{base_url()}/v1.0/$metadata#{owner}/{suffix}"


# -- addressing ------------------------------------------------------------------------
def _drive(caller: Caller, drive_id: str | None) -> Drive:
    drive = DRIVES.drive_of(caller.oid) if drive_id is None else DRIVES.drive_by_id(drive_id)
    if drive is None:
        raise not_found()
    if drive.owner != caller.oid and not caller.scopes & ALL_SCOPES:
        raise _denied()
    return drive


def _resolve(
    caller: Caller, drive_id: str | None, ref: str, path: str | None, creating: bool
) -> Target:
    drive = _drive(caller, drive_id)
    base = drive.root if ref.lower() == "root" else drive.items.get(ref)
    if base is None:
        raise not_found()
    clean = (path or "").strip("/")
    if not clean:
        parent = drive.items.get(base.parent_id) if base.parent_id else None
        return Target(drive, base, parent, base.name, path is not None, drive_id)
    folder_path, _, name = clean.rpartition("/")
    parent = drive.lookup(base, folder_path)
    if parent is None:
        raise not_found()
    item = drive.child(parent, name) if parent.is_folder else None
    if item is None and not creating:
        raise not_found()
    return Target(drive, item, parent, name, True, drive_id)


def _check_access(caller: Caller, target: Target, write: bool) -> None:
    node = target.item or target.parent
    assert node is not None
    roles = DRIVES.roles_for(target.drive, node, caller.oid)
    if roles is None:
        raise not_found()
    if write and "write" not in roles:
        raise _denied()


def _split_rest(rest: str) -> tuple[str, str]:
    """``Documents/a.txt:/content`` -> (``Documents/a.txt``, ``content``)."""
    path, sep, op = rest.partition(":/")
    if not sep:
        return rest.rstrip(":"), ""
    return path, op.strip("/")


def _folder(item: Item | None) -> Item:
    if item is None or not item.is_folder:
        raise _bad("The item is not a folder.")
    return item


def _conflict(body: dict | None, default: str) -> str:
    value = (body or {}).get("@microsoft.graph.conflictBehavior") or _arg(
        "@microsoft.graph.conflictBehavior"
    )
    value = value or default
    if value not in CONFLICT_BEHAVIORS:
        raise _bad(f"Invalid value '{value}' for @microsoft.graph.conflictBehavior.")
    return value


# -- item operations -----------------------------------------------------------------------
def _get_item(caller: Caller, target: Target, _body) -> Response:
    render = Render(target.drive, caller.oid, _select())
    assert target.item is not None
    context = _context(target, caller, "items/$entity")
    return _json(200, {"@odata.context": context, **render.item(target.item)})


def _delete(caller: Caller, target: Target, _body) -> Response:
    assert target.item is not None
    if target.item.id == target.drive.root_id:
        raise _denied("The root folder cannot be deleted.")
    removed = set(target.drive.delete(target.item))
    for link_id in [k for k, link in DRIVES.links.items() if link.item_id in removed]:
        del DRIVES.links[link_id]
    return Response(status=204)


def _top() -> int:
    raw = _arg("top")
    if raw is None:
        return DEFAULT_TOP
    if not raw.isdigit() or int(raw) < 1:
        raise _bad(f"Invalid $top value '{raw}'.", "BadRequest")
    return min(int(raw), MAX_TOP)


def _sort(items: list[Item], raw: str) -> None:
    """Apply ``$orderby`` (comma separated ``field [asc|desc]``) in place, stably."""
    keys = []
    for part in (p.strip() for p in raw.split(",") if p.strip()):
        field_name, _, direction = part.partition(" ")
        direction = direction.strip().lower() or "asc"
        key = ORDER_KEYS.get(field_name.lower())
        if key is None or direction not in ("asc", "desc"):
            raise _bad(f"Invalid $orderby clause '{part}'.", "BadRequest")
        keys.append((key, direction == "desc"))
    for key, reverse in reversed(keys):
        items.sort(key=key, reverse=reverse)


def _offset(drive: Drive, folder: Item, order: str) -> int:
    raw = _arg("skiptoken")
    if raw is None:
        return 0
    parts = DRIVES.unsign(raw)
    if (
        not parts
        or len(parts) < 5
        or parts[:3] != ["s", drive.id, folder.id]
        or "|".join(parts[4:]) != order
    ):
        raise _bad("The $skiptoken is not valid for this request.")
    return int(parts[3])


def _paging(target: Target, token: str) -> tuple[str, str]:
    """The parts of a nextLink: the drive's path, and this request's query with `token` as its
    `$skiptoken` (every other option kept, as Graph does)."""
    owner = "me/drive" if target.via is None else f"drives/{quote(target.drive.id, safe='!')}"
    params = [
        (key, value)
        for key, value in request.args.items(multi=True)
        if key.lstrip("$") != "skiptoken"
    ]
    params.append(("$skiptoken", token))
    query = "&".join(f"{quote(k, safe='$@')}={quote(v, safe=SAFE_QUERY)}" for k, v in params)
    return owner, query


def _next_link(target: Target, folder: Item, offset: int, order: str) -> str:
    owner, query = _paging(target, DRIVES.sign("s", target.drive.id, folder.id, offset, order))
    return f"{base_url()}/v1.0/{owner}/items/{quote(folder.id, safe='!')}/children?{query}"


def _list_children(caller: Caller, target: Target, _body) -> Response:
    folder = _folder(target.item)
    top, order, select = _top(), _arg("orderby") or "", _select()
    items = [target.drive.items[i] for i in (folder.children or {}).values()]
    _sort(items, order)
    offset = _offset(target.drive, folder, order)
    render = Render(target.drive, caller.oid, select, _expand())
    parent_path = target.drive.path_of(folder)
    body = {
        "@odata.context": _context(target, caller, f"items('{folder.id}')/children"),
        "value": [render.item(item, parent_path) for item in items[offset : offset + top]],
    }
    if offset + top < len(items):
        body["@odata.nextLink"] = _next_link(target, folder, offset + top, order)
    return _json(200, body)


def _below(drive: Drive, folder: Item) -> list[Item]:
    """Everything below ``folder``, breadth first, each folder's children by name."""
    found, queue = [], [folder]
    while queue:
        current = queue.pop(0)
        kids = sorted(
            (drive.items[i] for i in (current.children or {}).values()),
            key=lambda item: item.name.casefold(),
        )
        found.extend(kids)
        queue.extend(kid for kid in kids if kid.is_folder)
    return found


def _search_offset(drive: Drive, folder: Item, text: str) -> int:
    raw = _arg("skiptoken")
    if raw is None:
        return 0
    parts = DRIVES.unsign(raw)
    if not parts or len(parts) < 5 or parts[:3] != ["q", drive.id, folder.id]:
        raise _bad("The $skiptoken is not valid for this request.")
    if "|".join(parts[4:]) != text:
        raise _bad("The $skiptoken is not valid for this request.")
    return int(parts[3])


def _search(caller: Caller, target: Target, text: str) -> Response:
    """Items below the folder whose name holds every word of the text (Graph also looks at
    metadata and content; the stand-in knows names). Results carry a parentReference without
    the folder's path, as Graph's search results do."""
    folder = _folder(target.item)
    top, select = _top(), _select()
    words = text.casefold().split()
    found = [
        item
        for item in _below(target.drive, folder)
        if words and all(word in item.name.casefold() for word in words)
    ]
    offset = _search_offset(target.drive, folder, text)
    render = Render(target.drive, caller.oid, select, _expand())
    value = []
    for item in found[offset : offset + top]:
        data = render.item(item)
        if "parentReference" in data:
            data["parentReference"] = {
                k: v
                for k, v in data["parentReference"].items()
                if k in ("driveId", "driveType", "id")
            }
        value.append(data)
    body = {"@odata.context": f"{base_url()}/v1.0/$metadata#Collection(driveItem)", "value": value}
    if offset + top < len(found):
        token = DRIVES.sign("q", target.drive.id, folder.id, offset + top, text)
        owner, query = _paging(target, token)
        literal = quote(text.replace("'", "''"), safe="")
        body["@odata.nextLink"] = (
            f"{base_url()}/v1.0/{owner}/items/{quote(folder.id, safe='!')}"
            f"/search(q='{literal}')?{query}"
        )
    return _json(200, body)


def _create_folder(caller: Caller, target: Target, body) -> Response:
    parent = _folder(target.item)
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        raise _bad("A JSON body with a 'name' is required.", "BadRequest")
    if isinstance(body.get("remoteItem"), dict):
        return _add_shortcut(caller, target, parent, body)
    if not isinstance(body.get("folder"), dict):
        raise _bad("Only folders can be created here; upload files with PUT .../content.")
    name = check_name(body["name"])
    conflict = _conflict(body, "fail")
    existing = target.drive.child(parent, name)
    render = Render(target.drive, caller.oid)
    if existing is not None:
        if conflict == "replace" and existing.is_folder:
            return _json(200, render.item(existing))  # Graph keeps the folder as it is
        if conflict != "rename":
            raise name_exists()
        name = target.drive.free_name(parent, name)
    item = target.drive.add(parent, name, caller.oid)
    return _json(
        201, {"@odata.context": _context(target, caller, "items/$entity"), **render.item(item)}
    )


def _add_shortcut(caller: Caller, target: Target, parent: Item, body: dict) -> Response:
    """Add a folder shared with the caller to the root of their drive, as "Add to My files"
    does: POST .../root/children with a remoteItem naming the folder's drive and id."""
    if parent.id != target.drive.root_id or target.drive.owner != caller.oid:
        raise _bad("A shared folder can only be added to the root of your own drive.")
    remote = body["remoteItem"]
    drive_id = str((remote.get("parentReference") or {}).get("driveId") or "")
    drive = DRIVES.drive_by_id(drive_id) if drive_id else None
    shared = drive.items.get(str(remote.get("id") or "")) if drive else None
    if shared is None or DRIVES.roles_for(drive, shared, caller.oid) is None:
        raise not_found("The shared item could not be found.")
    if not shared.is_folder:
        raise _bad("Only shared folders can be added to a drive.")
    name = check_name(body["name"])
    if target.drive.child(parent, name) is not None:
        if _conflict(body, "fail") != "rename":
            raise name_exists()
        name = target.drive.free_name(parent, name)
    item = target.drive.add_shortcut(parent, name, caller.oid, (drive.id, shared.id))
    render = Render(target.drive, caller.oid)
    return _json(
        201, {"@odata.context": _context(target, caller, "items/$entity"), **render.item(item)}
    )


def _destination(caller: Caller, target: Target, body: dict) -> Item:
    """The folder a PATCH moves the item into: its parent unless ``parentReference`` names
    another folder of the same drive by id (Graph refuses the alias ``root`` there)."""
    item = target.item
    assert item is not None
    reference = body.get("parentReference")
    if reference is None:
        return target.drive.items[item.parent_id]
    if not isinstance(reference, dict) or not isinstance(reference.get("id"), str):
        raise _bad("parentReference needs the id of the new parent folder.")
    drive_id = reference.get("driveId")
    if drive_id is not None and str(drive_id).lower() != target.drive.id.lower():
        raise _bad("Items cannot be moved between drives with this request.")
    if reference["id"].lower() == "root":
        raise _bad("Use the id of the root folder, not 'root', to move an item there.")
    parent = target.drive.items.get(reference["id"])
    if parent is None or DRIVES.roles_for(target.drive, parent, caller.oid) is None:
        raise not_found("The new parent folder could not be found.")
    if "write" not in (DRIVES.roles_for(target.drive, parent, caller.oid) or set()):
        raise _denied()
    if any(a.id == item.id for a in target.drive.ancestors(parent)):
        raise _bad("A folder cannot be moved into itself or a folder inside it.")
    return _folder(parent)


def _update(caller: Caller, target: Target, body) -> Response:
    """PATCH: rename (``name``) and/or move (``parentReference.id``). An item of that name in
    the destination is 409 nameAlreadyExists; Graph documents no conflictBehavior here."""
    item = target.item
    assert item is not None
    if not isinstance(body, dict):
        raise _bad("A JSON body is required.", "BadRequest")
    if item.id == target.drive.root_id:
        raise _bad("The root folder cannot be renamed or moved.")
    name = check_name(body["name"]) if isinstance(body.get("name"), str) else item.name
    parent = _destination(caller, target, body)
    existing = target.drive.child(parent, name)
    if existing is not None and existing is not item:
        raise name_exists()
    target.drive.relocate(item, parent, name, caller.oid)
    render = Render(target.drive, caller.oid)
    context = _context(target, caller, "items/$entity")
    return _json(200, {"@odata.context": context, **render.item(item)})


def _download(caller: Caller, target: Target, _body) -> Response:
    item = target.item
    if item is None or item.content is None:
        raise _bad("The item is a folder; only files have content.")
    location = Render(target.drive, caller.oid).download_url(item)
    return Response(status=302, headers={"Location": location})


def _upload(caller: Caller, target: Target, payload: bytes) -> Response:
    drive, item = target.drive, target.item
    conflict = _conflict(None, "replace")
    if item is not None and not target.by_path:
        if item.content is None:
            raise _bad("Cannot upload content to a folder.")
        drive.replace_content(item, payload, caller.oid)
        created = False
    else:
        parent = _folder(target.parent)
        item, created = drive.put_file(
            parent, check_name(target.name), payload, conflict, caller.oid
        )
    body = {
        "@odata.context": _context(target, caller, "items/$entity"),
        **Render(drive, caller.oid).item(item),
    }
    return _json(201 if created else 200, body)


def _session_spec(body) -> tuple[dict, int | None]:
    spec = body.get("item") if isinstance(body, dict) else None
    spec = spec if isinstance(spec, dict) else {}
    size = spec.get("fileSize")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
        raise _bad("fileSize must be a positive integer.")
    return spec, size


def _create_upload_session(caller: Caller, target: Target, body) -> Response:
    spec, size = _session_spec(body)
    conflict = _conflict(spec, "replace")
    drive, item = target.drive, target.item
    if item is not None and not target.by_path:
        if item.content is None:
            raise _bad("Use items/{parent-id}:/{filename}:/createUploadSession for new files.")
        parent = _folder(target.parent)
        session = DRIVES.new_session(
            drive, parent, item.name, item=item, conflict="replace", by=caller.oid, size=size
        )
    else:
        parent, name = _folder(target.parent), check_name(target.name)
        if item is not None and (conflict == "fail" or (item.is_folder and conflict != "rename")):
            raise name_exists()
        session = DRIVES.new_session(
            drive, parent, name, item=None, conflict=conflict, by=caller.oid, size=size
        )
    return _json(
        200,
        {
            "@odata.context": f"{base_url()}/v1.0/$metadata#microsoft.graph.uploadSession",
            "uploadUrl": f"{base_url()}/_upload/{session.id}",
            **session.status(),
        },
    )


def _create_link(caller: Caller, target: Target, body) -> Response:
    body = body if isinstance(body, dict) else {}
    kind, scope = body.get("type"), body.get("scope") or "anonymous"
    if kind not in ("view", "edit", "embed") or scope not in ("anonymous", "organization", "users"):
        raise _bad("type must be view, edit or embed; scope anonymous, organization or users.")
    if scope == "organization" and target.drive.drive_type == "personal":
        raise _bad("Organization links are not supported for personal accounts.")
    assert target.item is not None
    link, created = DRIVES.link_for(target.drive, target.item, kind, scope)
    return _json(
        201 if created else 200,
        {
            "@odata.context": f"{base_url()}/v1.0/$metadata#permission",
            "id": link.id,
            "roles": ["write"] if kind == "edit" else ["read"],
            "shareId": f"s!{link.id}",
            "hasPassword": False,
            "link": {
                "type": kind,
                "scope": scope,
                "webUrl": f"{base_url()}/_onedrive/s/{link.id}",
                "preventsDownload": False,
            },
        },
    )


# (method, segment) -> (count name, handler, needs write, may address a missing item)
OPS = {
    ("GET", ""): ("get_item", _get_item, False, False),
    ("DELETE", ""): ("delete", _delete, True, False),
    ("PATCH", ""): ("update", _update, True, False),
    ("GET", "children"): ("list_children", _list_children, False, False),
    ("GET", "search"): ("search", _search, False, False),
    ("POST", "children"): ("create_folder", _create_folder, True, False),
    ("GET", "content"): ("download", _download, False, False),
    ("PUT", "content"): ("upload", _upload, True, True),
    ("POST", "createUploadSession"): ("create_upload_session", _create_upload_session, True, True),
    ("POST", "createLink"): ("create_link", _create_link, True, False),
}


def _small_body() -> bytes:
    limit = STORE.settings.drive_simple_upload_limit
    length = request.content_length
    if length is None or length <= limit:
        data = request.get_data(cache=False)
        if len(data) <= limit:
            return data
    raise DriveError(
        413,
        "requestBodyTooLarge",
        f"The request body exceeds {limit} bytes; use an upload session for large files.",
    )


def _dispatch(drive_id: str | None, ref: str, path: str | None, op: str) -> Response:
    method = "GET" if request.method == "HEAD" else request.method
    searched = SEARCH_OP.fullmatch(op)
    if searched:
        op = "search"
    entry = OPS.get((method, op))
    if entry is None:
        STORE.count("graph.drive.unsupported")
        raise _bad(f"{method} is not supported on segment '{op or 'item'}'.", "BadRequest")
    name, handler, write, creating = entry
    caller = _begin(name, write)
    if name == "upload":
        body = _small_body()
    elif searched:
        body = searched.group(1).replace("''", "'")
    else:
        body = request.get_json(silent=True) if request.method in ("POST", "PATCH") else None
    with DRIVES.lock:
        target = _resolve(caller, drive_id, ref, path, creating)
        _check_access(caller, target, write)
        return handler(caller, target, body)


# -- routes -----------------------------------------------------------------------------
@bp.get("/me/drive")
@bp.get("/drives/<drive_id>")
def drive(drive_id: str | None = None) -> Response:
    """The drive resource."""
    caller = _begin("drive")
    with DRIVES.lock:
        target_drive = _drive(caller, drive_id)
        if DRIVES.roles_for(target_drive, target_drive.root, caller.oid) is None:
            raise not_found()  # another account's drive; a site's library for its members
        body = Render(target_drive, caller.oid).drive_json()
    return _json(200, {"@odata.context": f"{base_url()}/v1.0/$metadata#drives/$entity", **body})


@bp.get("/me/drive/sharedWithMe")
def shared_with_me() -> Response:
    """Items other accounts shared with the caller, as remoteItem entries."""
    caller = _begin("shared_with_me")
    if not caller.scopes & ALL_SCOPES:
        raise _denied()
    with DRIVES.lock:
        value = [_shared_entry(caller, *found) for found in DRIVES.shared_with(caller.oid)]
    context = f"{base_url()}/v1.0/$metadata#Collection(driveItem)"
    return _json(200, {"@odata.context": context, "value": value})


def _shared_entry(caller: Caller, share, drive: Drive, item: Item) -> dict:
    full = Render(drive, caller.oid).item(item)
    full.pop(DOWNLOAD_URL, None)
    facet = {k: full[k] for k in ("file", "folder") if k in full}
    common = {
        k: full[k]
        for k in (
            "id",
            "name",
            "size",
            "webUrl",
            "createdDateTime",
            "lastModifiedDateTime",
            "createdBy",
            "lastModifiedBy",
        )
    }
    reference = {"driveId": drive.id, "driveType": drive.drive_type}
    remote = {
        **common,
        **facet,
        "parentReference": {**reference, "id": item.parent_id},
        "shared": {
            "owner": _identity(share.owner),
            "sharedBy": _identity(share.owner),
            "sharedDateTime": iso(share.shared_at),
            "scope": "users",
        },
    }
    return {**common, **facet, "parentReference": reference, "remoteItem": remote}


@bp.route("/me/drive/root", methods=METHODS)
@bp.route("/drives/<drive_id>/root", methods=METHODS)
def root(drive_id: str | None = None) -> Response:
    """The root folder."""
    return _dispatch(drive_id, "root", None, "")


@bp.route("/me/drive/root/<op>", methods=METHODS)
@bp.route("/drives/<drive_id>/root/<op>", methods=METHODS)
def root_op(op: str, drive_id: str | None = None) -> Response:
    """An operation on the root folder."""
    return _dispatch(drive_id, "root", None, op)


@bp.route("/me/drive/items/<item_id>", methods=METHODS)
@bp.route("/drives/<drive_id>/items/<item_id>", methods=METHODS)
def item_by_id(item_id: str, drive_id: str | None = None) -> Response:
    """An item by id."""
    return _dispatch(drive_id, item_id, None, "")


@bp.route("/me/drive/items/<item_id>/<op>", methods=METHODS)
@bp.route("/drives/<drive_id>/items/<item_id>/<op>", methods=METHODS)
def item_op(item_id: str, op: str, drive_id: str | None = None) -> Response:
    """An operation on an item by id."""
    return _dispatch(drive_id, item_id, None, op)


@bp.get("/me/drive/items/<item_id>/thumbnails/<set_id>/<size>/content")
@bp.get("/drives/<drive_id>/items/<item_id>/thumbnails/<set_id>/<size>/content")
def thumbnail_content(item_id: str, set_id: str, size: str, drive_id: str | None = None):
    """A thumbnail's bytes: 302 to a pre-authenticated ``/_thumbnail/{token}`` URL."""
    caller = _begin("thumbnail")
    with DRIVES.lock:
        target = _resolve(caller, drive_id, item_id, None, False)
        _check_access(caller, target, False)
        item = target.item
        if item is None or set_id != "0" or size not in THUMBNAIL_SIDES or not has_thumbnail(item):
            raise not_found()
        token = DRIVES.thumbnail_token(target.drive, item, size)
    return Response(status=302, headers={"Location": f"{base_url()}/_thumbnail/{token}"})


@bp.route("/me/drive/root:/<path:rest>", methods=METHODS)
@bp.route("/drives/<drive_id>/root:/<path:rest>", methods=METHODS)
def root_path(rest: str, drive_id: str | None = None) -> Response:
    """Path addressing from the root: ``root:/a/b.txt`` or ``root:/a:/children``."""
    path, op = _split_rest(rest)
    return _dispatch(drive_id, "root", path, op)


@bp.route("/me/drive/items/<item_id>:/<path:rest>", methods=METHODS)
@bp.route("/drives/<drive_id>/items/<item_id>:/<path:rest>", methods=METHODS)
def item_path(item_id: str, rest: str, drive_id: str | None = None) -> Response:
    """Path addressing below an item: ``items/{id}:/name.txt:/content``."""
    path, op = _split_rest(rest)
    return _dispatch(drive_id, item_id, path, op)


@bp.route("/me/drive/<path:rest>", methods=METHODS)
@bp.route("/drives/<drive_id>/<path:rest>", methods=METHODS)
def unsupported(rest: str, drive_id: str | None = None) -> Response:
    """Anything else under a drive: a Graph-shaped 400 rather than an HTML 404; a search whose
    text holds a "/" arrives here too."""
    searched = SEARCH_PATH.fullmatch(rest)
    if searched:
        return _dispatch(drive_id, searched.group(1) or "root", None, searched.group(2))
    STORE.count("graph.drive.unsupported")
    raise _bad(f"Resource not found for the segment '{rest.split('/')[0]}'.", "BadRequest")


# -- transfer URLs (no token; like Graph's pre-authenticated storage URLs) --------------------
def _transfer(op: str) -> None:
    STORE.count(f"drive.{op}")
    failed = graph_fault("transfer")
    if failed is not None:
        abort(failed)


def _pieces(content: bytes | bytearray, start: int, stop: int):
    view = memoryview(content)
    for position in range(start, stop, STREAM_PIECE):
        yield bytes(view[position : min(position + STREAM_PIECE, stop)])


def png(side: int, seed: bytes) -> bytes:
    """A small solid-colour PNG (the stand-in's thumbnail), its colour taken from `seed`."""
    colour = hashlib.sha256(seed).digest()[:3]
    raw = b"".join(b"\x00" + colour * side for _ in range(side))

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@transfer_bp.get("/_thumbnail/<token>")
def thumbnail(token: str) -> Response:
    """A generated PNG thumbnail; no Authorization needed, like Graph's thumbnail URLs."""
    _transfer("thumbnail")
    with DRIVES.lock:
        item, size = DRIVES.resolve_thumbnail(token)
        seed = f"{item.id}:{item.version}".encode()
    body = png(THUMBNAIL_SIDES.get(size, 48), seed)
    return Response(body, content_type="image/png", headers={"Content-Length": str(len(body))})


@transfer_bp.get("/_download/<token>")
def download(token: str) -> Response:
    """Stream a file's bytes; honours a single ``Range``. No Authorization needed."""
    _transfer("download")
    with DRIVES.lock:
        item = DRIVES.resolve_download(token)
        content, name, mime = item.content, item.name, item.mime
    assert content is not None
    size, start, stop, status = len(content), 0, len(content), 200
    wanted = request.range
    if wanted is not None and len(wanted.ranges) == 1:
        found = wanted.range_for_length(size)
        if found is None:
            return Response(status=416, headers={"Content-Range": f"bytes */{size}"})
        (start, stop), status = found, 206
    response = Response(_pieces(content, start, stop), status=status, content_type=mime)
    response.headers["Content-Length"] = str(stop - start)
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{name.encode("ascii", "replace").decode()}"; '
        f"filename*=UTF-8''{quote(name)}"
    )
    if status == 206:
        response.headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    return response


def _content_range(header: str) -> tuple[int, int, int]:
    unit, _, spec = header.partition(" ")
    span, _, total = spec.partition("/")
    first, _, last = span.partition("-")
    if unit != "bytes" or not (first.isdigit() and last.isdigit() and total.isdigit()):
        raise _bad(f"Invalid Content-Range '{header}'; expected 'bytes a-b/total'.", "invalidRange")
    start, end, size = int(first), int(last), int(total)
    if start > end or end >= size:
        raise _bad(f"Invalid Content-Range '{header}'.", "invalidRange")
    return start, end, size


def _fragment_bounds() -> tuple[int, int, int]:
    if "Authorization" in request.headers:
        raise DriveError(
            401,
            "unauthenticated",
            "Do not send an Authorization header to the upload URL; it is pre-authenticated.",
        )
    start, end, total = _content_range(request.headers.get("Content-Range", ""))
    length = end - start + 1
    if request.content_length != length:
        raise _bad("Content-Length must equal the size of the Content-Range.", "invalidRange")
    if length > MAX_CHUNK:
        raise DriveError(413, "requestBodyTooLarge", "A fragment must be smaller than 60 MiB.")
    if end + 1 < total and length % CHUNK_UNIT:
        raise _bad("Fragments other than the last must be a multiple of 320 KiB.", "invalidRange")
    return start, end, total


def _receive(buffer: bytearray, start: int, length: int) -> bool:
    """Read the body straight into ``buffer[start:start+length]``; False if it ended early."""
    view = memoryview(buffer)[start : start + length]
    done = 0
    while done < length:
        count = request.stream.readinto(view[done:])
        if not count:
            return False
        done += count
    return True


@transfer_bp.put("/_upload/<session_id>")
def upload_fragment(session_id: str) -> Response:
    """Receive one fragment of an upload session: 202 until complete, then 201/200 + item."""
    _transfer("upload_fragment")
    start, end, total = _fragment_bounds()
    with DRIVES.lock:
        session = DRIVES.claim_fragment(session_id, start, end, total)
    assert session.buffer is not None
    try:
        complete = _receive(session.buffer, start, end - start + 1)
    finally:
        with DRIVES.lock:
            session.busy = False
    if not complete:
        raise _bad("The fragment ended before Content-Length bytes.", "invalidRange")
    with DRIVES.lock:
        if DRIVES.sessions.get(session_id) is not session:
            raise not_found("The upload session was cancelled or has expired.")
        session.received = end + 1
        session.expires_at = time.time() + STORE.settings.drive_upload_session_lifetime
        if session.received < total:
            return _json(202, session.status())
        drive, item, created = DRIVES.commit(session)
        return _json(201 if created else 200, Render(drive, session.by).item(item))


@transfer_bp.get("/_upload/<session_id>")
def upload_status(session_id: str) -> Response:
    """The session's expiry and next expected range (to resume after a failure)."""
    _transfer("upload_status")
    with DRIVES.lock:
        return _json(200, DRIVES.session(session_id).status())


@transfer_bp.delete("/_upload/<session_id>")
def upload_cancel(session_id: str) -> Response:
    """Cancel an upload session."""
    _transfer("upload_cancel")
    with DRIVES.lock:
        DRIVES.sessions.pop(DRIVES.session(session_id).id, None)
    return Response(status=204)


# -- web pages behind webUrl -------------------------------------------------------------------
@transfer_bp.get("/_onedrive/<drive_id>")
@transfer_bp.get("/_onedrive/<drive_id>/items/<item_id>")
def web_page(drive_id: str, item_id: str | None = None) -> Response:
    """A bare page standing in for the OneDrive web UI (no sign-in)."""
    with DRIVES.lock:
        found = DRIVES.drive_by_id(drive_id)
        item = None
        if found is not None:
            item = found.root if item_id is None else found.items.get(item_id)
        if found is None or item is None:
            return Response("<h1>Item not found</h1>", 404, mimetype="text/html")
        rows = [found.items[i] for i in (item.children or {}).values()]
        links = "".join(
            f'<li><a href="/_onedrive/{escape(found.id)}/items/{escape(child.id)}">'
            f"{escape(child.name)}</a></li>"
            for child in rows
        )
        title = "My files" if item.id == found.root_id else item.name
        detail = f"<ul>{links}</ul>" if item.is_folder else f"<p>{item.size} bytes, {item.mime}</p>"
    page = f"<!doctype html><title>{escape(title)} - OneDrive</title><h1>{escape(title)}</h1>"
    return Response(page + detail, mimetype="text/html")


@transfer_bp.get("/_onedrive/s/<link_id>")
def shared_link(link_id: str) -> Response:
    """A sharing link: redirects to the item's page."""
    with DRIVES.lock:
        link = DRIVES.links.get(link_id)
    if link is None:
        return Response("<h1>This link has been removed</h1>", 404, mimetype="text/html")
    return Response(
        status=302, headers={"Location": f"/_onedrive/{link.drive_id}/items/{link.item_id}"}
    )
