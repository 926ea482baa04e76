"""Listings as the dashlet's script receives them: rows with their links, the breadcrumb, the
Load more link. The same URLs serve the full pages, so every link also works without script."""

from urllib.parse import quote, urlencode

from flask import g, url_for

from app.core import times
from app.drive.cloud_drive import Folder, Listing, Row
from app.microsoft import graph

SIMPLE_UPLOAD_MAX = graph.SIMPLE_UPLOAD_MAX  # the script uploads bigger files in parts


class Links:
    """Builds the links of many rows from three base URLs, quoting each row's drive id once per
    page rather than once per row (a page's rows share it)."""

    def __init__(self):
        self.page = url_for("drive.index")
        self.api = url_for("drive.api_children")
        self.download = url_for("drive.download")
        self._drives: dict[str, str] = {}

    def folder(self, folder: Folder, **changes) -> dict:
        """The page URL (`href`) and the JSON URL (`api`) of a folder."""
        query = urlencode(folder.params(**changes), safe="/", quote_via=quote)
        suffix = f"?{query}" if query else ""
        return {"href": f"{self.page}{suffix}", "api": f"{self.api}{suffix}"}

    def file(self, row: Row) -> str:
        """Where the browser downloads a file."""
        drive = ""
        if row.drive_id:
            drive = self._drives.get(row.drive_id)
            if drive is None:
                drive = self._drives[row.drive_id] = f"drive={quote(row.drive_id, safe='')}&"
        return f"{self.download}?{drive}item={quote(row.id, safe='')}"


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
        data.update(row_links.folder(row.target))
    else:
        data["download"] = row_links.file(row)
    return data


def more_links(listing: Listing) -> dict | None:
    """The Load more link of a listing, when Graph has more."""
    if listing.cursor is None:
        return None
    cursor = urlencode({"cursor": listing.cursor})
    return {
        "href": f"{url_for('drive.index')}?{cursor}",
        "api": f"{url_for('drive.api_more')}?{cursor}",
    }


def listing_json(listing: Listing) -> dict:
    """A listing for the script: folder, breadcrumb, rows, Load more, sort links."""
    folder, shared = listing.folder, links()
    return {
        "folder": folder.params(),
        "self": shared.folder(folder)["api"],
        "view": folder.view,
        "sort": folder.sort,
        "order": folder.order,
        "writable": not folder.is_shared_root,
        "crumbs": [{"label": label, **shared.folder(f)} for label, f in folder.crumbs()],
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
