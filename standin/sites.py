"""Microsoft Graph SharePoint stand-in: sites, followed sites, site search and document
libraries (the drives of a site), over :data:`SITES`.

Routes (each needs a delegated Graph token carrying ``Sites.Read.All`` or a wider Sites scope;
without one 403 accessDenied, as Graph answers):

* ``GET /me/followedSites``: the sites the caller follows;
* ``GET /sites?search=text``: the caller's tenant's sites whose name, display name or
  description holds every word (``*`` finds all); 400 without ``search``;
* ``GET /sites/{site-id}``: one site (404 itemNotFound once deleted or in another tenant);
* ``GET /sites/{site-id}/drives``: its document libraries as drive resources (``driveType``
  ``documentLibrary``); ``GET /sites/{site-id}/drive``: its default one ("Documents").

Lists take ``$top`` (default 200, at most 999) and ``$select`` and page with an
``@odata.nextLink`` carrying an opaque ``$skiptoken``, as Graph does. A library is served by
the drive routes (``/drives/{drive-id}/...``, Files scopes) like any other drive; every member
of the site's tenant may read and write it. Site ids are Graph's
``{hostname},{site-collection-guid},{web-guid}``. Deleting a site (control API) removes its
libraries: their drives and items answer 404 itemNotFound from then on.

Each call counts ``graph.sites.<op>``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from urllib.parse import quote

from flask import Blueprint, Response, abort, request

from .drive import Render, _identity
from .drive_seed import docx, pdf, png
from .drive_store import DRIVES, Drive, DriveError, iso, not_found, parse_iso
from .graph import graph_error, graph_fault, require_token
from .responses import base_url
from .store import CONTOSO_TID, FABRIKAM_TID, STORE

bp = Blueprint("sites", __name__, url_prefix="/v1.0")

SITES_SCOPES = frozenset(
    {"Sites.Read.All", "Sites.ReadWrite.All", "Sites.Manage.All", "Sites.FullControl.All"}
)
DEFAULT_TOP = 200
MAX_TOP = 999
SAFE_QUERY = ",'()!$*"
ADELE = "a11ce000-0000-4000-8000-00000000ade1"
MEGAN = "a11ce000-0000-4000-8000-00000000e6a0"
ALEX = "a11ce000-0000-4000-8000-0000000a1e00"
HOSTNAMES = {CONTOSO_TID: "contoso.sharepoint.com", FABRIKAM_TID: "fabrikam.sharepoint.com"}
SITE_FIELDS = frozenset(
    {
        "id",
        "name",
        "displayName",
        "description",
        "webUrl",
        "createdDateTime",
        "lastModifiedDateTime",
        "siteCollection",
        "sharepointIds",
    }
)
DRIVE_FIELDS = frozenset(
    {
        "id",
        "name",
        "driveType",
        "description",
        "webUrl",
        "createdDateTime",
        "lastModifiedDateTime",
        "createdBy",
        "lastModifiedBy",
        "owner",
        "quota",
    }
)


@dataclass(eq=False)
class Site:
    """A SharePoint site of one tenant: its libraries (drive ids) and who follows it."""

    id: str
    name: str
    display_name: str
    description: str
    tenant: str
    created: float
    modified: float
    library_ids: list[str] = field(default_factory=list)
    followers: set[str] = field(default_factory=set)

    @property
    def hostname(self) -> str:
        return self.id.split(",", 1)[0]

    @property
    def web_url(self) -> str:
        return f"https://{self.hostname}/sites/{self.name}"


def _files(site: str) -> dict[str, list[tuple[str, bytes | None, str]]]:
    """The seeded libraries of each site: (path, bytes or None for a folder, modified)."""
    return {
        "Sales and Marketing": [
            ("Price lists", None, "2024-02-01T09:00:00Z"),
            (
                "Sales playbook.docx",
                docx(["Sales playbook", "Qualify, propose, close."]),
                "2024-02-02T10:00:00Z",
            ),
            (
                "Price lists/Price list 2024.csv",
                b"product,price\nMark 8,499\nMark 8 Pro,699\n",
                "2024-02-03T11:00:00Z",
            ),
        ],
        "Sales and Marketing/Campaign Assets": [
            ("Spring banner.png", png(40, 20, (196, 62, 28)), "2024-03-10T12:00:00Z"),
            ("Campaign brief.pdf", pdf(["Spring campaign brief"]), "2024-03-11T12:00:00Z"),
        ],
        "Mark 8 Project Team": [
            ("Meeting notes", None, "2024-04-01T09:00:00Z"),
            ("Project plan.docx", docx(["Mark 8 project plan"]), "2024-04-02T09:30:00Z"),
            (
                "Meeting notes/Kickoff.txt",
                b"Kickoff: scope agreed, launch in Q3.\n",
                "2024-04-03T15:00:00Z",
            ),
        ],
        "Mark 8 Project Team/Design Specs": [
            ("Mark 8 spec.pdf", pdf(["Mark 8 specification"]), "2024-04-05T08:00:00Z"),
        ],
        "Contoso Brand": [
            ("Logo.png", png(32, 32, (0, 120, 212)), "2024-01-20T10:00:00Z"),
        ],
        "Fabrikam Partners": [
            ("Partner list.csv", b"partner,region\nNorthwind,EU\n", "2024-05-01T10:00:00Z"),
        ],
    }.get(site, [])


# (url name, display name, description, tenant, libraries, owner, followers)
SEED_SITES = (
    (
        "SalesAndMarketing",
        "Sales and Marketing",
        "Campaigns, price lists and the sales playbook.",
        CONTOSO_TID,
        ("Documents", "Campaign Assets"),
        MEGAN,
        (ADELE, MEGAN),
    ),
    (
        "Mark8ProjectTeam",
        "Mark 8 Project Team",
        "Where the Mark 8 project team keeps its plans and specifications.",
        CONTOSO_TID,
        ("Documents", "Design Specs"),
        MEGAN,
        (ADELE,),
    ),
    (
        "ContosoBrand",
        "Contoso Brand",
        "Logos, templates and the brand guide.",
        CONTOSO_TID,
        ("Documents",),
        MEGAN,
        (MEGAN,),
    ),
    (
        "FabrikamPartners",
        "Fabrikam Partners",
        "Fabrikam's partner programme.",
        FABRIKAM_TID,
        ("Documents",),
        ALEX,
        (ALEX,),
    ),
)
SEED_TIME = parse_iso("2024-01-08T08:00:00Z")


def site_id_for(tenant: str, name: str) -> str:
    """Graph's site id: hostname, site collection GUID and web GUID (deterministic here)."""
    hostname = HOSTNAMES.get(tenant, f"{tenant[:8]}.sharepoint.com")
    collection = uuid.uuid5(uuid.NAMESPACE_URL, f"{hostname}/sites/{name}")
    web = uuid.uuid5(collection, "web")
    return f"{hostname},{str(collection).upper()},{str(web).upper()}"


def library_id_for(site_id: str, name: str) -> str:
    """A library's drive id, ``b!`` and 64 base64url characters like Graph's."""
    digest = hashlib.sha256(f"library:{site_id}:{name}".encode()).digest()
    return "b!" + base64.urlsafe_b64encode(digest + hashlib.sha256(digest).digest()).decode()[:64]


class Sites:
    """Every site; their libraries live in :data:`DRIVES` (``DRIVES.libraries``), under its
    lock."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Back to the seed sites, libraries and followers."""
        with DRIVES.lock:
            self.sites: dict[str, Site] = {}
            for name, shown, about, tenant, libraries, owner, followers in SEED_SITES:
                site = self.add(name, shown, about, tenant, owner, libraries, when=SEED_TIME)
                site.followers.update(followers)

    def add(
        self,
        name: str,
        display_name: str,
        description: str,
        tenant: str,
        owner: str,
        libraries=("Documents",),
        *,
        when: float,
    ) -> Site:
        """A new site with its libraries (seed files for the known ones)."""
        site_id = site_id_for(tenant, name)
        site = Site(site_id, name, display_name, description, tenant, when, when)
        for library in libraries:
            drive = Drive(
                id=library_id_for(site_id, library),
                owner="",
                drive_type="documentLibrary",
                created=when,
                name=library,
                site_id=site_id,
                tenant=tenant,
            )
            drive.add(None, "root", owner, when=when)
            key = display_name if library == "Documents" else f"{display_name}/{library}"
            for path, content, modified in _files(key):
                folder_path, _, file_name = path.rpartition("/")
                parent = drive.lookup(drive.root, folder_path)
                assert parent is not None
                drive.add(parent, file_name, owner, content, when=parse_iso(modified))
            DRIVES.libraries[drive.id] = drive
            site.library_ids.append(drive.id)
        self.sites[site.id] = site
        return site

    def get(self, site_id: str, tenant: str | None) -> Site | None:
        """A live site of the tenant (site ids compare case-insensitively, as Graph's do)."""
        wanted = site_id.lower()
        found = next((s for s in self.sites.values() if s.id.lower() == wanted), None)
        return found if found is not None and found.tenant == tenant else None

    def delete(self, site_id: str) -> bool:
        """Delete a site and its libraries; False when there was none."""
        site = next((s for s in self.sites.values() if s.id.lower() == site_id.lower()), None)
        if site is None:
            return False
        del self.sites[site.id]
        for drive_id in site.library_ids:
            DRIVES.libraries.pop(drive_id, None)
        return True

    def libraries(self, site: Site) -> list[Drive]:
        """The site's libraries, in the order they were made."""
        return [DRIVES.libraries[i] for i in site.library_ids if i in DRIVES.libraries]


SITES = Sites()
STORE.on_reset(SITES.reset)


# -- plumbing -----------------------------------------------------------------------------


@dataclass
class Caller:
    """The signed-in account behind a Sites request, and its tenant."""

    oid: str
    tid: str


def _graph_error(exc: DriveError) -> Response:
    STORE.count("graph.error")
    return graph_error(exc.status, exc.code, exc.message)


bp.register_error_handler(DriveError, _graph_error)


def _begin(op: str) -> Caller:
    """Count the call, apply the ``graph`` fault, check the token and its Sites scope."""
    STORE.count(f"graph.sites.{op}")
    failed = graph_fault()
    if failed is not None:
        abort(failed)
    token, failed = require_token()
    if failed is not None:
        abort(failed)
    account = STORE.accounts.get(token.oid or "")
    if account is None:
        raise DriveError(400, "BadRequest", "/me request is only valid with delegated flow.")
    if not token.scopes & SITES_SCOPES:
        raise DriveError(403, "accessDenied", "Access denied")
    return Caller(account.oid, account.tid)


def _arg(name: str) -> str | None:
    value = request.args.get(f"${name}")
    return value if value is not None else request.args.get(name)


def _top() -> int:
    raw = _arg("top")
    if raw is None:
        return DEFAULT_TOP
    if not raw.isdigit() or int(raw) < 1:
        raise DriveError(400, "BadRequest", f"Invalid $top value '{raw}'.")
    return min(int(raw), MAX_TOP)


def _select(allowed: frozenset[str], kind: str) -> frozenset[str] | None:
    raw = _arg("select")
    if raw is None:
        return None
    names = frozenset(part.strip() for part in raw.split(",") if part.strip())
    unknown = sorted(names - allowed)
    if unknown:
        message = f"Could not find a property named '{unknown[0]}' on type '{kind}'."
        raise DriveError(400, "BadRequest", message)
    return names


def _chosen(data: dict, select: frozenset[str] | None) -> dict:
    return data if select is None else {k: v for k, v in data.items() if k in select}


def _offset(*key: object) -> int:
    raw = _arg("skiptoken")
    if raw is None:
        return 0
    parts = DRIVES.unsign(raw)
    expected = [str(part) for part in ("p", *key)]
    if not parts or parts[:-1] != expected or not parts[-1].isdigit():
        raise DriveError(400, "invalidRequest", "The $skiptoken is not valid for this request.")
    return int(parts[-1])


def _next_link(offset: int, *key: object) -> str:
    """This request's URL with a new ``$skiptoken`` (every other option kept, as Graph does)."""
    params = [
        (name, value)
        for name, value in request.args.items(multi=True)
        if name.lstrip("$") != "skiptoken"
    ]
    params.append(("$skiptoken", DRIVES.sign("p", *key, offset)))
    query = "&".join(f"{quote(k, safe='$@')}={quote(v, safe=SAFE_QUERY)}" for k, v in params)
    return f"{base_url()}{quote(request.path, safe='/,!')}?{query}"


def _paged(entries: list[dict], context: str, *key: object) -> Response:
    top, offset = _top(), _offset(*key)
    body: dict = {
        "@odata.context": f"{base_url()}/v1.0/$metadata#{context}",
        "value": entries[offset : offset + top],
    }
    if offset + top < len(entries):
        body["@odata.nextLink"] = _next_link(offset + top, *key)
    return Response(json.dumps(body), mimetype="application/json")


def site_json(site: Site) -> dict:
    """The site resource as Graph sends it."""
    collection, web = site.id.split(",")[1:]
    return {
        "id": site.id,
        "name": site.name,
        "displayName": site.display_name,
        "description": site.description,
        "webUrl": site.web_url,
        "createdDateTime": iso(site.created),
        "lastModifiedDateTime": iso(site.modified),
        "siteCollection": {"hostname": site.hostname},
        "sharepointIds": {
            "siteId": collection.lower(),
            "webId": web.lower(),
            "siteUrl": site.web_url,
        },
    }


def library_json(site: Site, drive: Drive, viewer: str) -> dict:
    """A document library as a drive resource; its owner is the site's group."""
    data = Render(drive, viewer).drive_json()
    data["owner"] = {"group": {"displayName": f"{site.display_name} Owners"}}
    data["createdBy"] = _identity(drive.root.created_by)
    data["lastModifiedBy"] = _identity(drive.root.modified_by)
    return data


def _site(caller: Caller, site_id: str) -> Site:
    site = SITES.get(site_id, caller.tid)
    if site is None:
        raise not_found("Requested site could not be found")
    return site


def _matches(site: Site, words: list[str]) -> bool:
    if words == ["*"]:
        return True
    text = f"{site.name} {site.display_name} {site.description}".casefold()
    return bool(words) and all(word in text for word in words)


# -- routes -------------------------------------------------------------------------------


@bp.get("/me/followedSites")
def followed_sites() -> Response:
    """The sites the caller follows, by display name."""
    caller = _begin("followed")
    select = _select(SITE_FIELDS, "microsoft.graph.site")
    with DRIVES.lock:
        found = [
            s for s in SITES.sites.values() if caller.oid in s.followers and s.tenant == caller.tid
        ]
        entries = [_chosen(site_json(s), select) for s in sorted(found, key=_by_name)]
    return _paged(entries, "Collection(site)", "f", caller.oid)


def _by_name(site: Site) -> str:
    return site.display_name.casefold()


@bp.get("/sites")
def search_sites() -> Response:
    """Sites of the caller's tenant matching ``search``."""
    caller = _begin("search")
    text = request.args.get("search")
    if text is None or not text.strip():
        raise DriveError(400, "invalidRequest", "Provide the text to look for: ?search={text}.")
    select = _select(SITE_FIELDS, "microsoft.graph.site")
    words = text.casefold().split()
    with DRIVES.lock:
        found = [s for s in SITES.sites.values() if s.tenant == caller.tid and _matches(s, words)]
        entries = [_chosen(site_json(s), select) for s in sorted(found, key=_by_name)]
    return _paged(entries, "sites", "s", caller.oid, text)


@bp.get("/sites/<site_id>")
def site(site_id: str) -> Response:
    """One site."""
    caller = _begin("site")
    select = _select(SITE_FIELDS, "microsoft.graph.site")
    with DRIVES.lock:
        body = _chosen(site_json(_site(caller, site_id)), select)
    context = {"@odata.context": f"{base_url()}/v1.0/$metadata#sites/$entity"}
    return Response(json.dumps({**context, **body}), mimetype="application/json")


@bp.get("/sites/<site_id>/drives")
def libraries(site_id: str) -> Response:
    """The site's document libraries."""
    caller = _begin("drives")
    select = _select(DRIVE_FIELDS, "microsoft.graph.drive")
    with DRIVES.lock:
        found = _site(caller, site_id)
        entries = [
            _chosen(library_json(found, drive, caller.oid), select)
            for drive in SITES.libraries(found)
        ]
    return _paged(entries, f"sites('{found.id}')/drives", "d", found.id)


@bp.get("/sites/<site_id>/drive")
def default_library(site_id: str) -> Response:
    """The site's default document library (its first, "Documents")."""
    caller = _begin("drive")
    with DRIVES.lock:
        found = _site(caller, site_id)
        drives = SITES.libraries(found)
        if not drives:
            raise not_found()
        body = library_json(found, drives[0], caller.oid)
    context = {"@odata.context": f"{base_url()}/v1.0/$metadata#drives/$entity"}
    return Response(json.dumps({**context, **body}), mimetype="application/json")
