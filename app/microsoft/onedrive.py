"""The OneDrive client: one user's drive through Microsoft Graph with that user's OneDrive token
(never an email one). Every failure becomes a named `DriveError` whose message is safe to show:
a 401 refreshes the token once, 429/503 wait out a short Retry-After, timeouts are messages."""

import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import requests
from flask import current_app

from app.connect import tokens
from app.connect.external_accounts import PURPOSE
from app.connect.models import ExternalAccount
from app.connect.oidc import retry_after
from app.microsoft import graph, identity

log = logging.getLogger(__name__)

MAX_RETRY_WAIT = 5.0  # seconds of Retry-After we wait out in total before telling the user
STREAM_PIECE = 256 * 1024
# Only what a listing row shows or needs (Name, kind, Modified By, Date Modified, Size, the
# download id): a page of 100 is a third smaller without parentReference, which no row uses.
# remoteItem is what a folder shared with the user and added to My files has instead of a folder
# facet: where that folder lives (Graph sends it only for such items). webUrl opens a document
# in Office for the web.
CHILD_FIELDS = "id,name,size,lastModifiedDateTime,lastModifiedBy,folder,file,remoteItem,webUrl"
# A search result also says where it is: Graph's parentReference (its drive and folder id; the
# folder's path only where Graph chooses to send it, which search results often lack).
SEARCH_FIELDS = f"{CHILD_FIELDS},parentReference"
# The small thumbnail (48x48, cropped) comes with each listing page in the same Graph call; a row
# shows it only when Graph has one (images, PDF, Office files). Large (1920 bound) is the preview.
THUMBNAILS = "thumbnails($select=small)"
THUMBNAIL_SIZES = ("small", "large")
THUMBNAIL_MAX = 8 * 1024 * 1024  # bytes of a thumbnail we pass on; Graph's large ones are far less
SEARCH_MAX = 200  # characters of search text we send
ID = re.compile(graph.ID_PATTERN)
# A SharePoint site: Graph's id is "{hostname},{site collection GUID},{web GUID}". A row shows
# its name and date; a document library (a drive of the site) its name, date and modifier.
SITE_ID = re.compile(r"[A-Za-z0-9.-]{1,253},[0-9A-Fa-f-]{36},[0-9A-Fa-f-]{36}")
SITE_FIELDS = "id,name,displayName,lastModifiedDateTime"
LIBRARY_FIELDS = "id,name,driveType,lastModifiedDateTime,lastModifiedBy"
# The scopes that let Graph list sites: Sites.Read.All, or a wider Sites permission.
SITES_SCOPES = {"sites.read.all", "sites.readwrite.all", "sites.manage.all"}
SITES_SCOPES.add("sites.fullcontrol.all")
SITES_NOT_PERMITTED = (
    f"Sites needs the permission “{identity.SCOPE_WORDS[identity.SITES_SCOPE]}” "
    f"({identity.SITES_SCOPE}), which this account was connected without."
)
SITE_GONE = "This site no longer exists or you no longer have access to it."
FORBIDDEN_NAME_CHARACTERS = set('"*:<>?/\\|')
REDIRECTS = (301, 302, 303, 307, 308)
# What to do when a name is taken: fail (ask the user), keep both (rename) or replace.
FAIL, RENAME, REPLACE = "fail", "rename", "replace"
CONFLICT_BEHAVIORS = (FAIL, RENAME, REPLACE)
KEEP_BOTH_TRIES = 20  # "Notes 1.txt" ... "Notes 20.txt" before we give up
# Sharing links: who can open them. Graph has no organization links in a personal OneDrive;
# every personal Microsoft account signs in from this one tenant.
ORGANIZATION, ANONYMOUS = "organization", "anonymous"
LINK_SCOPES = (ORGANIZATION, ANONYMOUS)
PERSONAL_ACCOUNTS_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"


# --- errors ----------------------------------------------------------------------------------


class DriveError(Exception):
    """A OneDrive operation failed; `message` is safe to show, `status` is the app's answer;
    `retryable` when the same request may well work in a moment (Try again)."""

    status = 502
    retryable = False

    def __init__(self, message: str, *, retry_after: int | None = None):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class NotConnected(DriveError):
    """The user has no connected Microsoft account."""

    status = 409


class NeedsReconnect(DriveError):
    """Microsoft no longer accepts the connection; the user must reauthenticate."""

    status = 409


class PermissionDenied(DriveError):
    """Graph answered 403."""

    status = 403


class NotFound(DriveError):
    """Graph answered 404, or an id cannot be one of Graph's."""

    status = 404


class NameConflict(DriveError):
    """An item of that name exists (conflictBehavior fail)."""

    status = 409


class InvalidRequest(DriveError):
    """Bad input, or Graph refused the request as malformed."""

    status = 400


class Busy(DriveError):
    """Graph is throttling (429) or unavailable (503) for longer than we wait."""

    status = 503
    retryable = True


class Unreachable(DriveError):
    """Graph did not answer in time, or could not be reached."""

    status = 504
    retryable = True


class SitesNotPermitted(PermissionDenied):
    """The account was connected without Sites.Read.All, or Graph refused it the sites: it
    must be reauthenticated to ask for the permission."""


class SiteGone(NotFound):
    """The site (and so its libraries) was deleted, or the user lost access to it."""


class NoOrganizationLinks(InvalidRequest):
    """A personal OneDrive has no organization, so Graph makes no organization links there."""


# --- values ----------------------------------------------------------------------------------


def check_id(value: str, what: str = "Folder") -> str:
    """`value` when it can be a Graph drive or item id; NotFound otherwise."""
    if not isinstance(value, str) or not ID.fullmatch(value):
        raise NotFound(f"{what} not found.")
    return value


def check_site_id(value: str) -> str:
    """`value` when it can be a Graph site id; NotFound otherwise."""
    if not isinstance(value, str) or not SITE_ID.fullmatch(value):
        raise NotFound("Site not found.")
    return value


def numbered(name: str, number: int) -> str:
    """Microsoft's keep-both name: "Notes.txt" -> "Notes 1.txt", "Photos" -> "Photos 1"."""
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        return f"{name} {number}"
    return f"{stem} {number}.{extension}"


def check_conflict(conflict: str) -> str:
    """`conflict` when it is one of fail, rename (keep both) or replace."""
    if conflict not in CONFLICT_BEHAVIORS:
        raise InvalidRequest("Choose keep both, replace or cancel.")
    return conflict


def check_name(name: str) -> str:
    """A file or folder name OneDrive accepts, or InvalidRequest saying why not."""
    name = (name or "").strip()
    if not name or name in (".", ".."):
        raise InvalidRequest("Please enter a name.")
    if len(name) > 250 or name.endswith(".") or any(c in FORBIDDEN_NAME_CHARACTERS for c in name):
        raise InvalidRequest('A name cannot end with "." nor contain " * : < > ? / \\ |.')
    if any(ord(c) < 32 for c in name):
        raise InvalidRequest("A name cannot contain control characters.")
    return name


@dataclass(frozen=True)
class Location:
    """A folder: a drive (None: the user's own), an item in it ("root") and a path below it."""

    drive_id: str | None = None
    item_id: str = "root"
    path: str = ""

    def __post_init__(self):
        if self.drive_id is not None:
            check_id(self.drive_id)
        if self.item_id != "root":
            check_id(self.item_id)
        for part in self.parts:
            check_name(part)

    @property
    def parts(self) -> list[str]:
        """The path's folder names."""
        return [part for part in self.path.split("/") if part] if self.path else []


@dataclass
class Page:
    """One page of driveItems, and Graph's nextLink (kept verbatim) when there is more."""

    items: list[dict]
    next_link: str | None


@dataclass(frozen=True)
class SharingLink:
    """A link made by createLink, and who can open it (the scope Graph reports)."""

    url: str
    scope: str


@dataclass
class Download:
    """A file streaming from its short-lived URL; iterating `chunks` closes it at the end."""

    name: str
    mime: str
    length: int | None
    chunks: Iterator[bytes]


class _Body:
    """A request body of known length, read piece by piece as requests sends it."""

    def __init__(self, stream, length: int):
        self.stream = stream
        self.left = length
        self.length = length

    def __len__(self) -> int:
        return self.length

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        size = self.left if size is None or size < 0 else min(size, self.left)
        data = self.stream.read(size)
        self.left -= len(data)
        return data


# --- HTTP ------------------------------------------------------------------------------------


def _send(method: str, url: str, **kwargs) -> requests.Response:
    try:
        return graph.session.request(method, url, allow_redirects=False, **kwargs)
    except requests.Timeout as error:
        raise Unreachable(
            "OneDrive did not answer in time. Please try again in a moment."
        ) from error
    except requests.RequestException as error:
        raise Unreachable("OneDrive could not be reached. Please try again in a moment.") from error


def _retry_after(response: requests.Response) -> int:
    return max(1, retry_after(response) or 1)


def error_for(response: requests.Response, method: str, subject: str) -> DriveError:
    """The named error for a failed Graph or transfer response (`subject`: folder, file...)."""
    status = response.status_code
    code, text = graph.error_code(response), graph.error_message(response, default="")[:300]
    verb = "open" if method == "GET" else "change"
    if status == 403:
        return PermissionDenied(f"You do not have permission to {verb} this {subject}.")
    if status == 404:
        return NotFound(f"{subject.capitalize()} not found.")
    if code == graph.NAME_CONFLICT:
        return NameConflict("An item with that name already exists here.")
    if status in (429, 503):
        wait = _retry_after(response)
        unit = "second" if wait == 1 else "seconds"
        return Busy(f"OneDrive is busy, try again in {wait} {unit}.", retry_after=wait)
    if status == 413:
        return InvalidRequest("The file is too large for this kind of upload.")
    if status == 416:
        return InvalidRequest("The upload got out of step. Please upload the file again.")
    if 400 <= status < 500:
        return InvalidRequest(f"OneDrive refused the request: {text or f'HTTP {status}'}")
    return DriveError(f"OneDrive had a problem (HTTP {status}). Please try again in a moment.")


def _json(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise DriveError("OneDrive answered with something unexpected. Please try again.")
    return body


def _page(body: dict) -> Page:
    items = body.get("value")
    link = body.get("@odata.nextLink")
    return Page(
        [item for item in items if isinstance(item, dict)] if isinstance(items, list) else [],
        link if isinstance(link, str) and link else None,
    )


def _token_error(error: tokens.TokenUnavailable) -> DriveError:
    if error.needs_reconnect:
        return NeedsReconnect(
            "Microsoft no longer accepts the connection to OneDrive. Please reauthenticate it "
            "in Profile > External Accounts."
        )
    if error.retry_after:
        return Busy(error.message, retry_after=error.retry_after)
    return DriveError(error.message)


# --- the client ------------------------------------------------------------------------------


class OneDrive:
    """The drive of one connected Microsoft account, through Graph with its own token."""

    def __init__(self, account: ExternalAccount):
        self.account = account
        self.graph = current_app.config["MICROSOFT_GRAPH_URL"]
        self._token: str | None = None

    # plumbing

    def _access_token(self) -> str:
        if self._token is None:
            try:
                self._token = tokens.access_token_for(self.account, PURPOSE)
            except tokens.TokenUnavailable as error:
                raise _token_error(error) from error
        return self._token

    def _renew(self) -> None:
        try:
            self._token = tokens.force_refresh(self.account, PURPOSE, self._access_token())
        except tokens.TokenUnavailable as error:
            raise _token_error(error) from error

    def _rejected(self) -> NeedsReconnect:
        tokens.mark_needs_reconnect(self.account, "Microsoft Graph rejected a fresh access token.")
        return _token_error(tokens.TokenUnavailable("rejected", needs_reconnect=True))

    def _request(
        self, method: str, url: str, *, subject: str = "folder", headers=None, **kwargs
    ) -> requests.Response:
        """A Graph call with the user's token: one refresh on 401, a short wait on 429/503."""
        waited, renewed = 0.0, False
        while True:
            bearer = {**(headers or {}), "Authorization": f"Bearer {self._access_token()}"}
            response = _send(method, url, headers=bearer, **kwargs)
            if response.status_code == 401 and not renewed:
                response.close()
                self._renew()
                renewed = True
                continue
            wait = _retry_after(response) if response.status_code in (429, 503) else None
            if wait is None or waited + wait > MAX_RETRY_WAIT:
                break
            response.close()
            time.sleep(wait)
            waited += wait
        if response.status_code == 401:
            raise self._rejected()
        if response.status_code >= 400:
            raise error_for(response, method, subject)
        return response

    def _transfer(self, method: str, url: str, *, subject: str, **kwargs) -> requests.Response:
        """A call to a pre-authenticated upload or download URL: never an Authorization header."""
        response = _send(method, url, **kwargs)
        if response.status_code >= 400:
            raise error_for(response, method, subject)
        return response

    def _item_url(self, drive_id: str | None, item_id: str) -> str:
        drive = "me/drive" if drive_id is None else f"drives/{check_id(drive_id)}"
        item = "root" if item_id == "root" else f"items/{check_id(item_id, 'Item')}"
        return f"{self.graph}/{drive}/{item}"

    def _folder_url(self, folder: Location, operation: str, name: str = "") -> str:
        base = self._item_url(folder.drive_id, folder.item_id)
        path = "/".join(folder.parts + ([name] if name else []))
        if path:
            return f"{base}:/{quote(path, safe='/')}:/{operation}"
        return f"{base}/{operation}"

    # listing

    def children(self, folder: Location, *, top: int, orderby: str) -> Page:
        """The first page of a folder's children, `top` at a time, in `orderby` order."""
        query = urlencode(
            {"$top": top, "$select": CHILD_FIELDS, "$orderby": orderby, "$expand": THUMBNAILS},
            safe="$,()=",
            quote_via=quote,
        )
        return _page(_json(self._request("GET", f"{self._folder_url(folder, 'children')}?{query}")))

    def search(self, folder: Location, text: str, *, top: int) -> Page:
        """The first page of items below `folder` (the whole drive from its root) whose name,
        metadata or content match `text`: Graph's `search(q='...')`, one call, with the small
        thumbnails expanded as in a listing."""
        text = " ".join((text or "").split())[:SEARCH_MAX]
        if not text:
            raise InvalidRequest("Type what to search for.")
        literal = quote(text.replace("'", "''"), safe="")  # an OData string: ' doubled
        base = self._item_url(folder.drive_id, folder.item_id)
        query = urlencode(
            {"$top": top, "$select": SEARCH_FIELDS, "$expand": THUMBNAILS},
            safe="$,()=",
            quote_via=quote,
        )
        return _page(_json(self._request("GET", f"{base}/search(q='{literal}')?{query}")))

    def shared_with_me(self) -> Page:
        """Items other people shared with the user."""
        return _page(_json(self._request("GET", f"{self.graph}/me/drive/sharedWithMe")))

    def next_page(self, next_link: str, *, sites: bool = False) -> Page:
        """The page behind an `@odata.nextLink`, fetched verbatim; only Graph's own links.
        `sites`: a page of sites or libraries, which needs the Sites permission."""
        if not next_link.startswith(f"{self.graph}/"):
            raise InvalidRequest("That page link does not point at Microsoft Graph.")
        if sites:
            return _page(self._sites(next_link))
        return _page(_json(self._request("GET", next_link)))

    # SharePoint sites

    def can_read_sites(self) -> bool:
        """Whether the account was granted a Sites permission; a grant whose scopes were not
        recorded is tried (Graph says no with a 403)."""
        scopes = self.account.credential.scopes if self.account.credential else ""
        granted = {s.rsplit("/", 1)[-1].lower() for s in (scopes or "").split()}
        return not granted or bool(granted & SITES_SCOPES)

    def _sites(self, url: str) -> dict:
        """A Sites call: refused before it is made when the account lacks the permission,
        and a 403 from Graph means the same."""
        if not self.can_read_sites():
            raise SitesNotPermitted(SITES_NOT_PERMITTED)
        try:
            return _json(self._request("GET", url, subject="site"))
        except PermissionDenied as error:
            raise SitesNotPermitted(SITES_NOT_PERMITTED) from error

    def _query(self, top: int, fields: str) -> str:
        return urlencode({"$top": top, "$select": fields}, safe="$,", quote_via=quote)

    def followed_sites(self, *, top: int) -> Page:
        """The first page of the sites the user follows."""
        query = self._query(top, SITE_FIELDS)
        return _page(self._sites(f"{self.graph}/me/followedSites?{query}"))

    def search_sites(self, text: str, *, top: int) -> Page:
        """The first page of the sites Graph finds for `text` (`/sites?search=`), one call."""
        text = " ".join((text or "").split())[:SEARCH_MAX]
        if not text:
            raise InvalidRequest("Type what to search for.")
        query = f"search={quote(text, safe='')}&{self._query(top, SITE_FIELDS)}"
        return _page(self._sites(f"{self.graph}/sites?{query}"))

    def site(self, site_id: str) -> dict:
        """One site (its id and name): whether it still exists for the user."""
        return self._sites(f"{self.graph}/sites/{quote(check_site_id(site_id), safe=',')}")

    def libraries(self, site_id: str, *, top: int) -> Page:
        """The first page of a site's document libraries (its drives)."""
        site = quote(check_site_id(site_id), safe=",")
        query = self._query(top, LIBRARY_FIELDS)
        try:
            return _page(self._sites(f"{self.graph}/sites/{site}/drives?{query}"))
        except NotFound as error:
            raise SiteGone(SITE_GONE) from error

    def item(self, drive_id: str | None, item_id: str, subject: str = "item") -> dict:
        """One driveItem."""
        return _json(self._request("GET", self._item_url(drive_id, item_id), subject=subject))

    def folder_item(self, drive_id: str | None, item_id: str) -> dict:
        """A folder's id, name, parent reference (with its path) and root facet: where it is."""
        url = f"{self._item_url(drive_id, item_id)}?$select=id,name,folder,root,parentReference"
        item = _json(self._request("GET", url))
        if "folder" not in item and "root" not in item:
            raise InvalidRequest("That item is not a folder.")
        return item

    # changes

    def create_folder(self, parent: Location, name: str, conflict: str = "fail") -> dict:
        """A new folder; with `fail` an existing name is a NameConflict, `rename` picks a free
        name ("Reports 1")."""
        name = check_name(name)
        body = {"name": name, "folder": {}, "@microsoft.graph.conflictBehavior": conflict}
        try:
            response = self._request("POST", self._folder_url(parent, "children"), json=body)
        except NameConflict as error:
            raise NameConflict(f"An item named “{name}” already exists here.") from error
        return _json(response)

    def upload_small(self, parent: Location, name: str, data: bytes, conflict: str = FAIL) -> dict:
        """A file of at most 4 MiB in one PUT; an existing name is a NameConflict unless the
        user chose to keep both (rename) or replace (Graph's conflictBehavior)."""
        if len(data) > graph.SIMPLE_UPLOAD_MAX:
            raise InvalidRequest("Files over 4 MiB are uploaded in parts.")
        name = check_name(name)
        url = self._folder_url(parent, "content", name)
        try:
            response = self._request(
                "PUT",
                f"{url}?@microsoft.graph.conflictBehavior={check_conflict(conflict)}",
                data=data,
                headers={"Content-Type": "application/octet-stream"},
                subject="file",
            )
        except NameConflict as error:
            raise NameConflict(f"An item named “{name}” already exists here.") from error
        return _json(response)

    def create_upload_session(
        self, parent: Location, name: str, size: int, conflict: str = FAIL
    ) -> str:
        """A resumable upload for a file of `size` bytes; returns its pre-authenticated URL.
        An existing name is a NameConflict now or when the last part arrives, unless the user
        chose keep both (rename) or replace."""
        name = check_name(name)
        behavior = check_conflict(conflict)
        body = {
            "item": {"@microsoft.graph.conflictBehavior": behavior, "name": name, "fileSize": size}
        }
        url = self._folder_url(parent, "createUploadSession", name)
        try:
            upload_url = _json(self._request("POST", url, json=body)).get("uploadUrl")
        except NameConflict as error:
            raise NameConflict(f"An item named “{name}” already exists here.") from error
        if not isinstance(upload_url, str) or not upload_url.startswith(("https://", "http://")):
            raise DriveError("OneDrive did not start the upload. Please try again.")
        return upload_url

    def upload_fragment(self, upload_url: str, stream, start: int, end: int, total: int) -> dict:
        """Stream bytes `start`..`end` of `total` to the upload URL; returns the driveItem when
        the file is complete, else the session status."""
        response = self._transfer(
            "PUT",
            upload_url,
            subject="upload",
            data=_Body(stream, end - start + 1),
            headers={"Content-Range": f"bytes {start}-{end}/{total}"},
        )
        return _json(response)

    def cancel_upload(self, upload_url: str) -> None:
        """Forget an unfinished upload session (already gone is fine)."""
        try:
            self._transfer("DELETE", upload_url, subject="upload")
        except NotFound:
            pass

    def download(self, drive_id: str | None, item_id: str) -> Download:
        """A file's bytes as a stream from its short-lived URL (never read whole)."""
        meta = self.item(drive_id, item_id, "file")
        if "folder" in meta:
            raise InvalidRequest("A folder cannot be downloaded; open it instead.")
        url = f"{self._item_url(drive_id, item_id)}/content"
        upstream = self._request("GET", url, subject="file", stream=True)
        if upstream.status_code in REDIRECTS:
            upstream.close()
            upstream = self._transfer(
                "GET",
                upstream.headers.get("Location", ""),
                subject="file",
                stream=True,
                headers={"Accept-Encoding": "identity"},
            )
        length = upstream.headers.get("Content-Length", "")
        mime = str((meta.get("file") or {}).get("mimeType") or "application/octet-stream")
        return Download(
            str(meta.get("name") or "download"),
            mime,
            int(length) if length.isdigit() else None,
            _stream(upstream),
        )

    def thumbnail(self, drive_id: str | None, item_id: str, size: str) -> Download:
        """An item's thumbnail image (small or large) streamed from Graph's pre-authenticated
        URL, which our token never goes to; NotFound when Graph has none for the item."""
        if size not in THUMBNAIL_SIZES:
            raise InvalidRequest("Choose a small or large thumbnail.")
        url = f"{self._item_url(drive_id, item_id)}/thumbnails/0/{size}/content"
        upstream = self._request("GET", url, subject="thumbnail", stream=True)
        if upstream.status_code in REDIRECTS:
            upstream.close()
            upstream = self._transfer(
                "GET", upstream.headers.get("Location", ""), subject="thumbnail", stream=True
            )
        mime = upstream.headers.get("Content-Type", "").split(";")[0].strip().lower()
        length = upstream.headers.get("Content-Length", "")
        if not mime.startswith("image/") or (length.isdigit() and int(length) > THUMBNAIL_MAX):
            upstream.close()
            raise NotFound("This item has no thumbnail.")
        return Download(
            "thumbnail", mime, int(length) if length.isdigit() else None, _stream(upstream)
        )

    def create_link(self, drive_id: str | None, item_id: str, scope: str) -> SharingLink:
        """A view link of exactly `scope` (organization or anonymous): when Graph refuses that
        kind, the user hears why; no other kind of link is made instead."""
        if scope not in LINK_SCOPES:
            raise InvalidRequest("Choose who can open the link.")
        url = f"{self._item_url(drive_id, item_id)}/createLink"
        try:
            body = _json(self._request("POST", url, subject="item", json=_link(scope)))
        except InvalidRequest as error:
            if scope == ORGANIZATION and self.account.tenant_id == PERSONAL_ACCOUNTS_TENANT:
                raise NoOrganizationLinks(
                    "Personal OneDrive accounts cannot make organization links."
                ) from error
            raise
        link = body.get("link") or {}
        web_url = link.get("webUrl") if isinstance(link, dict) else None
        if not isinstance(web_url, str) or not web_url:
            raise DriveError("OneDrive did not return a link. Please try again.")
        made = link.get("scope")
        return SharingLink(web_url, made if made in LINK_SCOPES else scope)

    def delete(self, drive_id: str | None, item_id: str) -> None:
        """Move an item to the OneDrive recycle bin."""
        self._request("DELETE", self._item_url(drive_id, item_id), subject="item")

    def folder_id(self, folder: Location) -> str:
        """The real id of a folder addressed by path (a move names its new parent by id, and
        Graph refuses the alias "root" there)."""
        base = self._item_url(folder.drive_id, folder.item_id)
        path = quote("/".join(folder.parts), safe="/")
        url = f"{base}:/{path}" if path else base
        item = _json(self._request("GET", f"{url}?$select=id,folder,root"))
        if "folder" not in item and "root" not in item:
            raise InvalidRequest("Items can only be moved into a folder.")
        return check_id(str(item.get("id", "")))

    def update(
        self,
        drive_id: str | None,
        item_id: str,
        *,
        name: str | None = None,
        parent_id: str | None = None,
        conflict: str = FAIL,
    ) -> dict:
        """Rename and/or move an item (PATCH name / parentReference.id). Graph documents no
        conflictBehavior for PATCH, so a taken name is a NameConflict, or on the user's
        choice: keep both (retry as "name 1", "name 2"...) or replace (the other item goes to
        the recycle bin first; only a file replaces a file)."""
        check_conflict(conflict)
        body: dict = {}
        if name is not None:
            body["name"] = check_name(name)
        if parent_id is not None:
            body["parentReference"] = {"id": check_id(parent_id)}
        url = self._item_url(drive_id, item_id)
        try:
            return _json(self._request("PATCH", url, json=body, subject="item"))
        except NameConflict as error:
            if conflict == FAIL and name is not None:
                raise NameConflict(
                    f"An item named “{body['name']}” already exists here."
                ) from error
            if conflict == FAIL:
                raise
        current = self.item(drive_id, item_id)
        wanted = body.get("name") or str(current.get("name") or "")
        if conflict == RENAME:
            return self._keep_both(url, body, wanted)
        parent = parent_id or str((current.get("parentReference") or {}).get("id") or "")
        self._replace(drive_id, parent, wanted, current)
        return _json(self._request("PATCH", url, json=body, subject="item"))

    def _keep_both(self, url: str, body: dict, wanted: str) -> dict:
        for number in range(1, KEEP_BOTH_TRIES + 1):
            try:
                renamed = {**body, "name": numbered(wanted, number)}
                return _json(self._request("PATCH", url, json=renamed, subject="item"))
            except NameConflict:
                continue
        raise NameConflict(f"Too many items are named like “{wanted}” here.")

    def _replace(self, drive_id: str | None, parent_id: str, name: str, item: dict) -> None:
        """Send the item named `name` in the folder `parent_id` to the recycle bin."""
        base = self._item_url(drive_id, check_id(parent_id, "Folder"))
        url = f"{base}:/{quote(name, safe='')}?$select=id,folder,file"
        try:
            other = _json(self._request("GET", url, subject="item"))
        except NotFound:
            return  # gone meanwhile: nothing to replace
        if "folder" in other or "folder" in item:
            raise NameConflict(
                f"“{name}” is a folder, or replaced by one: only a file can replace a file. "
                "Keep both or cancel."
            )
        self.delete(drive_id, check_id(str(other.get("id", "")), "Item"))


def _link(scope: str) -> dict:
    return {"type": "view", "scope": scope}


def _stream(upstream: requests.Response) -> Iterator[bytes]:
    try:
        yield from upstream.iter_content(STREAM_PIECE)
    except requests.RequestException:
        log.warning("A OneDrive download broke off midway.")
    finally:
        upstream.close()
