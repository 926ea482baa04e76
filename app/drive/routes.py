"""Cloud Drive: full pages that browse and download without script, and the JSON API of the Home
dashlet. Every call acts through the signed-in user's own Microsoft account; state-changing
calls are CSRF-protected (the script sends X-CSRFToken)."""

from flask import Response, jsonify, render_template, request, url_for
from flask_login import current_user, login_required

from app.drive import bp, cloud_drive, presenters
from app.drive.cloud_drive import Folder, Place
from app.microsoft import graph
from app.microsoft.onedrive import (
    FAIL,
    DriveError,
    InvalidRequest,
    NameConflict,
    NeedsReconnect,
    NotConnected,
    SiteGone,
    SitesNotPermitted,
)

bp.add_app_template_global(presenters, "drive_shapes")
SITES_TOP = Folder(cloud_drive.SITES)


@bp.before_request
@login_required
def _signed_in():
    """Every Cloud Drive page and call needs a signed-in user."""


@bp.app_template_global("cloud_drive_connection")
def connection():
    """The dashlet's connection state for the signed-in user (no call to Microsoft)."""
    return cloud_drive.connection_of(current_user)


@bp.app_template_global("cloud_drive_link_scopes")
def link_scopes():
    """Who Copy Link may make links for, as (scope, label): the user picks when there are two."""
    return cloud_drive.link_scopes()


def _user():
    return current_user._get_current_object()


def _body() -> dict:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _conflict(source) -> str:
    """What the user chose for a taken name: fail (ask), rename (keep both) or replace."""
    return str(source.get("conflict") or FAIL)


def _item() -> tuple[str, str]:
    source = request.args if request.method in ("GET", "DELETE") else _body()
    item = str(source.get("item") or "")
    if not item:
        raise InvalidRequest("Choose a file or folder.")
    return str(source.get("drive") or ""), item


@bp.errorhandler(DriveError)
def _drive_error(error: DriveError):
    """A clear message and a 4xx/5xx: JSON for the script, the page for browsers. When the same
    request may work in a moment, the page offers Try again (the same URL), the script `retry`."""
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after else {}
    ways = _ways_on(error)
    if not request.endpoint or not request.endpoint.startswith("drive.api_"):
        here = request.full_path if request.endpoint == "drive.index" else None
        page = render_template(
            "drive/index.html",
            listing=None,
            error=error.message,
            retry_url=request.full_path if error.retryable else None,
            refresh_url=here,
            **ways,
        )
        return page, error.status, headers
    body = {"error": error.message, "retry_after": error.retry_after, "retry": error.retryable}
    if isinstance(error, NotConnected | NeedsReconnect):
        body["reconnect_url"] = url_for("accounts.new")
    body["conflict"] = isinstance(error, NameConflict)
    return jsonify({**body, **ways}), error.status, headers


def _ways_on(error: DriveError) -> dict:
    """Where the user goes from a Sites error: Reauthenticate the account for the missing
    permission; back to Sites from a site that is gone."""
    if isinstance(error, SitesNotPermitted):
        account_id = cloud_drive.connection_of(_user()).account_id
        return {"reauthenticate_url": url_for("accounts.detail", account_id=account_id)}
    if isinstance(error, SiteGone):
        return {"back": {"label": "Back to Sites", **presenters.folder_links(SITES_TOP)}}
    return {}


# --- pages ---------------------------------------------------------------------------------------


def _listing():
    """What the page or JSON asked for: the next page (`cursor`), a search (`q`) in a folder,
    a folder known by id (`open`) or by address."""
    args = request.args
    if args.get("cursor"):
        return cloud_drive.more(_user(), args["cursor"])
    if "q" in args:
        return cloud_drive.search(_user(), Folder.from_args(args), args["q"])
    if args.get("open"):
        return cloud_drive.open_place(_user(), Place.from_args(args), args)
    return cloud_drive.list_folder(_user(), Folder.from_args(args))


@bp.get("/")
def index():
    """My Files, Shared With Me, a folder or a search as a full page (Load more follows
    `cursor`)."""
    return render_template("drive/index.html", listing=_listing(), error=None)


@bp.get("/download")
def download():
    """Stream a file from its short-lived OneDrive URL (never held whole in memory)."""
    drive_id, item_id = _item()
    file = cloud_drive.download(_user(), drive_id, item_id)
    response = Response(file.chunks, mimetype=file.mime, direct_passthrough=True)
    if file.length is not None:
        response.content_length = file.length
    response.headers["Content-Disposition"] = presenters.attachment(file.name)
    return response


@bp.get("/thumbnail")
def thumbnail():
    """An item's small or large thumbnail, streamed through the app: Graph's thumbnail URLs are
    pre-authenticated, so they never reach the browser (nor its history or Referer)."""
    drive_id, item_id = _item()
    size = request.args.get("size", "small")
    image = cloud_drive.thumbnail(_user(), drive_id, item_id, size)
    response = Response(image.chunks, mimetype=image.mime, direct_passthrough=True)
    if image.length is not None:
        response.content_length = image.length
    response.headers["Content-Disposition"] = "inline"
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


# --- the dashlet's JSON API -----------------------------------------------------------------------


@bp.get("/api/preview-text")
def api_preview_text():
    """A plain-text file's text for Preview, or a 413 saying it is too large to preview."""
    drive_id, item_id = _item()
    name, text = cloud_drive.preview_text(_user(), drive_id, item_id)
    return jsonify({"name": name, "text": text})


@bp.get("/api/children")
def api_children():
    """The first page of a folder."""
    listing = cloud_drive.list_folder(_user(), Folder.from_args(request.args))
    return jsonify(presenters.listing_json(listing))


@bp.get("/api/search")
def api_search():
    """The first page of a search (`q`) in the drive or shared folder being browsed."""
    listing = cloud_drive.search(_user(), Folder.from_args(request.args), request.args.get("q"))
    return jsonify(presenters.listing_json(listing))


@bp.get("/api/open")
def api_open():
    """A folder known only by id (a search result's folder): found, then listed."""
    place = Place.from_args(request.args)
    return jsonify(presenters.listing_json(cloud_drive.open_place(_user(), place, request.args)))


@bp.get("/api/more")
def api_more():
    """The next page of a listing."""
    listing = cloud_drive.more(_user(), request.args.get("cursor", ""))
    return jsonify(presenters.listing_json(listing))


@bp.post("/api/folders")
def api_new_folder():
    """New Folder; `conflict: "rename"` when the user chose a free name."""
    body = _body()
    folder = Folder.from_args(body.get("folder") or {})
    rename = body.get("conflict") == "rename"
    row = cloud_drive.create_folder(_user(), folder, str(body.get("name", "")), rename)
    return jsonify(row=presenters.row_json(row)), 201


@bp.put("/api/files")
def api_upload_small():
    """Upload File of at most 4 MiB: the body is the file."""
    length = request.content_length
    if length is None or length > graph.SIMPLE_UPLOAD_MAX:
        raise InvalidRequest("Files over 4 MiB are uploaded in parts.")
    folder, args = Folder.from_args(request.args), request.args
    data = request.get_data(cache=False)
    row = cloud_drive.upload_small(_user(), folder, args.get("name", ""), data, _conflict(args))
    return jsonify(row=presenters.row_json(row)), 201


@bp.post("/api/uploads")
def api_start_upload():
    """Upload File in parts: start, and receive the ticket and part size."""
    body = _body()
    folder = Folder.from_args(body.get("folder") or {})
    name, size = str(body.get("name", "")), body.get("size")
    upload = cloud_drive.start_upload(_user(), folder, name, size, _conflict(body))
    return jsonify(ticket=upload.ticket, chunk_size=upload.chunk_size), 201


@bp.put("/api/uploads")
def api_upload_part():
    """One part (Content-Range), streamed on to OneDrive."""
    part = cloud_drive.upload_part(
        _user(),
        request.headers.get("X-Upload-Ticket", ""),
        request.headers.get("Content-Range", ""),
        request.content_length,
        request.stream,
    )
    if part.row is None:
        return jsonify(received=part.received, done=False), 202
    return jsonify(received=part.received, done=True, row=presenters.row_json(part.row)), 201


@bp.delete("/api/uploads")
def api_cancel_upload():
    """Cancel an upload in parts."""
    cloud_drive.cancel_upload(_user(), request.headers.get("X-Upload-Ticket", ""))
    return "", 204


@bp.post("/api/links")
def api_copy_link():
    """Copy Link: a view link to the item, for the organization unless `scope` says anonymous."""
    scope = str(_body().get("scope") or cloud_drive.ORGANIZATION)
    link = cloud_drive.share_link(_user(), *_item(), scope)
    label = cloud_drive.LINK_SCOPE_LABELS[link.scope]
    return jsonify(url=link.url, scope=link.scope, scope_label=label)


@bp.post("/api/rename")
def api_rename():
    """Rename; `conflict` says what to do with a taken name (fail: ask, rename, replace)."""
    body = _body()
    folder = Folder.from_args(body.get("folder") or {})
    name = str(body.get("name", ""))
    row = cloud_drive.rename(_user(), folder, *_item(), name, _conflict(body))
    return jsonify(row=presenters.row_json(row))


@bp.post("/api/move")
def api_move():
    """Move into the folder `to` of the same drive; `conflict` as for rename."""
    body = _body()
    to = Folder.from_args(body.get("to") or {})
    row = cloud_drive.move(_user(), *_item(), to, _conflict(body))
    return jsonify(row=presenters.row_json(row))


@bp.delete("/api/items")
def api_delete():
    """Delete an item (the script asked for confirmation first)."""
    cloud_drive.delete(_user(), *_item())
    return "", 204
