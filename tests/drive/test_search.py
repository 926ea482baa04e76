"""Cloud Drive search over HTTP against the running stand-in: one Graph call per page of
results, Graph's quoting of the text, where each result is, opening its folder, paging, the
throttled search, and the page without script."""

import re
import time
from urllib.parse import parse_qs, urlsplit

from app.drive import presenters
from app.drive.cloud_drive import MINE, Folder, Place, _result
from tests.connect.conftest import ADELE
from tests.drive.conftest import API, SQLITE_ONLY, names, row_named


def search(client, q: str, **params) -> dict:
    response = client.get(f"{API}/search", query_string={"q": q, **params})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


@SQLITE_ONLY
def test_a_page_of_results_costs_one_graph_call(sally, graph_calls):
    graph_calls.reset()
    found = search(sally, "report")
    assert graph_calls.since() == {"graph.drive.search": 1}
    assert names(found) == ["Quarterly report.docx"]
    assert found["query"] == "report" and found["writable"] is False
    assert [c["label"] for c in found["crumbs"]] == ["My Files", "Search results for “report”"]
    report = row_named(found, "Quarterly report.docx")
    assert report["download"].startswith("/drive/download?")
    # Graph's search results name the folder by id only: the row opens it, without a path
    assert report["in"]["label"] == "Open folder" and report["in"]["known"] is False
    assert report["in"]["api"].startswith("/drive/api/open?open=")


@SQLITE_ONLY
def test_results_show_thumbnails_from_the_same_graph_call(sally, graph_calls):
    graph_calls.reset()
    found = search(sally, "png")
    assert graph_calls.since() == {"graph.drive.search": 1}
    photo = row_named(found, "Whiteboard.png")
    assert photo["thumbnail"].startswith("/drive/thumbnail?item=")
    assert photo["preview"].endswith("&size=large")
    graph_calls.reset()
    assert sally.get(photo["thumbnail"]).mimetype == "image/png"
    assert graph_calls.since() == {"graph.drive.thumbnail": 1}


@SQLITE_ONLY
def test_a_results_folder_opens_at_its_path(sally, graph_calls):
    report = row_named(search(sally, "quarterly"), "Quarterly report.docx")
    graph_calls.reset()
    opened = sally.get(report["in"]["api"]).get_json()
    # where it is (one call), then its children (one call)
    assert graph_calls.since() == {"graph.drive.get_item": 1, "graph.drive.list_children": 1}
    assert [c["label"] for c in opened["crumbs"]] == ["My Files", "Documents"]
    assert "Quarterly report.docx" in names(opened)
    drafts = row_named(search(sally, "drafts"), "Drafts")
    assert drafts["folder"] is True
    inside = sally.get(drafts["api"]).get_json()
    assert [c["label"] for c in inside["crumbs"]] == ["My Files", "Proposals", "Drafts"]
    # a result directly in My Files: its folder is the root
    welcome = row_named(search(sally, "welcome"), "Welcome.txt")
    root = sally.get(welcome["in"]["api"]).get_json()
    assert [c["label"] for c in root["crumbs"]] == ["My Files"] and "Documents" in names(root)
    graph_calls.reset()
    assert sally.get(f"{API}/open", query_string={"open": "no/such"}).status_code == 404
    assert graph_calls.since() == {}  # an id that cannot be Graph's never reaches it
    assert sally.get(f"{API}/open").get_json()["error"] == "Choose a folder to open."
    not_a_folder = sally.get(f"{API}/open", query_string={"open": welcome["id"]})
    assert not_a_folder.status_code == 400
    assert not_a_folder.get_json()["error"] == "That item is not a folder."


@SQLITE_ONLY
def test_a_path_graph_sends_is_shown_and_opens_without_asking(app):
    item = {
        "id": "01ABC",
        "name": "Plan.docx",
        "file": {},
        "parentReference": {"driveId": "b!x", "id": "01DEF", "path": "/drive/root:/A%20B/C"},
    }
    row = _result(item, Folder(MINE))
    assert row.parent == Folder(MINE, path="A B/C") and row.parent_path == "A B/C"
    folder = _result({**item, "file": None, "folder": {}, "name": "Sub"}, Folder(MINE))
    assert folder.target == Folder(MINE, path="A B/C/Sub")
    no_path = _result({**item, "parentReference": {"id": "01DEF"}}, Folder(MINE))
    assert no_path.parent == Place("", "01DEF") and no_path.parent_path is None
    with app.test_request_context():
        assert presenters.place_label(row) == "My Files / A B / C"
        assert presenters.row_json(row)["in"]["href"] == "/drive/?path=A%20B/C"


@SQLITE_ONLY
def test_quotes_and_slashes_reach_graph_as_odata_text(sally, ms):
    sally.put(
        f"{API}/files",
        query_string={"path": "Documents", "name": "Bob's notes.txt"},
        data=b"hi",
        headers={"Content-Type": "application/octet-stream"},
    )
    assert names(search(sally, "bob's")) == ["Bob's notes.txt"]
    assert names(search(sally, "'")) == ["Bob's notes.txt"]
    assert names(search(sally, "a/b")) == []  # no name holds a slash; not an error
    assert names(search(sally, "100% ?#&")) == []


@SQLITE_ONLY
def test_empty_search_is_explained_without_calling_graph(sally, graph_calls):
    graph_calls.reset()
    response = sally.get(f"{API}/search", query_string={"q": "   "})
    assert response.status_code == 400
    assert response.get_json()["error"] == "Type what to search for."
    assert graph_calls.since() == {}


@SQLITE_ONLY
def test_results_page_with_load_more(sally, ms, graph_calls):
    seed = {"oid": ADELE, "parent": "Photos", "files": 130, "prefix": "Big"}
    ms.control("POST", "/drive/seed", seed)
    graph_calls.reset()
    first = search(sally, "Big file")
    assert len(first["rows"]) == 100 and first["more"]
    second = sally.get(first["more"]["api"]).get_json()
    assert graph_calls.since() == {"graph.drive.search": 2}
    assert len(second["rows"]) == 30 and second["more"] is None
    assert second["query"] == "Big file"
    assert not set(names(first)) & set(names(second))


@SQLITE_ONLY
def test_search_in_a_shared_folder_stays_in_it(sally):
    shared = sally.get(f"{API}/children", query_string={"view": "shared"}).get_json()
    proposals = row_named(shared, "Proposals")
    args = {k: v[0] for k, v in parse_qs(urlsplit(proposals["api"]).query).items()}
    found = search(sally, "proposal", **args)
    assert names(found) == ["Acme proposal.pdf"]
    assert found["view"] == "shared"
    opened = sally.get(row_named(found, "Acme proposal.pdf")["in"]["api"]).get_json()
    assert opened["view"] == "shared" and "Acme proposal.pdf" in names(opened)
    nothing = sally.get(f"{API}/search", query_string={"q": "x", "view": "shared"})
    assert nothing.status_code == 400
    assert nothing.get_json()["error"] == "Open a shared folder to search in it."


@SQLITE_ONLY
def test_a_throttled_search_says_when_to_try_again(sally, ms):
    ms.fault("graph", "429", count=1, retry_after=30)
    started = time.monotonic()
    response = sally.get(f"{API}/search", query_string={"q": "report"})
    assert time.monotonic() - started < 5
    assert response.status_code == 503 and response.headers["Retry-After"] == "30"
    body = response.get_json()
    assert body["error"] == "OneDrive is busy, try again in 30 seconds." and body["retry"] is True
    assert names(search(sally, "report")) == ["Quarterly report.docx"]  # trying again works


@SQLITE_ONLY
def test_search_without_script(sally, ms):
    home = sally.get("/drive/").get_data(as_text=True)
    assert 'role="search"' in home and 'name="q"' in home
    page = sally.get("/drive/?q=notes").get_data(as_text=True)
    assert "Search results for “notes”" in page and "Notes.txt" in page
    folder = re.search(r'<a href="(/drive/\?open=[^"]+)"', page).group(1).replace("&amp;", "&")
    opened = sally.get(folder).get_data(as_text=True)
    assert '<span aria-current="location">Documents</span>' in opened
    ms.fault("graph", "429", count=1, retry_after=30)
    busy = sally.get("/drive/?q=notes")
    assert busy.status_code == 503
    assert 'href="/drive/?q=notes">Try again</a>' in busy.get_data(as_text=True)
    assert "Nothing found." in sally.get("/drive/?q=zzzz").get_data(as_text=True)
