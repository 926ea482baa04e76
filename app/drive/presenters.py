"""Listings as the dashlet's script receives them: rows with their links, the breadcrumb, the
Load more link. The same URLs serve the full pages, so every link also works without script."""

from urllib.parse import quote, urlencode

from flask import g, url_for

from app.core import times
from app.drive.cloud_drive import SITES, Folder, Listing, Place, Row
from app.microsoft import graph

SIMPLE_UPLOAD_MAX = graph.SIMPLE_UPLOAD_MAX  # the script uploads bigger files in parts


class Links:
    """Builds the links of many rows from three base URLs, quoting each row's drive id once per
    page rather than once per row (a page's rows share it)."""

    def __init__(self):
        self.page = url_for("drive.index")
        self.api = url_for("drive.api_children")
        self.download = url_for("drive.download")
        self.thumbnail = url_for("drive.thumbnail")
        self.text = url_for("drive.api_preview_text")
        self.search = url_for("drive.api_search")
        self.open = url_for("drive.api_open")
        self._drives: dict[str, str] = {}

    def folder(self, folder: Folder, **changes) -> dict:
        """The page URL (`href`) and the JSON URL (`api`) of a folder."""
        query = urlencode(folder.params(**changes), safe="/", quote_via=quote)
        suffix = f"?{query}" if query else ""
        return {"href": f"{self.page}{suffix}", "api": f"{self.api}{suffix}"}

    def place(self, place: Place) -> dict:
        """The page URL (`href`) and the JSON URL (`api`) that open a folder known by id (in its
        library, for a site's)."""
        if place.library is not None:
            params = {**place.library.params(path="", sort="", order=""), "open": place.item_id}
            query = urlencode(params, quote_via=quote)
        else:
            pairs = (("drive", place.drive_id), ("open", place.item_id))
            query = urlencode({k: v for k, v in pairs if v})
        return {"href": f"{self.page}?{query}", "api": f"{self.open}?{query}"}

    def target(self, target: Folder | Place) -> dict:
        """The links that open a row's folder, however it is known."""
        return self.place(target) if isinstance(target, Place) else self.folder(target)

    def found(self, folder: Folder, query: str) -> dict:
        """The page URL (`href`) and the JSON URL (`api`) of a search in a folder."""
        params = urlencode({**folder.params(), "q": query}, safe="/", quote_via=quote)
        return {"href": f"{self.page}?{params}", "api": f"{self.search}?{params}"}

    def file(self, row: Row) -> str:
        """Where the browser downloads a file."""
        return f"{self.download}?{self._item(row)}"

    def _item(self, row: Row) -> str:
        drive = ""
        if row.drive_id:
            drive = self._drives.get(row.drive_id)
            if drive is None:
                drive = self._drives[row.drive_id] = f"drive={quote(row.drive_id, safe='')}&"
        return f"{drive}item={quote(row.id, safe='')}"

    def text_preview(self, row: Row) -> str:
        """Where the script reads a plain-text file's text for Preview (capped)."""
        return f"{self.text}?{self._item(row)}"

    def thumbnails(self, row: Row) -> dict:
        """The row's small thumbnail and its preview (the large one), through this app."""
        item = self._item(row)
        return {
            "thumbnail": f"{self.thumbnail}?{item}&size=small",
            "preview": f"{self.thumbnail}?{item}&size=large",
        }


def links() -> Links:
    """This request's Links: the templates and the JSON ask for them once per row."""
    if "drive_links" not in g:
        g.drive_links = Links()
    return g.drive_links


def folder_links(folder: Folder, **changes) -> dict:
    """The page URL (`href`) and the JSON URL (`api`) of a folder."""
    return links().folder(folder, **changes)


def download_url(row: Row) -> str:
    """Where the browser downloads a file."""
    return links().file(row)


def row_json(row: Row, row_links: Links | None = None) -> dict:
    """One row for the script."""
    row_links = row_links or links()
    data = {
        "id": row.id,
        "drive": row.drive_id,
        "name": row.name,
        "folder": row.is_folder,
        "kind": row.kind,
        "modified_by": row.modified_by,
        "modified": times.localtime(row.modified_iso, named=False),
        "modified_iso": row.modified_iso,
        "size": row.size,
    }
    if row.target is not None:
        data.update(row_links.target(row.target))
    else:
        data["download"] = row_links.file(row)
    if row.web_url:
        data["web_url"] = row.web_url
    if row.thumbnail:
        data.update(row_links.thumbnails(row))
    elif row.kind == "text" and row.target is None:
        data["text_preview"] = row_links.text_preview(row)
    if row.parent is not None:
        data["in"] = {
            "label": place_label(row),
            "known": row.parent_path is not None,
            **row_links.target(row.parent),
        }
    return data


def place_label(row: Row) -> str:
    """Where a search result is, in words: its folder's path when Graph sent it; else the
    link only opens the folder (search results often come without the path)."""
    if row.parent_path is None:
        return "Open folder"
    in_library = isinstance(row.parent, Folder) and row.parent.view == SITES
    top = row.parent.name if in_library else "My Files"
    return " / ".join([top, *row.parent_path.split("/")]) if row.parent_path else top


def crumbs(listing: Listing) -> list[dict]:
    """The breadcrumb of a listing; a search adds its results as the last step."""
    shared = links()
    trail = [{"label": label, **shared.folder(f)} for label, f in listing.folder.crumbs()]
    if listing.query:
        label = f"Search results for “{listing.query}”"
        trail.append({"label": label, **shared.found(listing.folder, listing.query)})
    return trail


def more_links(listing: Listing) -> dict | None:
    """The Load more link of a listing, when Graph has more."""
    if listing.cursor is None:
        return None
    cursor = urlencode({"cursor": listing.cursor})
    return {
        "href": f"{url_for('drive.index')}?{cursor}",
        "api": f"{url_for('drive.api_more')}?{cursor}",
    }


def search_label(folder: Folder | None) -> str:
    """What the search box looks through, in words (its label)."""
    if folder is not None and folder.is_sites_list:
        return "Search sites"
    return "Search in this drive"


def empty_text(listing: Listing | None) -> str:
    """What an empty listing says."""
    folder = listing.folder if listing else None
    if listing and listing.query:
        return "Nothing found."
    if folder is not None and folder.is_sites_list and folder.site_id:
        return "This site has no document libraries."
    if folder is not None and folder.is_sites_list:
        return "You do not follow any sites yet. Search for a site to open it."
    return "This folder is empty."


def listing_json(listing: Listing) -> dict:
    """A listing for the script: folder, breadcrumb, rows, Load more, sort links; whether
    items can be added (`writable`), searched, and have actions (not sites or libraries)."""
    folder, shared = listing.folder, links()
    here = shared.found(folder, listing.query) if listing.query else shared.folder(folder)
    return {
        "folder": folder.params(),
        "self": here["api"],
        "view": folder.view,
        "sort": folder.sort,
        "order": folder.order,
        "writable": folder.location is not None and not listing.query,
        "actions": not folder.is_sites_list,
        "drive_top": folder.drive_top,
        "query": listing.query,
        "searchable": folder.searchable,
        "search_label": search_label(folder),
        "empty": empty_text(listing),
        "crumbs": crumbs(listing),
        "rows": [row_json(row, shared) for row in listing.rows],
        "more": more_links(listing),
        "sorts": sort_links(folder),
    }


def sort_links(folder: Folder | None) -> dict:
    """The column-header links: Name (A-Z, again for Z-A), Date Modified (newest first, again
    for oldest first)."""
    folder = folder or Folder()
    by_name = folder.sort == "name" and folder.order == "asc"
    newest = folder.sort == "modified" and folder.order == "desc"
    return {
        "name": folder_links(folder, sort="", order="desc" if by_name else ""),
        "modified": folder_links(folder, sort="modified", order="asc" if newest else ""),
    }


def attachment(name: str) -> str:
    """A Content-Disposition that saves the file under its name (RFC 6266, any script)."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
