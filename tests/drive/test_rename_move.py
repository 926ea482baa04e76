"""Rename, Move and name conflicts over HTTP against the running stand-in: PATCH name and
parentReference.id (the new parent's real id, never "root"), a taken name answered with keep
both, replace or cancel, uploads that ask the same, and every Graph failure as a message."""

import time

from tests.drive.conftest import API, SQLITE_ONLY, children, names, row_named

OCTET = {"Content-Type": "application/octet-stream"}


def item_id(client, name: str, **folder) -> str:
    return row_named(children(client, **folder), name)["id"]


def rename(client, name: str, new: str, conflict: str | None = None, **folder):
    body = {"folder": folder, "item": item_id(client, name, **folder), "name": new}
    if conflict:
        body["conflict"] = conflict
    return client.post(f"{API}/rename", json=body)


def move(client, name: str, to: dict, conflict: str | None = None, **folder):
    body = {"item": item_id(client, name, **folder), "to": to}
    if conflict:
        body["conflict"] = conflict
    return client.post(f"{API}/move", json=body)


def upload(client, name: str, data: bytes, conflict: str | None = None, **folder):
    query = {**folder, "name": name, **({"conflict": conflict} if conflict else {})}
    return client.put(f"{API}/files", query_string=query, data=data, headers=OCTET)


# --- rename -------------------------------------------------------------------------------------


@SQLITE_ONLY
def test_rename_a_file_and_a_folder(sally, graph_calls):
    notes = item_id(sally, "Notes.txt", path="Documents")
    graph_calls.reset()
    response = rename(sally, "Notes.txt", "Minutes.txt", path="Documents")
    assert graph_calls.since() == {"graph.drive.update": 1, "graph.drive.list_children": 1}
    assert response.status_code == 200, response.get_data(as_text=True)
    row = response.get_json()["row"]
    assert (row["name"], row["id"]) == ("Minutes.txt", notes)
    assert sally.get(row["download"]).data.startswith(b"Notes by Adele Vance")
    assert names(children(sally, path="Documents")) == [
        "Budget 2024.csv",
        "Minutes.txt",
        "Quarterly report.docx",
    ]
    folder = rename(sally, "Drafts", "Old drafts", path="Proposals").get_json()["row"]
    assert folder["href"] == "/drive/?path=Proposals/Old%20drafts"
    assert sally.get(folder["api"]).status_code == 200


@SQLITE_ONLY
def test_a_taken_name_asks_then_keeps_both(sally):
    taken = rename(sally, "Notes.txt", "Budget 2024.csv", path="Documents")
    assert taken.status_code == 409
    assert taken.get_json()["conflict"] is True
    assert taken.get_json()["error"] == "An item named “Budget 2024.csv” already exists here."
    assert "Notes.txt" in names(children(sally, path="Documents"))  # cancel: nothing changed
    both = rename(sally, "Notes.txt", "Budget 2024.csv", "rename", path="Documents")
    assert both.status_code == 200 and both.get_json()["row"]["name"] == "Budget 2024 1.csv"
    again = rename(sally, "Welcome.txt", "Documents", "rename")  # a folder's name, no dot
    assert again.get_json()["row"]["name"] == "Documents 1"
    upload(sally, "Budget 2024 2.csv", b"x", path="Documents")
    third = rename(sally, "Quarterly report.docx", "Budget 2024.csv", "rename", path="Documents")
    assert third.get_json()["row"]["name"] == "Budget 2024 3.csv"  # 1 and 2 are taken


@SQLITE_ONLY
def test_replace_sends_the_other_file_to_the_recycle_bin(sally, graph_calls):
    notes = item_id(sally, "Notes.txt", path="Documents")
    graph_calls.reset()
    replaced = rename(sally, "Notes.txt", "Budget 2024.csv", "replace", path="Documents")
    assert replaced.status_code == 200
    row = replaced.get_json()["row"]
    assert (row["name"], row["id"]) == ("Budget 2024.csv", notes)
    assert graph_calls.since()["graph.drive.delete"] == 1
    listing = children(sally, path="Documents")
    assert names(listing) == ["Budget 2024.csv", "Quarterly report.docx"]
    assert sally.get(row_named(listing, "Budget 2024.csv")["download"]).data.startswith(b"Notes")


@SQLITE_ONLY
def test_only_a_file_replaces_a_file(sally):
    refused = rename(sally, "Welcome.txt", "Documents", "replace")
    assert refused.status_code == 409
    assert "only a file can replace a file" in refused.get_json()["error"]
    assert {"Welcome.txt", "Documents"} <= set(names(children(sally)))
    sally.post(f"{API}/folders", json={"folder": {}, "name": "Spare"})
    folder = rename(sally, "Spare", "Welcome.txt", "replace")
    assert folder.status_code == 409 and "Welcome.txt" in names(children(sally))


@SQLITE_ONLY
def test_bad_names_and_choices_never_reach_graph(sally, graph_calls):
    notes = item_id(sally, "Notes.txt", path="Documents")
    graph_calls.reset()
    for body in (
        {"item": notes, "name": "a/b"},
        {"item": notes, "name": ""},
        {"item": notes, "name": "ok.txt", "conflict": "overwrite"},
        {"item": "no/such", "name": "ok.txt"},
    ):
        response = sally.post(f"{API}/rename", json={"folder": {"path": "Documents"}, **body})
        assert response.status_code in (400, 404) and response.get_json()["error"]
    assert graph_calls.since() == {}


@SQLITE_ONLY
def test_read_only_shared_items_cannot_be_renamed(sally):
    shared = children(sally, view="shared")
    inside = sally.get(row_named(shared, "Proposals")["api"]).get_json()
    pdf = row_named(inside, "Acme proposal.pdf")
    response = sally.post(
        f"{API}/rename",
        json={
            "folder": inside["folder"],
            "drive": pdf["drive"],
            "item": pdf["id"],
            "name": "x.pdf",
        },
    )
    assert response.status_code == 403
    assert response.get_json()["error"] == "You do not have permission to change this item."


# --- move ---------------------------------------------------------------------------------------


@SQLITE_ONLY
def test_move_into_a_folder_and_back_to_my_files(sally, graph_calls):
    welcome = item_id(sally, "Welcome.txt")
    graph_calls.reset()
    moved = move(sally, "Welcome.txt", {"path": "Documents"})
    # the listing to find the id (test), the new parent's id, the PATCH
    assert graph_calls.since() == {
        "graph.drive.list_children": 1,
        "graph.drive.get_item": 1,
        "graph.drive.update": 1,
    }
    assert moved.status_code == 200, moved.get_data(as_text=True)
    assert moved.get_json()["row"]["id"] == welcome
    assert "Welcome.txt" not in names(children(sally))
    assert "Welcome.txt" in names(children(sally, path="Documents"))
    # My Files itself: Graph wants the root's real id, not "root" (the stand-in refuses it)
    back = move(sally, "Welcome.txt", {}, path="Documents")
    assert back.status_code == 200, back.get_data(as_text=True)
    assert "Welcome.txt" in names(children(sally))
    deep = move(sally, "Drafts", {"path": "Documents"}, path="Proposals")
    assert deep.get_json()["row"]["href"] == "/drive/?path=Documents/Drafts"


@SQLITE_ONLY
def test_a_move_onto_a_taken_name_asks(sally):
    upload(sally, "Welcome.txt", b"another welcome", path="Documents")
    taken = move(sally, "Welcome.txt", {"path": "Documents"})
    assert taken.status_code == 409 and taken.get_json()["conflict"] is True
    assert taken.get_json()["error"] == "An item with that name already exists here."
    both = move(sally, "Welcome.txt", {"path": "Documents"}, "rename")
    assert both.get_json()["row"]["name"] == "Welcome 1.txt"
    assert {"Welcome.txt", "Welcome 1.txt"} <= set(names(children(sally, path="Documents")))
    upload(sally, "Notes.txt", b"newer notes")
    replaced = move(sally, "Notes.txt", {"path": "Documents"}, "replace")
    assert replaced.status_code == 200
    notes = row_named(children(sally, path="Documents"), "Notes.txt")
    assert sally.get(notes["download"]).data == b"newer notes"


@SQLITE_ONLY
def test_a_folder_cannot_go_into_itself_nor_to_another_drive(sally, graph_calls):
    into_itself = move(sally, "Proposals", {"path": "Proposals/Drafts"})
    assert into_itself.status_code == 400
    assert "into itself" in into_itself.get_json()["error"]
    shared = children(sally, view="shared")
    inside = sally.get(row_named(shared, "Proposals")["api"]).get_json()
    graph_calls.reset()
    other = sally.post(
        f"{API}/move", json={"item": item_id(sally, "Welcome.txt"), "to": inside["folder"]}
    )
    assert other.status_code == 400
    assert other.get_json()["error"] == "Items can only be moved to a folder of the same drive."
    assert graph_calls.since() == {"graph.drive.list_children": 1}  # only the test's listing
    missing = move(sally, "Welcome.txt", {"path": "Nowhere"})
    assert missing.status_code == 404 and missing.get_json()["error"] == "Folder not found."


@SQLITE_ONLY
def test_graph_failures_of_a_change_are_messages(sally, ms, app):
    notes = item_id(sally, "Notes.txt", path="Documents")
    body = {"folder": {"path": "Documents"}, "item": notes, "name": "Later.txt"}
    ms.fault("graph", "429", count=1, retry_after=30)
    started = time.monotonic()
    busy = sally.post(f"{API}/rename", json=body)
    assert time.monotonic() - started < 5
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "30"
    assert busy.get_json()["error"] == "OneDrive is busy, try again in 30 seconds."
    ms.fault("graph", "500", count=1)
    broken = sally.post(f"{API}/rename", json=body)
    assert broken.status_code == 502 and "HTTP 500" in broken.get_json()["error"]
    sally.post(f"{API}/folders", json={"folder": {}, "name": "Gone"})
    gone = item_id(sally, "Gone")
    sally.delete(f"{API}/items", query_string={"item": gone})
    vanished = sally.post(f"{API}/rename", json={"folder": {}, "item": gone, "name": "Back"})
    assert vanished.status_code == 404 and vanished.get_json()["error"] == "Item not found."
    app.config["HTTP_TIMEOUT"] = (2, 0.3)
    ms.fault("graph", "slow", count=1, delay=1.0)
    slow = sally.post(f"{API}/rename", json=body)
    assert slow.status_code == 504
    assert (
        slow.get_json()["error"] == "OneDrive did not answer in time. Please try again in a moment."
    )
    app.config["HTTP_TIMEOUT"] = (2, 10)
    assert sally.post(f"{API}/rename", json=body).status_code == 200  # calm again


# --- uploads ask too ----------------------------------------------------------------------------


@SQLITE_ONLY
def test_an_upload_onto_a_taken_name_asks(sally):
    taken = upload(sally, "Notes.txt", b"v2", path="Documents")
    assert taken.status_code == 409
    assert taken.get_json()["conflict"] is True
    assert taken.get_json()["error"] == "An item named “Notes.txt” already exists here."
    both = upload(sally, "Notes.txt", b"v2", "rename", path="Documents")
    assert both.status_code == 201 and both.get_json()["row"]["name"] == "Notes 1.txt"
    notes = item_id(sally, "Notes.txt", path="Documents")
    replaced = upload(sally, "Notes.txt", b"v3", "replace", path="Documents")
    assert replaced.status_code == 201 and replaced.get_json()["row"]["id"] == notes
    assert sally.get(replaced.get_json()["row"]["download"]).data == b"v3"
    bad = upload(sally, "Notes.txt", b"v4", "overwrite", path="Documents")
    assert bad.status_code == 400


@SQLITE_ONLY
def test_an_upload_in_parts_onto_a_taken_name_asks(sally):
    start = {"folder": {"path": "Documents"}, "name": "Notes.txt", "size": 5 * 1024 * 1024}
    taken = sally.post(f"{API}/uploads", json=start)
    assert taken.status_code == 409 and taken.get_json()["conflict"] is True
    assert taken.get_json()["error"] == "An item named “Notes.txt” already exists here."
    for conflict in ("rename", "replace"):
        started = sally.post(f"{API}/uploads", json={**start, "conflict": conflict})
        assert started.status_code == 201, started.get_data(as_text=True)


@SQLITE_ONLY
def test_without_script_the_page_says_what_needs_it(sally):
    page = sally.get("/drive/?path=Documents").get_data(as_text=True)
    assert "<noscript>" in page and "Rename, Move, Copy Link and Delete need it." in page
    assert ">Rename<" not in page  # the buttons come with the script only


@SQLITE_ONLY
def test_a_name_taken_while_the_parts_were_sent_asks_at_the_last_part(sally):
    size = 5 * 1024 * 1024
    start = {"folder": {"path": "Documents"}, "name": "Race.bin", "size": size}
    started = sally.post(f"{API}/uploads", json=start)
    assert started.status_code == 201
    upload(sally, "Race.bin", b"first", path="Documents")  # someone else was quicker
    last = sally.put(
        f"{API}/uploads",
        data=b"r" * size,
        headers={
            **OCTET,
            "X-Upload-Ticket": started.get_json()["ticket"],
            "Content-Range": f"bytes 0-{size - 1}/{size}",
        },
    )
    assert last.status_code == 409 and last.get_json()["conflict"] is True
    assert last.get_json()["error"] == "An item with that name already exists here."
    assert row_named(children(sally, path="Documents"), "Race.bin")["size"] == "5 bytes"
