"""The Cloud Drive dashlet over the signed-in user's own OneDrive and the SharePoint sites they
reach: what the screen lists (folders first; icon kind, who modified it, when, size), page
cursors and upload tickets the browser carries but can neither read nor forge, and the upload
rules (one PUT up to 4 MiB, else parts). A site's document library is a drive, browsed like My
Files. Every call uses the user's own Microsoft account, so nobody reaches another user's
drive."""

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import unquote

from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload

from app.connect import connectors, external_accounts
from app.connect.models import CONNECTED, NEEDS_RECONNECT, ExternalAccount
from app.core import sealed
from app.extensions import db
from app.microsoft import graph, identity
from app.microsoft.onedrive import (
    ANONYMOUS,
    FAIL,
    ID,
    LINK_SCOPES,
    ORGANIZATION,
    SITE_GONE,
    SITE_ID,
    Download,
    DriveError,
    InvalidRequest,
    Location,
    NeedsReconnect,
    NoOrganizationLinks,
    NotConnected,
    NotFound,
    OneDrive,
    PermissionDenied,
    SharingLink,
    SiteGone,
    check_id,
    check_site_id,
)
from app.users.models import User

MINE, SHARED, SITES = "mine", "shared", "sites"
VIEW_LABELS = {MINE: "My Files", SHARED: "Shared With Me", SITES: "Sites"}
PAGE_SIZE = 100
CURSOR_MAX_AGE = 6 * 3600
UPLOAD_MAX_AGE = 24 * 3600
ORDER_BY = {"name": "name", "modified": "lastModifiedDateTime"}
NOT_FOUND = "The connection with Microsoft was not found."
RECONNECT = (
    "Microsoft no longer accepts the connection to OneDrive. Please reauthenticate it in "
    "Profile > External Accounts."
)
# Who can open a link made by Copy Link, in the screen's words.
LINK_SCOPE_LABELS = {ORGANIZATION: "People in your organization", ANONYMOUS: "Anyone with the link"}
ANONYMOUS_NOT_ALLOWED = (
    "Your administrator does not allow links that anyone can open. Copy a link for people in "
    "your organization instead."
)
NO_ORGANIZATION_ADVICE = {
    True: "Choose Anyone with the link instead.",
    False: (
        "Ask your administrator to allow links that anyone can open (Admin > Connectors), or "
        "connect a work or school account in Profile > External Accounts."
    ),
}
KINDS = {
    "word": {"doc", "docx", "odt", "rtf"},
    "excel": {"xls", "xlsx", "csv", "ods"},
    "powerpoint": {"ppt", "pptx", "odp"},
    "pdf": {"pdf"},
    "image": {"png", "jpg", "jpeg", "gif", "bmp", "svg", "webp", "heic", "tif", "tiff"},
    "text": {"txt", "md", "json", "xml", "log", "html"},
    "archive": {"zip", "7z", "gz", "tgz", "rar", "tar"},
    "video": {"mp4", "mov", "avi", "mkv", "webm"},
    "audio": {"mp3", "wav", "m4a", "ogg", "flac"},
}
# What Office for the web opens from an item's webUrl (Word, Excel, PowerPoint) and PDF, which
# OneDrive shows in its viewer.
OFFICE_WEB = {"doc", "docx", "docm", "odt", "xls", "xlsx", "xlsm", "xlsb", "ods"}
OFFICE_WEB |= {"ppt", "pptx", "pptm", "ppsx", "odp", "pdf"}
# Plain text is previewed as text (never rendered); at most this much is fetched for it.
TEXT_PREVIEW_MAX = 256 * 1024
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
KIND_OF_EXTENSION = {ext: kind for kind, exts in KINDS.items() for ext in exts}


@dataclass(frozen=True)
class Connection:
    """Whether the user's Microsoft account can serve the dashlet."""

    state: str  # "connected", "needs_reconnect" or "not_connected"
    account_id: int | None = None
    username: str = ""


def connection_of(user: User) -> Connection:
    """The state of the user's Microsoft account, without calling Microsoft."""
    account = external_accounts.connected_account(user, identity.NAME)
    if account is None or account.status not in (CONNECTED, NEEDS_RECONNECT):
        return Connection("not_connected")
    return Connection(account.status, account.id, account.authorized_email)


# Built once: assembling and cache-keying this SELECT cost more than running it (0.7 ms against
# 0.25 ms a call), and every Cloud Drive request makes it.
_ACCOUNT_WITH_CREDENTIAL = (
    select(ExternalAccount)
    .options(joinedload(ExternalAccount.credential))
    .where(
        ExternalAccount.user_id == bindparam("user_id"),
        ExternalAccount.provider == identity.NAME,
    )
)


def _account(user: User) -> ExternalAccount | None:
    """The user's Microsoft account with its credential, in one query."""
    return db.session.scalar(_ACCOUNT_WITH_CREDENTIAL, {"user_id": user.id})


def _drive(user: User) -> OneDrive:
    account = _account(user)
    if account is None or account.status not in (CONNECTED, NEEDS_RECONNECT):
        raise NotConnected(NOT_FOUND)
    if account.status == NEEDS_RECONNECT:
        raise NeedsReconnect(RECONNECT)
    return OneDrive(account)


# --- what the browser addresses ----------------------------------------------------------------


@dataclass(frozen=True)
class Folder:
    """A folder as the screen addresses it: My Files plus a path, Shared With Me, or a folder
    shared with the user (its drive, id and name) plus a path; or Sites (the followed ones), a
    site (its id and name: its libraries), or a library of it (its drive id and name) plus a
    path; with the sort order."""

    view: str = MINE
    drive_id: str = ""
    item_id: str = ""
    name: str = ""
    path: str = ""
    sort: str = "name"
    order: str = "asc"
    site_id: str = ""
    site_name: str = ""

    @classmethod
    def from_args(cls, args: Mapping) -> "Folder":
        """Read and check the query parameters (or JSON) naming a folder; InvalidRequest if
        they cannot name one."""
        view = str(args.get("view") or MINE)
        sort = str(args.get("sort") or "name")
        order = str(args.get("order") or ("asc" if sort == "name" else "desc"))
        if view not in VIEW_LABELS or sort not in ORDER_BY or order not in ("asc", "desc"):
            raise InvalidRequest("That folder address is not valid.")
        path = "/".join(p for p in str(args.get("path") or "").split("/") if p)
        if view == MINE:
            folder = cls(MINE, path=path, sort=sort, order=order)
        elif view == SHARED:
            drive_id, item_id = str(args.get("drive") or ""), str(args.get("item") or "")
            if bool(drive_id) != bool(item_id) or (path and not item_id):
                raise InvalidRequest("That folder address is not valid.")
            name = str(args.get("name") or "Shared folder")[:250]
            folder = cls(SHARED, drive_id, item_id, name, path, sort, order)
        else:
            folder = replace(cls._in_sites(args, path), sort=sort, order=order)
        folder.location  # noqa: B018  (checks ids and names)
        return folder

    @classmethod
    def _in_sites(cls, args: Mapping, path: str) -> "Folder":
        """Sites, a site (`site`, `site_name`) or a path in a library of it (`drive`, `name`)."""
        site_id, drive_id = str(args.get("site") or ""), str(args.get("drive") or "")
        if (drive_id and not site_id) or (path and not drive_id):
            raise InvalidRequest("That folder address is not valid.")
        if site_id:
            check_site_id(site_id)
        site_name = str(args.get("site_name") or "Site")[:250] if site_id else ""
        name = str(args.get("name") or "Documents")[:250] if drive_id else ""
        return cls(SITES, drive_id, "", name, path, site_id=site_id, site_name=site_name)

    @property
    def is_sites_list(self) -> bool:
        """Sites itself (followed sites, a search for sites) or a site's list of libraries:
        no folder, nothing to upload into."""
        return self.view == SITES and not self.drive_id

    @property
    def searchable(self) -> bool:
        """Whether Search applies: in a drive, a shared folder, a library, or for sites."""
        if self.view == SHARED:
            return bool(self.item_id)
        return not (self.view == SITES and self.site_id and not self.drive_id)

    @property
    def drive_top(self) -> int:
        """Where the drive's own top is in the breadcrumb (Move browses from there)."""
        return {MINE: 0, SHARED: 1, SITES: 2}[self.view]

    @property
    def is_shared_root(self) -> bool:
        """Shared With Me itself (a list of shared items, not a folder)."""
        return self.view == SHARED and not self.item_id

    @property
    def location(self) -> Location | None:
        """Where Graph finds it; None for Shared With Me itself."""
        if self.view == MINE:
            return Location(None, "root", self.path)
        if self.view == SITES:
            return Location(check_id(self.drive_id), "root", self.path) if self.drive_id else None
        if not self.item_id:
            return None
        return Location(check_id(self.drive_id), check_id(self.item_id), self.path)

    def params(self, **changes) -> dict:
        """Query parameters naming this folder (defaults left out), with `changes` applied."""
        values = {
            "view": "" if self.view == MINE else self.view,
            "site": self.site_id,
            "site_name": self.site_name if self.site_id else "",
            "drive": self.drive_id,
            "item": self.item_id,
            "name": self.name if self.item_id or self.view == SITES else "",
            "path": self.path,
            "sort": "" if self.sort == "name" else self.sort,
            "order": "" if self.order == ("asc" if self.sort == "name" else "desc") else self.order,
        }
        values.update(changes)
        return {key: value for key, value in values.items() if value}

    def child(self, name: str) -> "Folder":
        """A subfolder."""
        return replace(self, path=f"{self.path}/{name}" if self.path else name)

    def crumbs(self) -> list[tuple[str, "Folder"]]:
        """The breadcrumb: (label, folder) from the view's top down to this folder."""
        top = Folder(self.view, sort=self.sort, order=self.order)
        trail = [(VIEW_LABELS[self.view], top)]
        base = replace(self, path="")
        if self.view == SHARED and self.item_id:
            trail.append((self.name, base))
        if self.view == SITES and self.site_id:
            trail.append(
                (self.site_name, replace(top, site_id=self.site_id, site_name=self.site_name))
            )
            if self.drive_id:
                trail.append((self.name, base))
        for part in self.location.parts if self.location else []:
            base = base.child(part)
            trail.append((part, base))
        return trail

    @property
    def orderby(self) -> str:
        """Graph's `$orderby` for the sort."""
        return f"{ORDER_BY[self.sort]} {self.order}"


@dataclass(frozen=True)
class Place:
    """A folder known only by its id (and drive, "" for the user's own): where a search result
    lives when Graph did not send the folder's path. Opening it asks Graph where it is. In a
    site's library, `library` is that library (its top), so it opens there."""

    drive_id: str
    item_id: str
    library: Folder | None = None

    @classmethod
    def from_args(cls, args: Mapping) -> "Place":
        """The folder `open` (an id) of `drive`; in a library when the arguments name one."""
        library = None
        if args.get("view") == SITES:
            keys = ("view", "site", "site_name", "drive", "name")
            library = Folder.from_args({key: args.get(key) for key in keys if args.get(key)})
            if library.location is None:
                raise InvalidRequest("That folder address is not valid.")
        return cls(str(args.get("drive") or ""), str(args.get("open") or ""), library)


@dataclass(slots=True)
class Row:
    """One line of a listing: a folder (it opens `target`) or a file (it downloads). Not frozen:
    a page builds a hundred, and a frozen dataclass costs four times as much to build."""

    id: str
    drive_id: str  # "" for the user's own drive
    name: str
    is_folder: bool
    kind: str
    modified_by: str
    modified_iso: str  # UTC; pages show it in the reader's time zone
    size: str
    target: Folder | Place | None
    web_url: str = ""  # Open in Office for the web: Word, Excel, PowerPoint and PDF files
    thumbnail: bool = False  # Graph has thumbnails for it (images, PDF, Office files)
    # search results only: the folder the item is in, and its path when Graph sent one
    parent: Folder | Place | None = None
    parent_path: str | None = None


@dataclass(frozen=True)
class Listing:
    """A page of rows of one folder, or of a search in it (`query`); `cursor` loads the next
    page."""

    folder: Folder
    rows: list[Row]
    cursor: str | None
    query: str = ""


def _kind(item: dict) -> str:
    if "folder" in item:
        return "folder"
    kind = KIND_OF_EXTENSION.get(str(item.get("name", "")).rpartition(".")[2].lower())
    if kind:
        return kind
    mime = str((item.get("file") or {}).get("mimeType") or "")
    return next((k for k in ("image", "video", "audio", "text") if mime.startswith(k)), "file")


def _size(item: dict) -> str:
    if "folder" in item:
        count = (item.get("folder") or {}).get("childCount")
        return "" if count is None else f"{count} item{'' if count == 1 else 's'}"
    size = item.get("size")
    if not isinstance(size, int):
        return ""
    value, unit = float(size), "bytes"
    for bigger in ("KB", "MB", "GB", "TB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"


def _when(value: object) -> str:
    """Graph's ISO 8601 time as ISO in UTC ("" when it is not a time)."""
    text = str(value or "")
    if not ISO_UTC.fullmatch(text):  # Graph answers UTC with "Z"; anything else is parsed
        try:
            text = datetime.fromisoformat(text).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            return ""
    return text


def _office_url(item: dict, name: str) -> str:
    """The item's webUrl when Office for the web (or OneDrive's PDF viewer) opens it."""
    url = item.get("webUrl")
    if "file" not in item or name.rpartition(".")[2].lower() not in OFFICE_WEB:
        return ""
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        return ""
    return url


def _who(item: dict) -> str:
    by = item.get("lastModifiedBy") or {}
    for key in ("user", "application", "device"):
        name = (by.get(key) or {}).get("displayName")
        if name:
            return str(name)
    return ""


def _target(item: dict, remote: dict | None, folder: Folder) -> tuple[str, Folder | None]:
    """The row's drive and, for a folder, the folder it opens."""
    if remote is None:
        opens = folder.child(str(item.get("name", ""))) if "folder" in item else None
        return folder.drive_id, opens
    # an entry of Shared With Me, or a shared folder added to My files: it lives in another
    # drive. A shortcut whose folder the user may no longer open has no facet left; it stays a
    # folder, and opening it says why.
    drive_id = str((remote.get("parentReference") or {}).get("driveId", ""))
    if "file" in item:
        return drive_id, None
    target = Folder(SHARED, drive_id, str(remote.get("id", "")), str(item.get("name", "")))
    return drive_id, replace(target, sort=folder.sort, order=folder.order)


def _row(item: dict, folder: Folder) -> Row:
    remote = item.get("remoteItem") if isinstance(item.get("remoteItem"), dict) else None
    if remote is not None:  # shown under its own name: a shortcut may have been renamed
        name = item.get("name") or remote.get("name")
        item = {**item, **{k: v for k, v in remote.items() if k != "parentReference"}}
        item["name"] = name
    drive_id, target = _target(item, remote, folder)
    modified_iso = _when(item.get("lastModifiedDateTime"))
    return Row(
        id=str(item.get("id", "")),
        drive_id=drive_id,
        name=str(item.get("name", "")),
        is_folder=target is not None,
        kind="folder" if target is not None else _kind(item),
        modified_by=_who(item),
        modified_iso=modified_iso,
        size=_size(item),
        target=target,
        web_url="" if target is not None else _office_url(item, str(item.get("name", ""))),
        thumbnail=target is None and _has_thumbnail(item),
    )


def _has_thumbnail(item: dict) -> bool:
    """Whether the listing's $expand=thumbnails brought a small thumbnail for the item."""
    sets = item.get("thumbnails")
    return isinstance(sets, list) and any(isinstance(s, dict) and s.get("small") for s in sets)


def _site_row(site: dict, folder: Folder) -> Row | None:
    """A site the user follows or found: it opens to its libraries."""
    site_id, name = (
        str(site.get("id") or ""),
        str(site.get("displayName") or site.get("name") or ""),
    )
    if not SITE_ID.fullmatch(site_id):
        return None
    target = replace(Folder(SITES, sort=folder.sort, order=folder.order), site_id=site_id)
    target = replace(target, site_name=name[:250] or "Site")
    when = _when(site.get("lastModifiedDateTime"))
    return Row(site_id, "", name, True, "site", "", when, "", target)


def _library_row(library: dict, folder: Folder) -> Row | None:
    """A document library of the site: it opens like My Files."""
    drive_id, name = str(library.get("id") or ""), str(library.get("name") or "Documents")
    if not ID.fullmatch(drive_id):
        return None
    target = replace(folder, drive_id=drive_id, name=name[:250], path="")
    when = _when(library.get("lastModifiedDateTime"))
    return Row(drive_id, drive_id, name, True, "library", _who(library), when, "", target)


def _rows(items: list[dict], folder: Folder, sort_here: bool = False) -> list[Row]:
    if folder.is_sites_list:
        make = _library_row if folder.site_id else _site_row
        rows = [row for row in (make(item, folder) for item in items) if row is not None]
    else:
        rows = [_row(item, folder) for item in items]
    if sort_here:  # Shared With Me has no $orderby
        key = (lambda r: r.name.casefold()) if folder.sort == "name" else (lambda r: r.modified_iso)
        rows.sort(key=key, reverse=folder.order == "desc")
    return sorted(rows, key=lambda r: not r.is_folder)  # stable: folders first


# --- listing --------------------------------------------------------------------------------------


def _binding(drive: OneDrive, user: User) -> dict:
    return {"u": user.id, "a": drive.account.id, "o": drive.account.object_id}


def _listing(drive: OneDrive, user: User, folder: Folder, page, sort_here=False) -> Listing:
    cursor = None
    if page.next_link:
        cursor = sealed.seal(
            "drive.page", {**_binding(drive, user), "n": page.next_link, "f": folder.params()}
        )
    return Listing(folder, _rows(page.items, folder, sort_here), cursor)


def _found(drive: OneDrive, user: User, folder: Folder, query: str, page) -> Listing:
    cursor = None
    if page.next_link:
        spec = {**_binding(drive, user), "n": page.next_link, "f": folder.params(), "q": query}
        cursor = sealed.seal("drive.page", spec)
    if folder.is_sites_list:
        rows = _rows(page.items, folder)
    else:
        rows = [_result(item, folder) for item in page.items]
    return Listing(folder, rows, cursor, query)


def _in_site(drive: OneDrive, folder: Folder, call):
    """`call()`; when a library's folder is not found, ask Graph whether its site still
    exists (an extra call only then), and say so when it does not."""
    try:
        return call()
    except NotFound as error:
        if folder.view != SITES or not folder.site_id or isinstance(error, SiteGone):
            raise
        try:
            drive.site(folder.site_id)
        except NotFound:
            raise SiteGone(SITE_GONE) from error
        raise


def list_folder(user: User, folder: Folder) -> Listing:
    """The first page of a folder or library (one Graph call), the items shared with the user,
    the sites they follow or a site's libraries."""
    drive = _drive(user)
    if folder.is_shared_root:
        return _listing(drive, user, folder, drive.shared_with_me(), sort_here=True)
    if folder.is_sites_list:
        if folder.site_id:
            page = drive.libraries(folder.site_id, top=PAGE_SIZE)
        else:
            page = drive.followed_sites(top=PAGE_SIZE)
        return _listing(drive, user, folder, page, sort_here=True)
    location, order = folder.location, folder.orderby
    page = _in_site(drive, folder, lambda: drive.children(location, top=PAGE_SIZE, orderby=order))
    return _listing(drive, user, folder, page)


def _opened(drive: OneDrive, user: User, purpose: str, token: str, max_age: int) -> dict:
    payload = sealed.unseal(purpose, token or "", max_age)
    if payload is None or any(payload.get(k) != v for k, v in _binding(drive, user).items()):
        raise InvalidRequest("This list is out of date. Please click Refresh.")
    return payload


def more(user: User, cursor: str) -> Listing:
    """The next page of a listing or search, following Graph's nextLink exactly as Graph
    gave it."""
    drive = _drive(user)
    payload = _opened(drive, user, "drive.page", cursor, CURSOR_MAX_AGE)
    folder = Folder.from_args(payload.get("f") or {})
    page = drive.next_page(str(payload.get("n", "")), sites=folder.is_sites_list)
    if payload.get("q"):
        return _found(drive, user, folder, str(payload["q"]), page)
    sort_here = folder.is_shared_root or folder.is_sites_list
    return _listing(drive, user, folder, page, sort_here=sort_here)


# --- search ---------------------------------------------------------------------------------------


def _search_root(folder: Folder) -> Location:
    """Where a search in `folder` looks: all of My Files, of the library, or of the shared
    folder."""
    if folder.view == MINE:
        return Location(None, "root")
    if folder.view == SITES:
        if not folder.drive_id:
            raise InvalidRequest("Open a library to search in it.")
        return Location(folder.drive_id, "root")
    if not folder.item_id:
        raise InvalidRequest("Open a shared folder to search in it.")
    return Location(folder.drive_id, folder.item_id)


def search(user: User, folder: Folder, query: str) -> Listing:
    """The first page of what Graph finds for `query` in the drive, library or shared folder
    being browsed, or of the sites it finds from Sites: one Graph call."""
    drive = _drive(user)
    query = " ".join(str(query or "").split())
    if folder.is_sites_list and not folder.site_id:
        return _found(drive, user, folder, query, drive.search_sites(query, top=PAGE_SIZE))
    root = _search_root(folder)
    page = _in_site(drive, folder, lambda: drive.search(root, query, top=PAGE_SIZE))
    return _found(drive, user, folder, query, page)


def _graph_path(reference: dict) -> str | None:
    """The folder path in an itemReference ("/drive/root:/A/B" -> "A/B"), None if absent."""
    raw = reference.get("path")
    if not isinstance(raw, str) or ":" not in raw:
        return None
    return "/".join(unquote(p) for p in raw.partition(":")[2].split("/") if p)


def _result(item: dict, folder: Folder) -> Row:
    """A search result: its row, and the folder it is in, by path when Graph sent the path
    (My Files, a library), else by id."""
    reference = item.get("parentReference") if isinstance(item.get("parentReference"), dict) else {}
    row = _row(item, folder)
    parent_id = str(reference.get("id") or "")
    path = _graph_path(reference)
    if folder.view in (MINE, SITES) and path is not None:
        row.parent, row.parent_path = replace(folder, path=path), path
        if row.is_folder and row.target is not None and "remoteItem" not in item:
            row.target = row.parent.child(row.name)
    else:
        drive_id = folder.drive_id if folder.view in (SHARED, SITES) else ""
        library = replace(folder, path="") if folder.view == SITES else None
        row.parent = Place(drive_id, parent_id, library) if ID.fullmatch(parent_id) else None
        row.parent_path = path
        if row.is_folder and "remoteItem" not in item:
            row.target = Place(drive_id, row.id, library)
    return row


def open_place(user: User, place: Place, sort: Mapping) -> Listing:
    """Open a folder known only by id: ask Graph for its path (My Files, a library) or name
    (a shared drive), then list it like any folder. Two Graph calls."""
    if not place.item_id:
        raise InvalidRequest("Choose a folder to open.")
    drive = _drive(user)
    item = drive.folder_item(place.drive_id or None, place.item_id)
    order = {k: sort.get(k) for k in ("sort", "order") if sort.get(k)}
    if place.library is not None:
        folder = _at_path(replace(place.library, **order), item)
    elif place.drive_id:
        args = {"view": SHARED, "drive": place.drive_id, "item": place.item_id}
        folder = Folder.from_args({**args, "name": str(item.get("name") or ""), **order})
    else:
        folder = _at_path(Folder.from_args(order), item)
    return list_folder(user, folder)


def _at_path(top: Folder, item: dict) -> Folder:
    """The folder `item` (a driveItem with its parentReference) below the drive's `top`."""
    if "root" in item:
        return top
    parent = _graph_path(item.get("parentReference") or {})
    if parent is None:
        raise DriveError("OneDrive did not say where this folder is.")
    path = f"{parent}/{item.get('name', '')}".strip("/")
    return Folder.from_args({**top.params(), "path": path})


# --- changes ------------------------------------------------------------------------------------


def _writable(folder: Folder) -> Location:
    if folder.location is None:
        raise InvalidRequest(
            "Open a folder first: Shared With Me and Sites themselves cannot hold new items."
        )
    return folder.location


def create_folder(user: User, folder: Folder, name: str, rename: bool = False) -> Row:
    """A new folder; an existing name is a NameConflict unless the user chose to rename."""
    drive, where = _drive(user), _writable(folder)
    conflict = "rename" if rename else "fail"
    return _row(_in_site(drive, folder, lambda: drive.create_folder(where, name, conflict)), folder)


def upload_small(user: User, folder: Folder, name: str, data: bytes, conflict: str = FAIL) -> Row:
    """A file of at most 4 MiB in one request; a taken name is a NameConflict unless the user
    chose keep both (rename) or replace."""
    drive, where = _drive(user), _writable(folder)
    item = _in_site(drive, folder, lambda: drive.upload_small(where, name, data, conflict))
    return _row(item, folder)


@dataclass(frozen=True)
class Upload:
    """A started upload: the ticket the browser sends with each part, and the part size."""

    ticket: str
    chunk_size: int


def start_upload(user: User, folder: Folder, name: str, size: int, conflict: str = FAIL) -> Upload:
    """An upload session for a file sent in parts; its URL stays sealed in the ticket. A taken
    name is a NameConflict (now or at the last part) unless the user chose keep both or
    replace."""
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise InvalidRequest("The file size is missing.")
    drive, where = _drive(user), _writable(folder)
    url = _in_site(drive, folder, lambda: drive.create_upload_session(where, name, size, conflict))
    spec = {**_binding(drive, user), "url": url, "size": size, "f": folder.params()}
    return Upload(sealed.seal("drive.upload", spec), graph.UPLOAD_CHUNK_MAX)


@dataclass(frozen=True)
class Part:
    """What an uploaded part achieved: bytes received so far, and the file once complete."""

    received: int
    row: Row | None


def _range(header: str, length: int | None, size: int) -> tuple[int, int]:
    unit, _, spec = (header or "").partition(" ")
    span, _, total = spec.partition("/")
    first, _, last = span.partition("-")
    if unit != "bytes" or not (first.isdigit() and last.isdigit()) or total != str(size):
        raise InvalidRequest("Each part needs a Content-Range of bytes a-b/size.")
    start, end = int(first), int(last)
    if start > end or end >= size or length != end - start + 1:
        raise InvalidRequest("The part does not match its Content-Range.")
    unit_size, largest = graph.UPLOAD_CHUNK_UNIT, graph.UPLOAD_CHUNK_MAX
    if length > largest or (end + 1 < size and length % unit_size):
        raise InvalidRequest("Parts are multiples of 320 KiB and at most 10 MiB.")
    return start, end


def upload_part(user: User, ticket: str, content_range: str, length: int | None, stream) -> Part:
    """Stream one part to the upload session (never held whole in memory)."""
    drive = _drive(user)
    spec = _opened(drive, user, "drive.upload", ticket, UPLOAD_MAX_AGE)
    size = int(spec.get("size", 0))
    start, end = _range(content_range, length, size)
    body = drive.upload_fragment(str(spec["url"]), stream, start, end, size)
    if "id" not in body:
        return Part(end + 1, None)
    return Part(size, _row(body, Folder.from_args(spec.get("f") or {})))


def cancel_upload(user: User, ticket: str) -> None:
    """Cancel an unfinished upload."""
    drive = _drive(user)
    spec = _opened(drive, user, "drive.upload", ticket, UPLOAD_MAX_AGE)
    drive.cancel_upload(str(spec["url"]))


def download(user: User, drive_id: str, item_id: str) -> Download:
    """A file as a stream."""
    return _drive(user).download(drive_id or None, item_id)


def thumbnail(user: User, drive_id: str, item_id: str, size: str) -> Download:
    """An item's small (row) or large (preview) thumbnail as a stream."""
    return _drive(user).thumbnail(drive_id or None, item_id, size)


class TooLargeToPreview(DriveError):
    """A text file over TEXT_PREVIEW_MAX: the user downloads it instead."""

    status = 413


def preview_text(user: User, drive_id: str, item_id: str) -> tuple[str, str]:
    """A plain-text file's name and text for Preview; TooLargeToPreview, before its bytes are
    read, when Graph says it is over the cap (and if it says nothing, at the cap)."""
    file = _drive(user).download(drive_id or None, item_id)
    if _kind({"name": file.name}) != "text":
        file.chunks.close()
        raise InvalidRequest("Only plain text files are previewed as text.")
    too_large = TooLargeToPreview(f"“{file.name}” is too large to preview. Download it instead.")
    if file.length is not None and file.length > TEXT_PREVIEW_MAX:
        file.chunks.close()
        raise too_large
    data = bytearray()
    for chunk in file.chunks:
        data += chunk
        if len(data) > TEXT_PREVIEW_MAX:
            file.chunks.close()
            raise too_large
    return file.name, data.decode("utf-8", errors="replace")


def anonymous_links_allowed() -> bool:
    """Whether the admin lets users make links anyone can open (Admin > Connectors)."""
    connector = connectors.get(identity.NAME)
    return bool(connector and connector.allow_anonymous_links)


def link_scopes() -> list[tuple[str, str]]:
    """The kinds of link users may make, as (scope, label), the default first: organization,
    and anonymous too when the admin allows it."""
    allowed = (ORGANIZATION, ANONYMOUS) if anonymous_links_allowed() else (ORGANIZATION,)
    return [(scope, LINK_SCOPE_LABELS[scope]) for scope in allowed]


def share_link(user: User, drive_id: str, item_id: str, scope: str = ORGANIZATION) -> SharingLink:
    """A view link to an item, for people in the organization unless the user chose a link
    anyone can open and the admin allows those; never a different kind than asked for."""
    if scope not in LINK_SCOPES:
        raise InvalidRequest("Choose who can open the link: organization or anonymous.")
    allowed = anonymous_links_allowed()
    if scope == ANONYMOUS and not allowed:
        raise PermissionDenied(ANONYMOUS_NOT_ALLOWED)
    try:
        return _drive(user).create_link(drive_id or None, item_id, scope)
    except NoOrganizationLinks as error:
        advice = NO_ORGANIZATION_ADVICE[allowed]
        raise NoOrganizationLinks(f"{error.message} {advice}") from error


def rename(
    user: User, folder: Folder, drive_id: str, item_id: str, name: str, conflict: str = FAIL
) -> Row:
    """Rename an item of `folder` (PATCH name); a taken name is a NameConflict unless the
    user chose keep both or replace."""
    drive = _drive(user)
    item = _in_site(
        drive, folder, lambda: drive.update(drive_id or None, item_id, name=name, conflict=conflict)
    )
    return _row(item, folder)


def move(user: User, drive_id: str, item_id: str, to: Folder, conflict: str = FAIL) -> Row:
    """Move an item into the folder `to` of the same drive (PATCH parentReference.id, the
    folder's real id asked of Graph first); conflicts as for rename."""
    destination = _writable(to)
    if (destination.drive_id or "").lower() != (drive_id or "").lower():
        raise InvalidRequest("Items can only be moved to a folder of the same drive.")
    drive = _drive(user)

    def find_and_move() -> dict:
        parent_id = drive.folder_id(destination)
        return drive.update(drive_id or None, item_id, parent_id=parent_id, conflict=conflict)

    return _row(_in_site(drive, to, find_and_move), to)


def delete(user: User, drive_id: str, item_id: str) -> None:
    """Delete an item (OneDrive keeps it in its recycle bin)."""
    _drive(user).delete(drive_id or None, item_id)
