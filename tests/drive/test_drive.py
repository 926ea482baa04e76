"""Cloud Drive over HTTP against the running stand-in: listing, paging, changes, transfers,
every error mapping, the no-script pages, and the fences around other users' drives.

Tests that touch the database (connection state, token refresh, Needs reconnect, other users,
CSRF) run on SQLite and PostgreSQL; the rest only exercise Graph and run on SQLite."""

import re
import time
from urllib.parse import parse_qs, urlsplit

import requests
from sqlalchemy import select

from app.connect.models import ExternalAccount
from app.core import crypto, sealed
from app.extensions import db
from app.microsoft import onedrive as graph
from app.users.models import User
from tests.conftest import count_statements
from tests.connect.conftest import ADELE, MEGAN, connect
from tests.drive.conftest import API, SQLITE_ONLY, children, names, row_named

JSON = {"Accept": "application/json"}
OCTET = {"Content-Type": "application/octet-stream"}
PART = 6 * 320 * 1024  # a part size the test chooses: a multiple of 320 KiB
PAT = "00000000-0000-0000-0000-0000000ba700"  # the stand-in's personal Microsoft account


def account(username="sally") -> ExternalAccount:
    db.session.expire_all()
    user = db.session.scalar(select(User).where(User.username == username))
    return db.session.scalar(select(ExternalAccount).where(ExternalAccount.user_id == user.id))


# --- connection state ---------------------------------------------------------------------------


def test_without_a_connected_account_the_dashlet_says_so(auth, client, configured):
    auth.login()
    home = client.get("/home").get_data(as_text=True)
    assert "Cloud Drive" in home
    assert "The connection with Microsoft was not found." in home
    assert 'href="/profile/external-accounts/new"' in home
    response = client.get(f"{API}/children")
    assert response.status_code == 409
    assert response.get_json()["error"] == "The connection with Microsoft was not found."
    assert response.get_json()["reconnect_url"] == "/profile/external-accounts/new"


def test_signed_out_visitors_are_sent_to_log_in(client):
    response = client.get(f"{API}/children")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_home_dashlet_when_connected(sally):
    home = sally.get("/home").get_data(as_text=True)
    for words in ("Cloud Drive", "My Files", "Shared With Me", "New Folder", "Upload File"):
        assert words in home
    assert "Refresh" in home and "Load more" in home
    assert 'data-children="/drive/api/children"' in home
    assert re.search(r'<meta name="csrf-token" content="[^"]+">', home)
    assert "/static/js/drive.js" in home


# --- listing ------------------------------------------------------------------------------------


def test_my_files_first_page_costs_one_graph_call(sally, graph_calls):
    listing = children(sally)
    assert graph_calls.since() == {"graph.drive.list_children": 1}
    assert names(listing) == ["Documents", "Photos", "Proposals", "Welcome.txt"]  # folders first
    assert [c["label"] for c in listing["crumbs"]] == ["My Files"]
    welcome = row_named(listing, "Welcome.txt")
    assert welcome["folder"] is False and welcome["kind"] == "text"
    assert welcome["modified_by"] == "Adele Vance" and welcome["modified"] == "2024-01-08 09:05"
    assert welcome["size"].endswith("bytes") and welcome["download"].startswith("/drive/download?")
    documents = row_named(listing, "Documents")
    assert documents["size"] == "3 items" and documents["href"] == "/drive/?path=Documents"
    assert listing["more"] is None and listing["writable"] is True


def test_a_page_costs_two_statements_and_one_graph_call(sally, graph_calls):
    children(sally)  # the first use of the token notes it (one UPDATE every few minutes)
    graph_calls.reset()
    # the signed-in user, then the Microsoft account with its credential (one joined SELECT)
    assert count_statements(sally, f"{API}/children") == 2
    assert graph_calls.since() == {"graph.drive.list_children": 1}


@SQLITE_ONLY
def test_a_page_asks_graph_only_for_the_fields_a_row_shows(sally, graph_calls, monkeypatch):
    pages = []

    def recording_send(method, url, **kwargs):
        response = send(method, url, **kwargs)
        pages.append((url, response))
        return response

    send = graph._send
    monkeypatch.setattr(graph, "_send", recording_send)
    listing = children(sally)
    assert graph_calls.since() == {"graph.drive.list_children": 1}
    [(url, response)] = pages
    fields = {"id", "name", "size", "lastModifiedDateTime", "lastModifiedBy", "folder", "file"}
    fields.add("remoteItem")  # a shared folder added to My files: see the shortcut test
    fields.add("webUrl")  # Open in Office for the web
    assert set(parse_qs(urlsplit(url).query)["$select"][0].split(",")) == fields
    returned = {key for item in response.json()["value"] for key in item}
    assert returned <= fields | {"thumbnails"}  # Graph obeyed ($expand: see test_thumbnails)
    welcome = row_named(listing, "Welcome.txt")  # Name, Modified By, Date Modified, Size
    assert welcome["modified_by"] == "Adele Vance" and welcome["modified"] == "2024-01-08 09:05"
    assert welcome["size"].endswith("bytes") and welcome["kind"] == "text"
    assert row_named(listing, "Documents")["size"] == "3 items"


@SQLITE_ONLY
def test_browse_into_a_folder_and_sort(sally):
    documents = children(sally, path="Documents")
    assert [c["label"] for c in documents["crumbs"]] == ["My Files", "Documents"]
    assert documents["crumbs"][0]["api"] == "/drive/api/children"
    assert names(documents) == ["Budget 2024.csv", "Notes.txt", "Quarterly report.docx"]
    kinds = {row["name"]: row["kind"] for row in documents["rows"]}
    assert kinds == {
        "Budget 2024.csv": "excel",
        "Notes.txt": "text",
        "Quarterly report.docx": "word",
    }
    newest = children(sally, path="Documents", sort="modified")
    assert names(newest) == ["Notes.txt", "Quarterly report.docx", "Budget 2024.csv"]
    assert newest["sorts"]["modified"]["api"].endswith("sort=modified&order=asc")
    by_name_desc = children(sally, path="Documents", order="desc")
    assert names(by_name_desc) == ["Quarterly report.docx", "Notes.txt", "Budget 2024.csv"]
    nested = children(sally, path="Proposals")
    assert row_named(nested, "Drafts")["href"] == "/drive/?path=Proposals/Drafts"


@SQLITE_ONLY
def test_paging_follows_the_next_link_verbatim(sally, ms, graph_calls, app):
    seeded = ms.control("POST", "/drive/seed", {"oid": ADELE, "folders": 1, "prefix": "Big"})
    ms.control(
        "POST",
        "/drive/seed",
        {
            "oid": ADELE,
            "parent": seeded["folder_ids"][0],
            "files": 130,
            "folders": 5,
            "prefix": "Lead",
        },
    )
    graph_calls.reset()
    first = children(sally, path="Big folder 00001")
    assert graph_calls.since() == {"graph.drive.list_children": 1}
    assert len(first["rows"]) == 100 and names(first)[0] == "Lead file 00001.txt"
    cursor = parse_qs(urlsplit(first["more"]["api"]).query)["cursor"][0]
    with app.test_request_context():
        link = sealed.unseal("drive.page", cursor, 60)["n"]
    assert link.startswith(f"{ms.base}/v1.0/") and "$skiptoken=" in link
    graph_calls.reset()
    second = sally.get(first["more"]["api"]).get_json()
    assert graph_calls.since() == {"graph.drive.list_children": 1}
    assert len(second["rows"]) == 35 and second["more"] is None
    # "file" sorts before "folder": the folders come on page 2, first there (the script puts
    # them above the files already shown)
    assert names(second)[:5] == [f"Lead folder 0000{i}" for i in range(1, 6)]
    assert not set(names(first)) & set(names(second))
    assert second["crumbs"][-1]["label"] == "Big folder 00001"


@SQLITE_ONLY
def test_a_forged_or_foreign_cursor_is_refused(sally, app, graph_calls):
    assert sally.get(f"{API}/more", query_string={"cursor": "garbage"}).status_code == 400
    with app.test_request_context():
        owner = account()
        forged = sealed.seal(
            "drive.page",
            {
                "u": owner.user_id,
                "a": owner.id,
                "o": owner.object_id,
                "n": "http://127.0.0.1:9/steal?token=1",
                "f": {},
            },
        )
    response = sally.get(f"{API}/more", query_string={"cursor": forged})
    assert response.status_code == 400
    assert "does not point at Microsoft Graph" in response.get_json()["error"]
    assert graph_calls.since() == {}


@SQLITE_ONLY
def test_shared_with_me(sally):
    shared = children(sally, view="shared")
    assert [c["label"] for c in shared["crumbs"]] == ["Shared With Me"]
    proposals = row_named(shared, "Proposals")
    assert proposals["folder"] and proposals["modified_by"] == "Megan Bowen"
    assert shared["writable"] is False
    inside = sally.get(proposals["api"]).get_json()
    assert [c["label"] for c in inside["crumbs"]] == ["Shared With Me", "Proposals"]
    assert names(inside) == ["Drafts", "Acme proposal.pdf"]
    pdf = row_named(inside, "Acme proposal.pdf")
    download = sally.get(pdf["download"])
    assert download.status_code == 200 and download.data.startswith(b"%PDF-1.4")
    assert "Megan Bowen" in download.data.decode("latin-1")
    drafts = sally.get(row_named(inside, "Drafts")["api"]).get_json()
    assert [c["label"] for c in drafts["crumbs"]] == ["Shared With Me", "Proposals", "Drafts"]


@SQLITE_ONLY
def test_a_shared_folder_added_to_my_files_opens_where_it_lives(sally, ms):  # noqa: F811
    # Adele adds the folder Megan shared with her to My files, as OneDrive's web page does.
    token = ms.control("POST", "/tokens", {"oid": ADELE, "scopes": ["Files.ReadWrite.All"]})
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    me = f"{ms.base}/v1.0/me/drive"
    shared = requests.get(f"{me}/sharedWithMe", headers=bearer, timeout=10).json()
    proposals = shared["value"][0]["remoteItem"]
    added = requests.post(
        f"{me}/root/children",
        headers=bearer,
        timeout=10,
        json={
            "name": "Team Proposals",
            "remoteItem": {"id": proposals["id"], "parentReference": proposals["parentReference"]},
        },
    )
    assert added.status_code == 201, added.text
    shortcut = row_named(children(sally), "Team Proposals")
    assert shortcut["folder"] and shortcut["kind"] == "folder" and "download" not in shortcut
    assert shortcut["drive"] == proposals["parentReference"]["driveId"]
    inside = sally.get(shortcut["api"]).get_json()
    assert names(inside) == ["Drafts", "Acme proposal.pdf"]
    pdf = sally.get(row_named(inside, "Acme proposal.pdf")["download"])
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-1.4")
    # Megan deletes the folder: the shortcut stays, still a folder, and opening it says why.
    megan = ms.control("POST", "/tokens", {"oid": MEGAN, "scopes": ["Files.ReadWrite.All"]})
    gone = requests.delete(
        f"{ms.base}/v1.0/me/drive/items/{proposals['id']}",
        headers={"Authorization": f"Bearer {megan['access_token']}"},
        timeout=10,
    )
    assert gone.status_code == 204, gone.text
    orphan = row_named(children(sally), "Team Proposals")
    assert orphan["folder"] and orphan["kind"] == "folder" and "download" not in orphan
    opened = sally.get(orphan["api"])
    assert opened.status_code == 404 and opened.get_json()["error"] == "Folder not found."


@SQLITE_ONLY
def test_read_only_shared_folder_refuses_changes(sally):
    inside = sally.get(row_named(children(sally, view="shared"), "Proposals")["api"]).get_json()
    response = sally.post(f"{API}/folders", json={"folder": inside["folder"], "name": "Mine"})
    assert response.status_code == 403
    assert response.get_json()["error"] == "You do not have permission to change this folder."


# --- changes ------------------------------------------------------------------------------------


@SQLITE_ONLY
def test_new_folder_conflict_and_rename(sally):
    made = sally.post(f"{API}/folders", json={"folder": {"path": "Documents"}, "name": "Reports"})
    assert made.status_code == 201 and made.get_json()["row"]["name"] == "Reports"
    assert made.get_json()["row"]["href"] == "/drive/?path=Documents/Reports"
    again = sally.post(f"{API}/folders", json={"folder": {"path": "Documents"}, "name": "Reports"})
    assert again.status_code == 409
    assert again.get_json() == {
        "error": "An item named “Reports” already exists here.",
        "conflict": True,
        "retry_after": None,
        "retry": False,
    }
    renamed = sally.post(
        f"{API}/folders",
        json={"folder": {"path": "Documents"}, "name": "Reports", "conflict": "rename"},
    )
    assert renamed.status_code == 201 and renamed.get_json()["row"]["name"] == "Reports 1"
    assert "Reports 1" in names(children(sally, path="Documents"))


@SQLITE_ONLY
def test_bad_folder_names_are_explained(sally, graph_calls):
    for name in ("", "a/b", "what?", "trailing."):
        response = sally.post(f"{API}/folders", json={"folder": {}, "name": name})
        assert response.status_code == 400 and response.get_json()["error"]
    assert graph_calls.since() == {}


@SQLITE_ONLY
def test_small_upload_then_download_the_same_bytes(sally):
    data = bytes(range(256)) * 40
    response = sally.put(
        f"{API}/files",
        query_string={"path": "Documents", "name": "notes ü.bin"},
        data=data,
        headers=OCTET,
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    row = response.get_json()["row"]
    assert row["name"] == "notes ü.bin" and row["size"] == "10.0 KB"
    download = sally.get(row["download"])
    assert download.status_code == 200 and download.data == data
    assert download.headers["Content-Length"] == str(len(data))
    assert "filename*=UTF-8''notes%20%C3%BC.bin" in download.headers["Content-Disposition"]
    assert download.headers["Content-Disposition"].startswith("attachment")


@SQLITE_ONLY
def test_small_upload_is_capped_at_4_mib(sally, graph_calls):
    response = sally.put(
        f"{API}/files",
        query_string={"name": "big.bin"},
        data=b"x" * (4 * 1024 * 1024 + 1),
        headers=OCTET,
    )
    assert response.status_code == 400 and "in parts" in response.get_json()["error"]
    assert graph_calls.since() == {}


def _start(client, name, size, folder=None):
    response = client.post(
        f"{API}/uploads", json={"folder": folder or {}, "name": name, "size": size}
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["chunk_size"] == 10 * 1024 * 1024
    return body["ticket"]


def _part(client, ticket, data, start, total):
    return client.put(
        f"{API}/uploads",
        data=data,
        headers={
            **OCTET,
            "X-Upload-Ticket": ticket,
            "Content-Range": f"bytes {start}-{start + len(data) - 1}/{total}",
        },
    )


@SQLITE_ONLY
def test_upload_in_parts_over_4_mib(sally, ms):
    data = (b"0123456789abcdef" * 400_000)[: 4 * 1024 * 1024 + 654_321]
    ticket = _start(sally, "Large.bin", len(data), {"path": "Documents"})
    answers = []
    for start in range(0, len(data), PART):
        response = _part(sally, ticket, data[start : start + PART], start, len(data))
        answers.append(response.status_code)
    assert answers == [202, 202, 201]
    row = response.get_json()["row"]
    assert response.get_json()["done"] is True and row["name"] == "Large.bin"
    assert ms.stats().get("drive.upload_fragment", 0) >= 3
    download = sally.get(row["download"])
    assert download.status_code == 200 and download.data == data


@SQLITE_ONLY
def test_upload_parts_are_checked(sally):
    size = 3 * PART
    ticket = _start(sally, "Checked.bin", size)
    odd = _part(sally, ticket, b"x" * 1000, 0, size)
    assert odd.status_code == 400 and "multiples of 320 KiB" in odd.get_json()["error"]
    wrong_total = sally.put(
        f"{API}/uploads",
        data=b"x" * 10,
        headers={**OCTET, "X-Upload-Ticket": ticket, "Content-Range": "bytes 0-9/10"},
    )
    assert wrong_total.status_code == 400
    skipped = _part(sally, ticket, b"x" * PART, PART, size)  # Graph expects byte 0 first
    assert skipped.status_code == 400 and "out of step" in skipped.get_json()["error"]
    assert _part(sally, ticket, b"x" * PART, 0, size).status_code == 202
    cancelled = sally.delete(f"{API}/uploads", headers={"X-Upload-Ticket": ticket})
    assert cancelled.status_code == 204
    gone = _part(sally, ticket, b"x" * PART, PART, size)
    assert gone.status_code == 404
    forged = _part(sally, "not-a-ticket", b"x" * PART, 0, size)
    assert forged.status_code == 400


def graph_link(ms, item_id: str, scope: str, oid: str = ADELE) -> requests.Response:
    """Ask the stand-in's Graph itself for a view link of `scope`: 200 when that link already
    existed (and its URL), 201 when this call made it."""
    token = ms.control("POST", "/tokens", {"oid": oid, "scopes": ["Files.ReadWrite.All"]})
    return requests.post(
        f"{ms.base}/v1.0/me/drive/items/{item_id}/createLink",
        json={"type": "view", "scope": scope},
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=10,
    )


def allow_anonymous_links(allowed: bool) -> None:
    from app.connect import connectors

    connector = connectors.get("microsoft")
    connector.allow_anonymous_links = allowed
    db.session.commit()


@SQLITE_ONLY
def test_copy_link_is_for_the_organization_by_default(sally, ms, graph_calls):
    welcome = row_named(children(sally), "Welcome.txt")
    graph_calls.reset()
    response = sally.post(f"{API}/links", json={"drive": welcome["drive"], "item": welcome["id"]})
    assert response.status_code == 200
    made = response.get_json()
    assert made["scope"] == "organization"
    assert made["scope_label"] == "People in your organization"
    assert made["url"].startswith(f"{ms.base}/_onedrive/s/")
    assert requests.get(made["url"], timeout=10).status_code == 200
    assert graph_calls.since() == {"graph.drive.create_link": 1}  # no anonymous attempt first
    existing = graph_link(ms, welcome["id"], "organization")
    assert existing.status_code == 200 and existing.json()["link"]["webUrl"] == made["url"]
    assert graph_link(ms, welcome["id"], "anonymous").status_code == 201  # none was made


@SQLITE_ONLY
def test_anonymous_links_are_refused_unless_the_admin_allows_them(sally, ms, graph_calls):
    welcome = row_named(children(sally), "Welcome.txt")
    item = {"drive": welcome["drive"], "item": welcome["id"]}
    graph_calls.reset()
    refused = sally.post(f"{API}/links", json={**item, "scope": "anonymous"})
    assert refused.status_code == 403
    assert refused.get_json()["error"] == (
        "Your administrator does not allow links that anyone can open. Copy a link for people "
        "in your organization instead."
    )
    assert graph_calls.since() == {}
    assert graph_link(ms, welcome["id"], "anonymous").status_code == 201  # nothing was made
    bogus = sally.post(f"{API}/links", json={**item, "scope": "users"})
    assert bogus.status_code == 400 and "Choose who can open the link" in bogus.get_json()["error"]


@SQLITE_ONLY
def test_anonymous_link_when_allowed_and_picked(sally, ms):
    allow_anonymous_links(True)
    home = sally.get("/home").get_data(as_text=True)
    scopes = re.search(r"data-link-scopes='([^']+)'", home).group(1)
    assert "Anyone with the link" in scopes and "People in your organization" in scopes
    notes = row_named(children(sally, path="Documents"), "Notes.txt")
    response = sally.post(f"{API}/links", json={"item": notes["id"], "scope": "anonymous"})
    assert response.status_code == 200
    made = response.get_json()
    assert (made["scope"], made["scope_label"]) == ("anonymous", "Anyone with the link")
    existing = graph_link(ms, notes["id"], "anonymous")
    assert existing.status_code == 200 and existing.json()["link"]["webUrl"] == made["url"]
    assert graph_link(ms, notes["id"], "organization").status_code == 201  # no fallback either
    organization = sally.post(f"{API}/links", json={"item": notes["id"]})
    assert organization.get_json()["scope"] == "organization"
    allow_anonymous_links(False)
    scopes = re.search(r"data-link-scopes='([^']+)'", sally.get("/home").get_data(as_text=True))
    assert "Anyone with the link" not in scopes.group(1)


@SQLITE_ONLY
def test_a_personal_onedrive_cannot_make_organization_links(auth, client, configured, ms):
    auth.login()
    assert connect(client, oid=PAT).callback.status_code == 200
    welcome = row_named(children(client), "Welcome.txt")
    refused = client.post(f"{API}/links", json={"item": welcome["id"]})
    assert refused.status_code == 400
    assert refused.get_json()["error"] == (
        "Personal OneDrive accounts cannot make organization links. Ask your administrator to "
        "allow links that anyone can open (Admin > Connectors), or connect a work or school "
        "account in Profile > External Accounts."
    )
    allow_anonymous_links(True)
    refused = client.post(f"{API}/links", json={"item": welcome["id"]})
    assert refused.get_json()["error"] == (
        "Personal OneDrive accounts cannot make organization links. Choose Anyone with the "
        "link instead."
    )
    anyone = client.post(f"{API}/links", json={"item": welcome["id"], "scope": "anonymous"})
    assert anyone.status_code == 200 and anyone.get_json()["scope"] == "anonymous"


@SQLITE_ONLY
def test_delete(sally):
    welcome = row_named(children(sally), "Welcome.txt")
    response = sally.delete(f"{API}/items", query_string={"item": welcome["id"]})
    assert response.status_code == 204
    assert "Welcome.txt" not in names(children(sally))
    again = sally.delete(f"{API}/items", query_string={"item": welcome["id"]})
    assert again.status_code == 404 and again.get_json()["error"] == "Item not found."


@SQLITE_ONLY
def test_malformed_ids_never_reach_graph(sally, graph_calls):
    for item in ("../../users", "a/b", "x?y"):
        response = sally.delete(f"{API}/items", query_string={"item": item})
        assert response.status_code == 404
    for method in (sally.delete, sally.get):
        path = f"{API}/items" if method == sally.delete else "/drive/download"
        response = method(path, query_string={"item": ""})
        assert response.status_code == 400, path
    assert sally.post(f"{API}/links", json={"item": ""}).status_code == 400
    response = sally.get(
        f"{API}/children", query_string={"view": "shared", "drive": "b!x/y", "item": "01ABC"}
    )
    assert response.status_code == 404
    assert sally.get(f"{API}/children", query_string={"path": "../etc"}).status_code == 400
    assert graph_calls.since() == {}


# --- errors -------------------------------------------------------------------------------------


def test_401_refreshes_the_token_once_and_retries(sally, ms):
    before = ms.stats().get("token.refresh_token", 0)
    ms.fault("graph", "401", count=1)
    assert "Welcome.txt" in names(children(sally))
    assert ms.stats().get("token.refresh_token", 0) == before + 1
    assert account().status == "connected"


def test_401_after_a_refresh_means_needs_reconnect(sally, ms):
    ms.fault("graph", "401", count=2)
    response = sally.get(f"{API}/children")
    assert response.status_code == 409
    assert "reauthenticate" in response.get_json()["error"]
    assert account().status == "needs_reconnect"
    home = sally.get("/home").get_data(as_text=True)
    assert "Microsoft no longer accepts the connection to OneDrive." in home
    assert "Reauthenticate" in home


ERRORS = [
    ("403", 403, "You do not have permission to open this folder."),
    ("404", 404, "Folder not found."),
    ("500", 502, "OneDrive had a problem (HTTP 500). Please try again in a moment."),
]


@SQLITE_ONLY
def test_graph_errors_become_messages(sally, ms):
    for mode, status, message in ERRORS:
        ms.fault("graph", mode, count=1)
        response = sally.get(f"{API}/children", query_string={"path": "Documents"})
        assert (response.status_code, response.get_json()["error"]) == (status, message)
    assert "Notes.txt" in names(children(sally, path="Documents"))


@SQLITE_ONLY
def test_busy_graph_is_waited_out_briefly(sally, ms):
    for mode in ("429", "503"):
        ms.fault("graph", mode, count=1, retry_after=1)
        started = time.monotonic()
        assert "Welcome.txt" in names(children(sally))
        assert time.monotonic() - started >= 1


@SQLITE_ONLY
def test_busy_graph_beyond_the_bound_says_when_to_try_again(sally, ms):
    for mode in ("429", "503"):
        ms.fault("graph", mode, count=1, retry_after=30)
        started = time.monotonic()
        response = sally.get(f"{API}/children")
        assert time.monotonic() - started < 5
        assert response.status_code == 503 and response.headers["Retry-After"] == "30"
        assert response.get_json()["error"] == "OneDrive is busy, try again in 30 seconds."


@SQLITE_ONLY
def test_timeout_is_a_message(sally, ms, app):
    app.config["HTTP_TIMEOUT"] = (2, 0.3)
    ms.fault("graph", "slow", count=1, delay=1.0)
    response = sally.get(f"{API}/children")
    assert response.status_code == 504
    assert response.get_json()["error"] == (
        "OneDrive did not answer in time. Please try again in a moment."
    )


def test_an_email_token_is_rejected_by_graph(sally, ms, app):
    issued = ms.control(
        "POST",
        "/tokens",
        {"oid": ADELE, "audience": "outlook", "scopes": ["SMTP.Send", "IMAP.AccessAsUser.All"]},
    )
    email_token = issued["access_token"]
    raw = requests.get(
        f"{ms.base}/v1.0/me/drive/root/children",
        timeout=10,
        headers={"Authorization": f"Bearer {email_token}"},
    )
    assert raw.status_code == 401
    # Were one ever stored in place of the OneDrive token, the app would not get a listing
    # with it: Graph refuses it, the refresh token is dead, and the account needs reconnecting.
    credential = account().credential
    credential.access_token_encrypted = crypto.encrypt(email_token)
    db.session.commit()
    ms.control("POST", "/revoke", {"oid": ADELE})
    response = sally.get(f"{API}/children")
    assert response.status_code == 409 and account().status == "needs_reconnect"


# --- other users -----------------------------------------------------------------------------


def test_another_user_cannot_reach_my_drive(sally, auth, client, make_user, app, ms):
    mine = children(sally)
    welcome, documents = row_named(mine, "Welcome.txt"), row_named(mine, "Documents")
    my_drive = sally.get(welcome["download"]).data
    with app.test_request_context():
        cursor_owner = account()
    ticket = _start(sally, "Mine.bin", 5 * 1024 * 1024)
    auth.logout()
    make_user("bob", "bob-password", first_name="Bob", last_name="Other")
    auth.login("bob", "bob-password")
    connect(client, oid=MEGAN)
    bobs = children(client)
    assert row_named(bobs, "Welcome.txt")["modified_by"] == "Megan Bowen"
    assert client.get(welcome["download"]).status_code == 404  # Adele's id, Megan's drive
    assert client.get(welcome["download"]).data != my_drive
    token = ms.control("POST", "/tokens", {"oid": ADELE, "scopes": ["Files.Read"]})
    drive_id = requests.get(
        f"{ms.base}/v1.0/me/drive",
        timeout=10,
        headers={"Authorization": f"Bearer {token['access_token']}"},
    ).json()["id"]
    adele_drive = client.get(  # bob addresses Adele's drive by id: Graph says no
        f"{API}/children",
        query_string={
            "view": "shared",
            "drive": drive_id,
            "item": documents["id"],
            "name": "Documents",
        },
    )
    assert adele_drive.status_code == 404
    assert client.get(
        f"{API}/children", query_string={"view": "shared", "drive": drive_id, "item": "root"}
    ).status_code in (403, 404)
    link = client.post(f"{API}/links", json={"item": welcome["id"]})
    assert link.status_code == 404
    assert client.delete(f"{API}/items", query_string={"item": welcome["id"]}).status_code == 404
    assert _part(client, ticket, b"x" * PART, 0, 5 * 1024 * 1024).status_code == 400
    with app.test_request_context():
        stolen = sealed.seal(
            "drive.page",
            {
                "u": cursor_owner.user_id,
                "a": cursor_owner.id,
                "o": cursor_owner.object_id,
                "n": f"{app.config['MICROSOFT_GRAPH_URL']}/me/drive/root/children",
                "f": {},
            },
        )
    assert client.get(f"{API}/more", query_string={"cursor": stolen}).status_code == 400


# --- without script -----------------------------------------------------------------------------


@SQLITE_ONLY
def test_full_pages_browse_and_download_without_script(sally, ms):
    page = sally.get("/drive/").get_data(as_text=True)
    assert "<title>Cloud Drive · CRM</title>" in page
    assert '<a href="/drive/?path=Documents">Documents</a>' in page
    inside = sally.get("/drive/?path=Documents").get_data(as_text=True)
    assert '<a href="/drive/">My Files</a>' in inside and "Quarterly report.docx" in inside
    download = re.search(r'<a class="button small" href="([^"]+)">Download</a>', inside).group(1)
    assert sally.get(download.replace("&amp;", "&")).data.startswith(b"month,amount")
    shared = sally.get("/drive/?view=shared").get_data(as_text=True)
    assert "Proposals" in shared and "Megan Bowen" in shared
    ms.control("POST", "/drive/seed", {"oid": ADELE, "parent": "Photos", "files": 120})
    photos = sally.get("/drive/?path=Photos").get_data(as_text=True)
    more = re.search(r'data-drive-more href="([^"]+)"', photos).group(1)
    page_two = sally.get(more.replace("&amp;", "&")).get_data(as_text=True)
    assert page_two.count('class="drive-col-name"') > 5


@SQLITE_ONLY
def test_full_page_errors_are_pages(sally):
    response = sally.get("/drive/?path=Nowhere")
    assert response.status_code == 404
    assert "Folder not found." in response.get_data(as_text=True)
    assert sally.get("/drive/?view=other").status_code == 400


def refresh_href(page: str) -> str:
    return re.search(r'data-drive-refresh href="([^"]*)"', page).group(1).replace("&amp;", "&")


@SQLITE_ONLY
def test_busy_full_page_offers_try_again_and_refresh_keeps_the_folder(sally, ms):
    address = "/drive/?path=Proposals/Drafts&sort=modified"
    for mode in ("429", "503"):
        ms.fault("graph", mode, count=1, retry_after=30)
        busy = sally.get(address)
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "30"
        page = busy.get_data(as_text=True)
        assert "OneDrive is busy, try again in 30 seconds." in page
        again = re.search(r'<a class="button small" href="([^"]+)">Try again</a>', page)
        assert again and again.group(1).replace("&amp;", "&") == address
        assert refresh_href(page) == address
    assert "This folder is empty." in sally.get(address).get_data(as_text=True)
    ms.control("POST", "/drive/seed", {"oid": ADELE, "parent": "Proposals", "files": 3})
    inside = sally.get("/drive/?path=Proposals")
    assert refresh_href(inside.get_data(as_text=True)) == "/drive/?path=Proposals"


@SQLITE_ONLY
def test_only_passing_trouble_offers_try_again(sally, ms):
    missing = sally.get("/drive/?path=Nowhere").get_data(as_text=True)
    assert "Try again" not in missing and refresh_href(missing) == "/drive/?path=Nowhere"
    ms.fault("graph", "429", count=1, retry_after=30)
    busy = sally.get(f"{API}/children", query_string={"path": "Documents"})
    assert busy.status_code == 503 and busy.get_json()["retry"] is True
    gone = sally.get(f"{API}/children", query_string={"path": "Nowhere"})
    assert gone.status_code == 404 and gone.get_json()["retry"] is False


def test_state_changes_need_the_csrf_header(sally, app):
    app.config["WTF_CSRF_ENABLED"] = True
    body = {"folder": {}, "name": "CSRF"}
    refused = sally.post(f"{API}/folders", json=body, headers=JSON)
    assert refused.status_code == 400
    token = re.search(
        r'name="csrf-token" content="([^"]+)"', sally.get("/home").get_data(as_text=True)
    ).group(1)
    accepted = sally.post(f"{API}/folders", json=body, headers={**JSON, "X-CSRFToken": token})
    assert accepted.status_code == 201
