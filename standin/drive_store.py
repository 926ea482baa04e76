"""In-memory OneDrive: one drive per demo account, shares, sharing links, upload sessions.

All state lives in :data:`DRIVES`, guarded by its own re-entrant lock (``DRIVES.lock``).
Callers hold the lock around any sequence of reads and writes. Never call a
:data:`~standin.store.STORE` method that takes the store's lock while holding this one
*and* waiting for something else; plain ``STORE.count`` / ``STORE.accounts`` are fine.

Ids are deterministic, so a reset drive has the same ids as the last one:

* work/school drive id ``b!`` + 64 base64url chars, item ids ``01`` + 32 base32-alphabet chars;
* personal drive id 16 lowercase hex, item ids ``<DRIVEID>!<n>`` (root is ``!101``).

Errors are raised as :class:`DriveError` carrying the Graph status, code and message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .drive_seed import seed_files
from .store import CONSUMER_TID, STORE, Account

CHUNK_UNIT = 320 * 1024
MAX_CHUNK = 60 * 1024 * 1024
MAX_FILE = 2 * 1024 * 1024 * 1024
QUOTA_TOTAL = 1024**4
ROOT_SEQ = 101
INVALID_NAME_CHARS = set('"*:<>?/\\|')
CONFLICT_BEHAVIORS = ("fail", "replace", "rename")
# Fold base64's 64 symbols onto base32's 32: ids look like Graph's, at C speed.
_B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_B32 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_TO_BASE32 = bytes.maketrans(_B64, bytes(_B32[i % 32] for i in range(len(_B64))))

_MIME = {
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".csv": "text/csv",
    ".json": "application/json",
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".zip": "application/zip",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}


class DriveError(Exception):
    """A Graph error to send back: HTTP status, Graph error code, message, extra body keys."""

    def __init__(self, status: int, code: str, message: str, extra: dict | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra or {}


def not_found(message: str = "The resource could not be found.") -> DriveError:
    """Graph's 404 itemNotFound."""
    return DriveError(404, "itemNotFound", message)


def mime_type(name: str) -> str:
    """A deterministic MIME type from the file extension."""
    _, dot, ext = name.rpartition(".")
    return _MIME.get(f".{ext.lower()}" if dot else "", "application/octet-stream")


def check_name(name: str) -> str:
    """Return ``name`` if OneDrive accepts it, else raise 400 invalidRequest."""
    if (
        not name
        or name != name.strip()
        or name.endswith(".")
        or name in (".", "..")
        or INVALID_NAME_CHARS & set(name)
    ):
        raise DriveError(400, "invalidRequest", f"The provided name '{name}' is not valid.")
    return name


def iso(stamp: float) -> str:
    """Graph's timestamp format: ``2024-01-08T09:00:00Z``."""
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str) -> float:
    """Inverse of :func:`iso`."""
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


@dataclass(eq=False)
class Item:
    """A file (``content`` is bytes) or folder (``children`` maps casefolded name to id)."""

    id: str
    name: str
    parent_id: str | None
    created: float
    modified: float
    created_by: str
    modified_by: str
    content: bytes | bytearray | None = None
    children: dict[str, str] | None = None
    size: int = 0
    version: int = 1
    _sha256: str | None = None
    # A shortcut ("Add to My files"): (drive id, item id) of a folder in another drive.
    remote: tuple[str, str] | None = None

    @property
    def is_folder(self) -> bool:
        return self.children is not None

    @property
    def mime(self) -> str:
        return mime_type(self.name)

    def sha256(self) -> str | None:
        """Hex SHA-256 of a file's bytes (cached per version); None for a folder."""
        if self.content is None:
            return None
        if self._sha256 is None:
            self._sha256 = hashlib.sha256(self.content).hexdigest()
        return self._sha256


@dataclass(eq=False)
class Drive:
    """One account's OneDrive."""

    id: str
    owner: str
    drive_type: str
    created: float
    items: dict[str, Item] = field(default_factory=dict)
    root_id: str = ""
    seq: int = ROOT_SEQ
    # A SharePoint document library: its name, its site and the tenant whose members use it.
    name: str = "OneDrive"
    site_id: str | None = None
    tenant: str | None = None

    @property
    def root(self) -> Item:
        return self.items[self.root_id]

    def new_id(self) -> str:
        """The next deterministic item id of this drive."""
        seq, self.seq = self.seq, self.seq + 1
        if self.drive_type == "personal":
            return f"{self.id.upper()}!{seq}"
        digest = hashlib.sha256(f"{self.id}:{seq}".encode()).digest()
        return "01" + base64.b64encode(digest).translate(_TO_BASE32)[:32].decode()

    def child(self, folder: Item, name: str) -> Item | None:
        """The child of ``folder`` with this name (case-insensitive), if any."""
        child_id = (folder.children or {}).get(name.casefold())
        return self.items.get(child_id) if child_id else None

    def path_of(self, item: Item) -> str:
        """``/Documents/Notes.txt`` style path from the root ("" for the root)."""
        names = []
        while item.parent_id is not None:
            names.append(item.name)
            item = self.items[item.parent_id]
        return "".join(f"/{name}" for name in reversed(names))

    def ancestors(self, item: Item):
        """The item and then each parent up to the root."""
        current: Item | None = item
        while current is not None:
            yield current
            current = self.items.get(current.parent_id) if current.parent_id else None

    def lookup(self, start: Item, path: str) -> Item | None:
        """The item at ``path`` (slash separated) below ``start``, or None."""
        current: Item | None = start
        for segment in (s for s in path.split("/") if s):
            if current is None or not current.is_folder:
                return None
            current = self.child(current, segment)
        return current

    def free_name(self, folder: Item, name: str) -> str:
        """OneDrive's rename-on-conflict: ``Notes.txt`` -> ``Notes 1.txt``, ``Photos 1``."""
        stem, dot, ext = name.rpartition(".")
        if not dot or not stem:
            stem, dot, ext = name, "", ""
        number = 1
        while True:
            candidate = f"{stem} {number}{dot}{ext}"
            if self.child(folder, candidate) is None:
                return candidate
            number += 1

    def _bump(self, folder_id: str | None, delta: int) -> None:
        while folder_id is not None and delta:
            folder = self.items[folder_id]
            folder.size += delta
            folder_id = folder.parent_id

    def add(
        self,
        parent: Item | None,
        name: str,
        by: str,
        content: bytes | bytearray | None = None,
        *,
        when: float | None = None,
    ) -> Item:
        """Create a file (``content`` given) or folder under ``parent`` (None: the root)."""
        stamp = time.time() if when is None else when
        item = Item(
            id=self.new_id(),
            name=name,
            parent_id=parent.id if parent else None,
            created=stamp,
            modified=stamp,
            created_by=by,
            modified_by=by,
            content=content,
            children=None if content is not None else {},
            size=len(content) if content is not None else 0,
        )
        self.items[item.id] = item
        if parent is None:
            self.root_id = item.id
        else:
            assert parent.children is not None
            parent.children[name.casefold()] = item.id
            self._bump(parent.id, item.size)
        return item

    def add_shortcut(self, parent: Item, name: str, by: str, remote: tuple[str, str]) -> Item:
        """A shortcut to another drive's folder under ``parent`` (neither file nor folder)."""
        stamp = time.time()
        item = Item(self.new_id(), name, parent.id, stamp, stamp, by, by, remote=remote)
        self.items[item.id] = item
        assert parent.children is not None
        parent.children[name.casefold()] = item.id
        return item

    def relocate(self, item: Item, parent: Item, name: str, by: str) -> None:
        """Rename ``item`` and/or move it under ``parent`` (same drive); sizes follow."""
        old = self.items[item.parent_id] if item.parent_id else None
        if old is not None and old.children is not None:
            old.children.pop(item.name.casefold(), None)
            self._bump(old.id, -item.size)
        assert parent.children is not None
        item.name, item.parent_id = name, parent.id
        parent.children[name.casefold()] = item.id
        self._bump(parent.id, item.size)
        item.modified, item.modified_by = time.time(), by

    def replace_content(self, item: Item, content: bytes | bytearray, by: str) -> None:
        """New version of a file: new bytes, same id."""
        self._bump(item.parent_id, len(content) - item.size)
        item.content, item.size = content, len(content)
        item.modified, item.modified_by = time.time(), by
        item.version += 1
        item._sha256 = None

    def delete(self, item: Item) -> list[str]:
        """Remove an item and everything below it; returns the removed ids."""
        parent = self.items[item.parent_id] if item.parent_id else None
        if parent is not None and parent.children is not None:
            parent.children.pop(item.name.casefold(), None)
            self._bump(parent.id, -item.size)
        removed, stack = [], [item]
        while stack:
            current = stack.pop()
            removed.append(current.id)
            self.items.pop(current.id, None)
            stack.extend(self.items[i] for i in (current.children or {}).values())
        return removed

    def put_file(
        self, parent: Item, name: str, content: bytes | bytearray, conflict: str, by: str
    ) -> tuple[Item, bool]:
        """Store a file under ``parent`` honouring conflictBehavior; returns (item, created)."""
        existing = self.child(parent, name)
        if existing is None:
            return self.add(parent, name, by, content), True
        if conflict == "rename":
            return self.add(parent, self.free_name(parent, name), by, content), True
        if conflict == "fail" or existing.is_folder:
            raise name_exists()
        self.replace_content(existing, content, by)
        return existing, False


def name_exists() -> DriveError:
    """Graph's 409 nameAlreadyExists."""
    return DriveError(409, "nameAlreadyExists", "The specified item name already exists.")


@dataclass
class Share:
    """An item of ``owner``'s drive shared with another account."""

    id: str
    owner: str
    item_id: str
    with_oid: str
    roles: tuple[str, ...]
    shared_at: float


@dataclass
class Link:
    """A sharing link made by createLink."""

    id: str
    drive_id: str
    item_id: str
    type: str
    scope: str


@dataclass
class UploadSession:
    """A resumable upload: fragments are written straight into one preallocated buffer."""

    id: str
    drive_id: str
    parent_id: str
    name: str
    item_id: str | None
    conflict: str
    by: str
    expires_at: float
    total: int | None = None
    received: int = 0
    buffer: bytearray | None = None
    busy: bool = False

    def status(self) -> dict:
        """The JSON Graph returns for a session's state."""
        return {
            "expirationDateTime": iso(self.expires_at),
            "nextExpectedRanges": [f"{self.received}-"],
        }


def drive_id_for(account: Account) -> str:
    """Deterministic drive id: personal style for consumer accounts, ``b!...`` otherwise."""
    digest = hashlib.sha256(f"drive:{account.oid}".encode()).digest()
    if account.tid == CONSUMER_TID:
        return digest.hex()[:16]
    longer = digest + hashlib.sha256(digest).digest()
    return "b!" + base64.urlsafe_b64encode(longer).decode()[:64]


SEED_SHARES = (
    # (owner, path, with, roles): Megan shares a folder with Adele, Adele a file with Megan.
    (
        "a11ce000-0000-4000-8000-00000000e6a0",
        "Proposals",
        "a11ce000-0000-4000-8000-00000000ade1",
        ("read",),
    ),
    (
        "a11ce000-0000-4000-8000-00000000ade1",
        "Documents/Quarterly report.docx",
        "a11ce000-0000-4000-8000-00000000e6a0",
        ("write",),
    ),
)
SEED_TIME = parse_iso("2024-01-08T08:00:00Z")


class Drives:
    """Every drive, share, link and upload session of the stand-in."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._key = secrets.token_bytes(32)
        self.reset()

    # -- lifecycle -----------------------------------------------------------
    def reset(self) -> None:
        """Back to the seed: each demo account's demo drive plus the seed shares."""
        with self.lock:
            self.drives: dict[str, Drive] = {}
            self.libraries: dict[str, Drive] = {}  # SharePoint document libraries, by id
            self.shares: list[Share] = []
            self.links: dict[str, Link] = {}
            self.sessions: dict[str, UploadSession] = {}
            for account in STORE.accounts.values():
                self.drives[account.oid] = self._seed_drive(account)
            for owner, path, with_oid, roles in SEED_SHARES:
                drive = self.drives.get(owner)
                item = drive.lookup(drive.root, path) if drive else None
                if item is not None and with_oid in self.drives:
                    self.share(owner, item.id, with_oid, roles, when=SEED_TIME + 3600)

    def _seed_drive(self, account: Account) -> Drive:
        personal = account.tid == CONSUMER_TID
        drive = Drive(
            id=drive_id_for(account),
            owner=account.oid,
            drive_type="personal" if personal else "business",
            created=SEED_TIME,
        )
        drive.add(None, "root", account.oid, when=SEED_TIME)
        for path, content, modified in seed_files(account.name):
            folder_path, _, name = path.rpartition("/")
            parent = drive.lookup(drive.root, folder_path)
            assert parent is not None
            stamp = parse_iso(modified)
            item = drive.add(parent, name, account.oid, content, when=stamp)
            item.created = min(stamp, SEED_TIME + 60)
        return drive

    # -- lookups -------------------------------------------------------------
    def drive_of(self, oid: str) -> Drive | None:
        """The drive of an account."""
        return self.drives.get(oid)

    def drive_by_id(self, drive_id: str) -> Drive | None:
        """A drive by its id (case-insensitive, as Graph treats drive ids)."""
        wanted = drive_id.lower()
        found = self.libraries.get(drive_id)
        if found is not None:
            return found
        every = (*self.drives.values(), *self.libraries.values())
        return next((d for d in every if d.id.lower() == wanted), None)

    def roles_for(self, drive: Drive, item: Item, oid: str) -> set[str] | None:
        """What ``oid`` may do with ``item``: None (no access), {"read"} or {"read","write"}."""
        if drive.owner == oid:
            return {"read", "write"}
        if drive.site_id is not None:  # a site's library: every member of its tenant edits it
            account = STORE.accounts.get(oid)
            return {"read", "write"} if account and account.tid == drive.tenant else None
        ids = {a.id for a in drive.ancestors(item)}
        roles: set[str] = set()
        for share in self.shares:
            if share.owner == drive.owner and share.with_oid == oid and share.item_id in ids:
                roles.update(share.roles)
        if not roles:
            return None
        return roles | {"read"}

    # -- sharing ---------------------------------------------------------------
    def share(
        self, owner: str, item_id: str, with_oid: str, roles=("read",), when: float | None = None
    ) -> Share:
        """Share one of ``owner``'s items with another account (replaces an earlier share)."""
        drive = self.drives.get(owner)
        if drive is None or item_id not in drive.items or drive.root_id == item_id:
            raise not_found(f"no shareable item {item_id!r} in the drive of {owner!r}")
        if with_oid not in self.drives or with_oid == owner:
            raise DriveError(400, "invalidRequest", f"cannot share with {with_oid!r}")
        self.shares = [
            s
            for s in self.shares
            if not (s.owner == owner and s.item_id == item_id and s.with_oid == with_oid)
        ]
        share = Share(
            id=secrets.token_hex(8),
            owner=owner,
            item_id=item_id,
            with_oid=with_oid,
            roles=tuple(roles),
            shared_at=time.time() if when is None else when,
        )
        self.shares.append(share)
        return share

    def shared_with(self, oid: str) -> list[tuple[Share, Drive, Item]]:
        """Live shares to ``oid``, oldest first."""
        found = []
        for share in self.shares:
            drive = self.drives.get(share.owner)
            item = drive.items.get(share.item_id) if drive else None
            if share.with_oid == oid and drive is not None and item is not None:
                found.append((share, drive, item))
        return found

    def link_for(self, drive: Drive, item: Item, kind: str, scope: str) -> tuple[Link, bool]:
        """The sharing link of this type and scope, made if missing; returns (link, created)."""
        for link in self.links.values():
            if (link.drive_id, link.item_id, link.type, link.scope) == (
                drive.id,
                item.id,
                kind,
                scope,
            ):
                return link, False
        link = Link(secrets.token_urlsafe(12), drive.id, item.id, kind, scope)
        self.links[link.id] = link
        return link, True

    # -- signed opaque tokens (download URLs, skip tokens) ---------------------
    def sign(self, *parts: object) -> str:
        """An opaque, tamper-proof token carrying ``parts``."""
        payload = "|".join(str(p) for p in parts).encode()
        mac = hmac.new(self._key, payload, hashlib.sha256).digest()[:12]
        return (
            base64.urlsafe_b64encode(payload).decode().rstrip("=")
            + "."
            + base64.urlsafe_b64encode(mac).decode().rstrip("=")
        )

    def unsign(self, token: str) -> list[str] | None:
        """The parts of a token made by :meth:`sign`, or None if it was not."""
        try:
            payload_b64, mac_b64 = token.split(".")
            payload = base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4))
            mac = base64.urlsafe_b64decode(mac_b64 + "=" * (-len(mac_b64) % 4))
        except ValueError:
            return None
        expected = hmac.new(self._key, payload, hashlib.sha256).digest()[:12]
        if not hmac.compare_digest(mac, expected):
            return None
        return payload.decode().split("|")

    def download_token(self, drive: Drive, item: Item) -> str:
        """The opaque part of a pre-authenticated download URL."""
        expires = int(time.time()) + STORE.settings.drive_download_url_lifetime
        return self.sign("d", drive.id, item.id, expires)

    def thumbnail_token(self, drive: Drive, item: Item, size: str) -> str:
        """The opaque part of a pre-authenticated thumbnail URL (as short-lived as downloads)."""
        expires = int(time.time()) + STORE.settings.drive_download_url_lifetime
        return self.sign("t", drive.id, item.id, size, expires)

    def resolve_thumbnail(self, token: str) -> tuple[Item, str]:
        """The file and size a thumbnail token points at; 401 when expired/forged, 404 if gone."""
        parts = self.unsign(token)
        if not parts or len(parts) != 5 or parts[0] != "t":
            raise DriveError(401, "unauthenticated", "The thumbnail URL is not valid.")
        if int(parts[4]) < time.time():
            raise DriveError(401, "unauthenticated", "The thumbnail URL has expired.")
        drive = self.drive_by_id(parts[1])
        item = drive.items.get(parts[2]) if drive else None
        if item is None or item.content is None:
            raise not_found()
        return item, parts[3]

    def resolve_download(self, token: str) -> Item:
        """The file a download token points at; raises 401 when expired/forged, 404 if gone."""
        parts = self.unsign(token)
        if not parts or len(parts) != 4 or parts[0] != "d":
            raise DriveError(401, "unauthenticated", "The download URL is not valid.")
        if int(parts[3]) < time.time():
            raise DriveError(401, "unauthenticated", "The download URL has expired.")
        drive = self.drive_by_id(parts[1])
        item = drive.items.get(parts[2]) if drive else None
        if item is None or item.content is None:
            raise not_found()
        return item

    # -- upload sessions -------------------------------------------------------
    def new_session(
        self,
        drive: Drive,
        parent: Item,
        name: str,
        *,
        item: Item | None,
        conflict: str,
        by: str,
        size: int | None,
    ) -> UploadSession:
        """Open an upload session for a new file in ``parent`` or a new version of ``item``."""
        session = UploadSession(
            id=secrets.token_urlsafe(24),
            drive_id=drive.id,
            parent_id=parent.id,
            name=name,
            item_id=item.id if item else None,
            conflict=conflict,
            by=by,
            expires_at=time.time() + STORE.settings.drive_upload_session_lifetime,
            total=size,
        )
        self.sessions[session.id] = session
        return session

    def session(self, session_id: str) -> UploadSession:
        """A live session; raises 404 itemNotFound when unknown or expired."""
        session = self.sessions.get(session_id)
        if session is not None and session.expires_at < time.time():
            del self.sessions[session_id]
            session = None
        if session is None:
            raise not_found("The upload session was not found or has expired.")
        return session

    def claim_fragment(self, session_id: str, start: int, end: int, total: int) -> UploadSession:
        """Check a fragment against the session and mark the session busy receiving it."""
        session = self.session(session_id)
        if session.total is not None and total != session.total:
            raise DriveError(
                400, "invalidRange", f"The file size {total} does not match {session.total}."
            )
        if total > MAX_FILE:
            raise DriveError(507, "insufficientStorage", "The file is too large.")
        if session.busy or start != session.received:
            raise DriveError(
                416,
                "invalidRange",
                "The uploaded fragment overlaps with data that has already been received "
                "or does not start at the next expected byte.",
                {"nextExpectedRanges": [f"{session.received}-"]},
            )
        if session.buffer is None:
            session.total = total
            session.buffer = bytearray(total)
        session.busy = True
        return session

    def commit(self, session: UploadSession) -> tuple[Drive, Item, bool]:
        """Turn a complete session into a file; returns (drive, item, created)."""
        self.sessions.pop(session.id, None)
        drive = self.drive_by_id(session.drive_id)
        content = session.buffer if session.buffer is not None else bytearray()
        if drive is None:
            raise not_found()
        if session.item_id is not None:
            item = drive.items.get(session.item_id)
            if item is None:
                raise not_found()
            drive.replace_content(item, content, session.by)
            return drive, item, False
        parent = drive.items.get(session.parent_id)
        if parent is None:
            raise not_found()
        item, created = drive.put_file(parent, session.name, content, session.conflict, session.by)
        return drive, item, created

    # -- bulk seeding for tests ----------------------------------------------------
    def bulk_seed(
        self, drive: Drive, parent: Item, *, folders: int, files: int, prefix: str, size: int | None
    ) -> tuple[list[str], list[str]]:
        """Create many folders and files fast; names ``{prefix} folder 00001`` etc."""
        width = max(5, len(str(max(folders, files))))
        base = time.time() - folders - files
        blob = b"x" * size if size is not None else None
        folder_ids, file_ids = [], []
        for i in range(1, folders + 1):
            name = f"{prefix} folder {i:0{width}d}"
            name = name if drive.child(parent, name) is None else drive.free_name(parent, name)
            folder_ids.append(drive.add(parent, name, drive.owner, when=base + i).id)
        for i in range(1, files + 1):
            name = f"{prefix} file {i:0{width}d}.txt"
            name = name if drive.child(parent, name) is None else drive.free_name(parent, name)
            content = blob if blob is not None else f"{name}\n".encode() * (i % 7 + 1)
            file_ids.append(
                drive.add(parent, name, drive.owner, content, when=base + folders + i).id
            )
        return folder_ids, file_ids


DRIVES = Drives()
STORE.on_reset(DRIVES.reset)
