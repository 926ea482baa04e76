"""Graph OneDrive stand-in: /v1.0/me/drive/..., transfer URLs and the drive control API."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from .driver import ADELE, ALEX, MEGAN, TIMEOUT

UNIT = 320 * 1024


class Graph:
    """A Graph client for one account's bearer token."""

    def __init__(self, ms, oid: str = ADELE, scopes=("Files.ReadWrite.All",), **token) -> None:
        self.ms = ms
        body = {"oid": oid, "scopes": list(scopes), **token}
        self.token = ms.control("POST", "/tokens", body)["access_token"]

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        url = path if path.startswith("http") else f"{self.ms.base}/v1.0{path}"
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        kwargs.setdefault("allow_redirects", False)
        return requests.request(method, url, headers=headers, timeout=TIMEOUT, **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.call("GET", path, **kwargs)

    def ok(self, method: str, path: str, status: int = 200, **kwargs) -> dict:
        response = self.call(method, path, **kwargs)
        assert response.status_code == status, response.text
        return response.json() if response.content else {}

    def item(self, path: str) -> dict:
        return self.ok("GET", f"/me/drive/root:/{path}")


def error_code(response: requests.Response) -> str:
    return response.json()["error"]["code"]


def stats(ms) -> dict:
    return ms.control("GET", "/stats")


@pytest.fixture
def adele(ms) -> Graph:
    return Graph(ms)


def test_drive_and_root(ms, adele):
    drive = adele.ok("GET", "/me/drive")
    assert drive["driveType"] == "business"
    assert drive["owner"]["user"] == {
        "email": "adele@contoso.example",
        "id": ADELE,
        "displayName": "Adele Vance",
    }
    root = adele.ok("GET", "/me/drive/root")
    assert root["root"] == {} and root["folder"]["childCount"] == 4
    assert root["parentReference"] == {"driveType": "business", "driveId": drive["id"]}
    assert adele.ok("GET", "/me/drive/items/root")["id"] == root["id"]
    assert stats(ms)["graph.drive.drive"] == 1
    assert stats(ms)["graph.drive.get_item"] == 2


def test_seeded_children_have_graph_shapes(adele):
    body = adele.ok("GET", "/me/drive/root/children")
    assert body["@odata.context"].endswith("/children")
    assert "@odata.nextLink" not in body
    names = [item["name"] for item in body["value"]]
    assert names == ["Documents", "Welcome.txt", "Proposals", "Photos"]  # creation order
    documents = adele.item("Documents")
    files = adele.ok("GET", f"/me/drive/items/{documents['id']}/children")["value"]
    report = next(f for f in files if f["name"] == "Quarterly report.docx")
    assert report["file"]["mimeType"].endswith("wordprocessingml.document")
    assert report["@microsoft.graph.downloadUrl"].startswith(adele.ms.base + "/_download/")
    assert report["parentReference"]["path"] == "/drive/root:/Documents"
    assert report["parentReference"]["id"] == documents["id"]
    assert report["lastModifiedBy"]["user"]["displayName"] == "Adele Vance"
    assert documents["folder"]["childCount"] == 3
    assert documents["size"] == sum(f["size"] for f in files)


def test_paging_follows_next_link_verbatim(ms, adele):
    folder = adele.ok("POST", "/me/drive/root/children", 201, json={"name": "Big", "folder": {}})
    ms.control("POST", "/drive/seed", {"oid": ADELE, "parent": folder["id"], "files": 450})
    first = adele.ok("GET", f"/me/drive/items/{folder['id']}/children?$orderby=name desc")
    seen = [item["name"] for item in first["value"]]
    assert len(seen) == 200  # Graph's default page size
    link = first["@odata.nextLink"]
    while link:
        assert link.startswith(ms.base + "/v1.0/") and "$skiptoken=" in link
        page = adele.ok("GET", link)
        seen += [item["name"] for item in page["value"]]
        link = page.get("@odata.nextLink")
    assert len(seen) == len(set(seen)) == 450
    assert seen == sorted(seen, reverse=True)
    assert stats(ms)["graph.drive.list_children"] == 3

    small = adele.ok("GET", f"/me/drive/items/{folder['id']}/children?$top=100&$select=id,name")
    assert set(small["value"][0]) == {"id", "name"} and len(small["value"]) == 100
    query = parse_qs(urlsplit(small["@odata.nextLink"]).query)
    assert query["$top"] == ["100"] and query["$select"] == ["id,name"]
    forged = small["@odata.nextLink"].replace("$skiptoken=", "$skiptoken=x")
    assert adele.get(forged).status_code == 400


def test_orderby_does_not_put_folders_first(adele):
    adele.ok("PUT", "/me/drive/root:/Agenda.txt:/content", 201, data=b"agenda")
    by_name = adele.ok("GET", "/me/drive/root/children?$orderby=name")["value"]
    assert [i["name"] for i in by_name] == [
        "Agenda.txt",
        "Documents",
        "Photos",
        "Proposals",
        "Welcome.txt",
    ]
    docs = "/me/drive/root:/Documents:/children"
    by_size = adele.ok("GET", f"{docs}?$orderby=size desc")["value"]
    assert [i["size"] for i in by_size] == sorted((i["size"] for i in by_size), reverse=True)
    by_date = adele.ok("GET", f"{docs}?$orderby=lastModifiedDateTime")["value"]
    assert [i["name"] for i in by_date] == [
        "Budget 2024.csv",
        "Quarterly report.docx",
        "Notes.txt",
    ]
    assert adele.get(f"{docs}?$orderby=colour").status_code == 400
    assert adele.get(f"{docs}?$select=colour").status_code == 400


def test_path_addressing_and_unknown_items(adele):
    notes = adele.item("Documents/Notes.txt")
    assert adele.ok("GET", f"/me/drive/items/{notes['id']}")["name"] == "Notes.txt"
    names = {i["name"] for i in adele.ok("GET", "/me/drive/root:/Proposals:/children")["value"]}
    assert names == {"Acme proposal.pdf", "Drafts"}
    for path in ("/me/drive/root:/Nope.txt", "/me/drive/items/01NOTANITEM"):
        response = adele.get(path)
        assert response.status_code == 404 and error_code(response) == "itemNotFound"
    not_folder = adele.get(f"/me/drive/items/{notes['id']}/children")
    assert not_folder.status_code == 400 and error_code(not_folder) == "invalidRequest"


def test_download_redirects_to_a_pre_authenticated_url(ms, adele):
    notes = adele.item("Documents/Notes.txt")
    response = adele.get(f"/me/drive/items/{notes['id']}/content")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(ms.base + "/_download/")
    plain = requests.get(location, timeout=TIMEOUT)  # no Authorization header
    assert plain.status_code == 200
    assert plain.content.startswith(b"Notes by Adele Vance")
    assert plain.headers["Content-Length"] == str(notes["size"])
    assert plain.headers["Content-Type"].startswith("text/plain")
    part = requests.get(location, headers={"Range": "bytes=0-4"}, timeout=TIMEOUT)
    assert part.status_code == 206 and part.content == b"Notes"
    assert part.headers["Content-Range"] == f"bytes 0-4/{notes['size']}"
    past = requests.get(location, headers={"Range": "bytes=9999-"}, timeout=TIMEOUT)
    assert past.status_code == 416
    docx = requests.get(
        adele.item("Documents/Quarterly report.docx")["@microsoft.graph.downloadUrl"],
        timeout=TIMEOUT,
    )
    assert docx.content.startswith(b"PK\x03\x04")
    assert stats(ms)["graph.drive.download"] == 1 and stats(ms)["drive.download"] == 4


def test_download_urls_expire(ms, adele):
    ms.control("POST", "/settings", {"drive_download_url_lifetime": -1})
    url = adele.item("Welcome.txt")["@microsoft.graph.downloadUrl"]
    assert requests.get(url, timeout=TIMEOUT).status_code == 401


def test_small_upload_conflict_behaviors(adele):
    first = adele.ok("PUT", "/me/drive/root:/Documents/Plan.txt:/content", 201, data=b"v1")
    assert first["size"] == 2 and first["file"]["mimeType"] == "text/plain"
    replaced = adele.ok("PUT", "/me/drive/root:/Documents/Plan.txt:/content", 200, data=b"v22")
    assert replaced["id"] == first["id"] and replaced["size"] == 3
    fail = adele.call(
        "PUT",
        "/me/drive/root:/Documents/Plan.txt:/content?@microsoft.graph.conflictBehavior=fail",
        data=b"v3",
    )
    assert fail.status_code == 409 and error_code(fail) == "nameAlreadyExists"
    documents = adele.item("Documents")
    renamed = adele.ok(
        "PUT",
        f"/me/drive/items/{documents['id']}:/Plan.txt:/content"
        "?@microsoft.graph.conflictBehavior=rename",
        201,
        data=b"v4",
    )
    assert renamed["name"] == "Plan 1.txt" and renamed["id"] != first["id"]
    by_id = adele.ok("PUT", f"/me/drive/items/{first['id']}/content", 200, data=b"v5!!")
    assert by_id["size"] == 4
    body = requests.get(
        adele.item("Documents/Plan.txt")["@microsoft.graph.downloadUrl"], timeout=TIMEOUT
    )
    assert body.content == b"v5!!"


def test_small_upload_is_capped(ms, adele):
    too_big = adele.call(
        "PUT", "/me/drive/root:/big.bin:/content", data=b"x" * (4 * 1024 * 1024 + 1)
    )
    assert too_big.status_code == 413 and error_code(too_big) == "requestBodyTooLarge"
    ms.control("POST", "/settings", {"drive_simple_upload_limit": 8 * 1024 * 1024})
    adele.ok("PUT", "/me/drive/root:/big.bin:/content", 201, data=b"x" * (4 * 1024 * 1024 + 1))


def test_create_folder_conflicts(adele):
    new = {"name": "Clients", "folder": {}}
    made = adele.ok("POST", "/me/drive/root/children", 201, json=new)
    assert made["folder"] == {"childCount": 0}
    clash = adele.call("POST", "/me/drive/root/children", json=new)
    assert clash.status_code == 409 and error_code(clash) == "nameAlreadyExists"
    rename = {**new, "@microsoft.graph.conflictBehavior": "rename"}
    assert adele.ok("POST", "/me/drive/root/children", 201, json=rename)["name"] == "Clients 1"
    replace = {**new, "@microsoft.graph.conflictBehavior": "replace"}
    assert adele.ok("POST", "/me/drive/root/children", 200, json=replace)["id"] == made["id"]
    nested = adele.ok(
        "POST", f"/me/drive/items/{made['id']}/children", 201, json={"name": "Acme", "folder": {}}
    )
    assert nested["parentReference"]["path"] == "/drive/root:/Clients"
    welcome = adele.item("Welcome.txt")
    assert (
        adele.call("POST", f"/me/drive/items/{welcome['id']}/children", json=new).status_code == 400
    )


def test_upload_session_in_three_fragments(ms, adele):
    data = bytes(range(256)) * ((3 * UNIT + 1000) // 256) + b"tail"
    documents = adele.item("Documents")
    session = adele.ok(
        "POST",
        f"/me/drive/items/{documents['id']}:/Video.mp4:/createUploadSession",
        json={"item": {"@microsoft.graph.conflictBehavior": "rename"}},
    )
    assert session["nextExpectedRanges"] == ["0-"] and session["expirationDateTime"]
    url = session["uploadUrl"]
    assert url.startswith(ms.base + "/_upload/")
    bounds = [(0, 2 * UNIT), (2 * UNIT, 3 * UNIT), (3 * UNIT, len(data))]
    for start, stop in bounds[:2]:
        part = put_fragment(url, data, start, stop)
        assert part.status_code == 202, part.text
        assert part.json()["nextExpectedRanges"] == [f"{stop}-"]
    done = put_fragment(url, data, *bounds[2])
    assert done.status_code == 201, done.text
    item = done.json()
    assert item["name"] == "Video.mp4" and item["size"] == len(data)
    assert item["parentReference"]["id"] == documents["id"]
    assert requests.get(item["@microsoft.graph.downloadUrl"], timeout=TIMEOUT).content == data
    assert stats(ms)["graph.drive.create_upload_session"] == 1
    assert stats(ms)["drive.upload_fragment"] == 3
    assert requests.get(url, timeout=TIMEOUT).status_code == 404  # the session is gone


def put_fragment(url: str, data: bytes, start: int, stop: int, **headers) -> requests.Response:
    headers = {"Content-Range": f"bytes {start}-{stop - 1}/{len(data)}", **headers}
    return requests.put(url, data=data[start:stop], headers=headers, timeout=TIMEOUT)


def test_upload_session_rejects_overlaps_bad_sizes_and_tokens(adele):
    data = b"z" * (2 * UNIT + 10)
    url = adele.ok("POST", "/me/drive/root:/Backup.zip:/createUploadSession")["uploadUrl"]
    auth = put_fragment(url, data, 0, UNIT, Authorization=f"Bearer {adele.token}")
    assert auth.status_code == 401
    odd = put_fragment(url, data, 0, UNIT + 1)
    assert odd.status_code == 400 and error_code(odd) == "invalidRange"
    assert put_fragment(url, data, 0, UNIT).status_code == 202
    overlap = put_fragment(url, data, 0, UNIT)
    assert overlap.status_code == 416
    assert overlap.json()["nextExpectedRanges"] == [f"{UNIT}-"]
    skipped = put_fragment(url, data, 2 * UNIT, len(data))
    assert skipped.status_code == 416
    status = requests.get(url, timeout=TIMEOUT).json()
    assert status["nextExpectedRanges"] == [f"{UNIT}-"]
    assert requests.delete(url, timeout=TIMEOUT).status_code == 204
    assert put_fragment(url, data, UNIT, 2 * UNIT).status_code == 404
    assert adele.get("/me/drive/root:/Backup.zip").status_code == 404


def test_upload_session_fail_conflict(adele):
    response = adele.call(
        "POST",
        "/me/drive/root:/Welcome.txt:/createUploadSession",
        json={"item": {"@microsoft.graph.conflictBehavior": "fail"}},
    )
    assert response.status_code == 409 and error_code(response) == "nameAlreadyExists"


def test_create_link(ms, adele):
    report = adele.item("Documents/Quarterly report.docx")
    path = f"/me/drive/items/{report['id']}/createLink"
    link = adele.ok("POST", path, 201, json={"type": "view", "scope": "anonymous"})
    assert link["roles"] == ["read"]
    assert link["link"]["type"] == "view" and link["link"]["scope"] == "anonymous"
    again = adele.ok("POST", path, 200, json={"type": "view", "scope": "anonymous"})
    assert again["id"] == link["id"]
    edit = adele.ok("POST", path, 201, json={"type": "edit", "scope": "organization"})
    assert edit["roles"] == ["write"] and edit["id"] != link["id"]
    page = requests.get(link["link"]["webUrl"], timeout=TIMEOUT)
    assert page.status_code == 200 and "Quarterly report.docx" in page.text
    assert adele.call("POST", path, json={"type": "bogus"}).status_code == 400


def test_delete(ms, adele):
    proposals = adele.item("Proposals")
    pdf = adele.item("Proposals/Acme proposal.pdf")
    assert adele.call("DELETE", f"/me/drive/items/{proposals['id']}").status_code == 204
    assert adele.get(f"/me/drive/items/{proposals['id']}").status_code == 404
    assert adele.get(f"/me/drive/items/{pdf['id']}").status_code == 404
    assert requests.get(pdf["@microsoft.graph.downloadUrl"], timeout=TIMEOUT).status_code == 404
    assert adele.call("DELETE", "/me/drive/root").status_code == 403
    assert stats(ms)["graph.drive.delete"] == 2
    ms.control("POST", "/reset")
    assert adele.get(f"/me/drive/items/{proposals['id']}").status_code == 401  # token forgotten
    assert Graph(ms).ok("GET", f"/me/drive/items/{proposals['id']}")["name"] == "Proposals"


def test_graph_429_fault_applies_to_drive_routes(ms, adele):
    ms.fault("graph", "429", count=1, retry_after=3)
    throttled = adele.get("/me/drive/root/children")
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "3"
    assert error_code(throttled) == "activityLimitReached"
    assert adele.get("/me/drive/root/children").status_code == 200
    ms.fault("transfer", "503", count=1)
    url = adele.item("Welcome.txt")["@microsoft.graph.downloadUrl"]
    assert requests.get(url, timeout=TIMEOUT).status_code == 503
    assert requests.get(url, timeout=TIMEOUT).status_code == 200


def test_mail_token_and_missing_files_scope_are_refused(ms):
    mail = ms.tokens(scope="https://outlook.office.com/SMTP.Send")["access_token"]
    refused = requests.get(
        f"{ms.base}/v1.0/me/drive/root/children",
        headers={"Authorization": f"Bearer {mail}"},
        timeout=TIMEOUT,
    )
    assert refused.status_code == 401 and error_code(refused) == "InvalidAuthenticationToken"
    assert Graph(ms, audience="outlook").get("/me/drive").status_code == 401
    assert requests.get(f"{ms.base}/v1.0/me/drive", timeout=TIMEOUT).status_code == 401
    profile_only = Graph(ms, scopes=("User.Read",)).get("/me/drive/root/children")
    assert profile_only.status_code == 403 and error_code(profile_only) == "accessDenied"
    reader = Graph(ms, scopes=("Files.Read",))
    assert reader.get("/me/drive/root/children").status_code == 200
    assert reader.call("PUT", "/me/drive/root:/x.txt:/content", data=b"x").status_code == 403
    assert reader.get("/me/drive/sharedWithMe").status_code == 403  # needs Files.Read(Write).All


def test_signed_in_token_works(ms):
    token = ms.tokens(oid=MEGAN)["access_token"]  # scope includes Files.ReadWrite.All
    response = requests.get(
        f"{ms.base}/v1.0/me/drive/root:/Documents/Notes.txt",
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200
    assert response.json()["createdBy"]["user"]["id"] == MEGAN


def test_a_shared_folder_added_to_my_files_lists_as_a_shortcut(ms, adele):
    proposals = adele.ok("GET", "/me/drive/sharedWithMe")["value"][0]["remoteItem"]
    reference = {"driveId": proposals["parentReference"]["driveId"]}
    body = {
        "name": "Team Proposals",
        "remoteItem": {"id": proposals["id"], "parentReference": reference},
    }
    added = adele.ok("POST", "/me/drive/root/children", 201, json=body)
    assert added["remoteItem"]["id"] == proposals["id"] and "folder" not in added
    again = adele.call("POST", "/me/drive/root/children", json=body)
    assert again.status_code == 409 and error_code(again) == "nameAlreadyExists"
    fields = "id,name,folder,file,remoteItem"
    root = adele.ok("GET", f"/me/drive/root/children?$select={fields}")["value"]
    shortcut = next(item for item in root if item["name"] == "Team Proposals")
    assert set(shortcut) == {"id", "name", "remoteItem"}
    assert shortcut["remoteItem"]["folder"]["childCount"] == 2
    assert shortcut["remoteItem"]["parentReference"]["driveId"] == reference["driveId"]
    not_root = adele.call("POST", "/me/drive/root:/Documents:/children", json=body)
    assert not_root.status_code == 400
    megan = Graph(ms, MEGAN)
    private = megan.item("Documents/Notes.txt")  # not shared with Adele
    body = {"name": "Notes", "remoteItem": {"id": private["id"], "parentReference": reference}}
    assert adele.call("POST", "/me/drive/root/children", json=body).status_code == 404


def test_drives_are_per_account(ms, adele):
    megan = Graph(ms, MEGAN)
    megan_notes = megan.item("Documents/Notes.txt")
    assert megan_notes["id"] != adele.item("Documents/Notes.txt")["id"]
    missing = adele.get(f"/me/drive/items/{megan_notes['id']}")
    assert missing.status_code == 404 and error_code(missing) == "itemNotFound"
    drive_id = megan_notes["parentReference"]["driveId"]
    assert adele.get(f"/drives/{drive_id}/items/{megan_notes['id']}").status_code == 404


def test_shared_with_me(ms, adele):
    seeded = adele.ok("GET", "/me/drive/sharedWithMe")["value"]
    assert [entry["name"] for entry in seeded] == ["Proposals"]
    remote = seeded[0]["remoteItem"]
    assert remote["shared"]["owner"]["user"]["id"] == MEGAN
    assert "folder" in remote and remote["parentReference"]["driveType"] == "business"

    megan = Graph(ms, MEGAN)
    notes = megan.item("Documents/Notes.txt")
    ms.control(
        "POST", "/drive/share", {"owner_oid": MEGAN, "item_id": notes["id"], "with_oid": ADELE}
    )
    shared = adele.ok("GET", "/me/drive/sharedWithMe")["value"]
    assert [entry["name"] for entry in shared] == ["Proposals", "Notes.txt"]
    drive_id = shared[1]["remoteItem"]["parentReference"]["driveId"]
    item_path = f"/drives/{drive_id}/items/{notes['id']}"
    assert adele.ok("GET", item_path)["name"] == "Notes.txt"
    content = adele.get(f"{item_path}/content")
    assert requests.get(content.headers["Location"], timeout=TIMEOUT).content.startswith(
        b"Notes by Megan Bowen"
    )
    inside = adele.ok("GET", f"/drives/{drive_id}/items/{remote['id']}/children")["value"]
    assert {i["name"] for i in inside} == {"Acme proposal.pdf", "Drafts"}
    read_only = adele.call("PUT", f"{item_path}/content", data=b"mine now")
    assert read_only.status_code == 403
    assert Graph(ms, ALEX).ok("GET", "/me/drive/sharedWithMe")["value"] == []


def test_bulk_seed_is_fast_and_inspectable(ms):
    started = time.monotonic()
    made = ms.control(
        "POST",
        "/drive/seed",
        {"oid": ADELE, "parent": "Documents", "folders": 1000, "files": 9000, "prefix": "bulk"},
    )
    assert time.monotonic() - started < 1.0
    assert len(made["folder_ids"]) == 1000 and len(made["file_ids"]) == 9000
    listing = ms.control("GET", f"/drive/items?oid={ADELE}&parent=Documents")
    assert len(listing["items"]) == 10003
    row = next(r for r in listing["items"] if r["id"] == made["file_ids"][0])
    assert row["path"] == "/Documents/bulk file 00001.txt" and row["sha256"]


# -- search ------------------------------------------------------------------------------------


def searched(graph: Graph, path: str, **params) -> dict:
    return graph.ok("GET", path, params=params)


def test_search_matches_names_below_the_folder_with_graphs_shapes(ms, adele):
    before = stats(ms).get("graph.drive.search", 0)
    found = searched(adele, "/me/drive/root/search(q='report')")["value"]
    assert stats(ms)["graph.drive.search"] == before + 1
    assert [item["name"] for item in found] == ["Quarterly report.docx"]
    documents = adele.item("Documents")
    # as Graph's search results: where the item is by drive and id, not by path
    assert found[0]["parentReference"] == {
        "driveType": "business",
        "driveId": documents["parentReference"]["driveId"],
        "id": documents["id"],
    }
    assert found[0]["webUrl"].startswith(ms.base) and "file" in found[0]
    # every word, any case, files and folders, not the folder searched from
    words = searched(adele, "/me/drive/root/search(q='ACME pro')")["value"]
    assert [item["name"] for item in words] == ["Acme proposal.pdf"]
    folders = searched(adele, f"/me/drive/items/{documents['id']}/search(q='o')")["value"]
    assert "Documents" not in [item["name"] for item in folders]
    assert {item["name"] for item in folders} == {"Quarterly report.docx", "Notes.txt"}
    selected = searched(adele, "/me/drive/root/search(q='notes')", **{"$select": "id,name"})
    assert set(selected["value"][0]) == {"id", "name"}


def test_search_text_is_an_odata_string(adele):
    adele.ok("PUT", "/me/drive/root:/It's here.txt:/content", 201, data=b"x")
    quoted = searched(adele, "/me/drive/root/search(q='it''s')")["value"]
    assert [item["name"] for item in quoted] == ["It's here.txt"]
    slash = searched(adele, "/me/drive/root/search(q='a%2Fb')")
    assert slash["value"] == []
    assert adele.get("/me/drive/root/search(q=unquoted)").status_code == 400


def test_search_pages_with_a_next_link(ms, adele):
    folder = adele.item("Photos")
    ms.control("POST", "/drive/seed", {"oid": ADELE, "parent": folder["id"], "files": 250})
    first = searched(adele, "/me/drive/root/search(q='item file')", **{"$top": "200"})
    assert len(first["value"]) == 200
    second = adele.ok("GET", first["@odata.nextLink"])
    assert len(second["value"]) == 50 and "@odata.nextLink" not in second
    assert not {i["id"] for i in first["value"]} & {i["id"] for i in second["value"]}
    forged = first["@odata.nextLink"].replace("item%20file", "other")
    assert adele.get(forged).status_code == 400


def test_search_in_a_shared_folder_stays_inside_it(ms):
    megan = Graph(ms, MEGAN)
    proposals = megan.item("Proposals")
    drive_id = proposals["parentReference"]["driveId"]
    adele = Graph(ms)
    path = f"/drives/{drive_id}/items/{proposals['id']}/search(q='a')"
    names = [item["name"] for item in searched(adele, path)["value"]]
    assert names == ["Acme proposal.pdf", "Drafts"]
    hidden = adele.get(f"/drives/{drive_id}/root/search(q='a')")
    assert hidden.status_code == 404  # the rest of Megan's drive is not Adele's to search


# -- update: rename and move ---------------------------------------------------------------------


def test_patch_renames_and_moves_by_parent_id(ms, adele):
    notes, proposals = adele.item("Documents/Notes.txt"), adele.item("Proposals")
    documents_size = adele.item("Documents")["size"]
    renamed = adele.ok("PATCH", f"/me/drive/items/{notes['id']}", json={"name": "Minutes.txt"})
    assert (renamed["id"], renamed["name"]) == (notes["id"], "Minutes.txt")
    assert renamed["parentReference"]["path"] == "/drive/root:/Documents"
    assert stats(ms)["graph.drive.update"] >= 1
    body = {"parentReference": {"id": proposals["id"]}, "name": "Plan.txt"}
    moved = adele.ok("PATCH", f"/me/drive/items/{notes['id']}", json=body)
    assert moved["parentReference"]["path"] == "/drive/root:/Proposals"
    assert adele.item("Proposals/Plan.txt")["id"] == notes["id"]
    assert adele.get("/me/drive/root:/Documents/Minutes.txt").status_code == 404
    # sizes follow the move
    assert adele.item("Documents")["size"] == documents_size - notes["size"]
    assert adele.item("Proposals")["size"] == proposals["size"] + notes["size"]
    # the same name in another case is no conflict
    adele.ok("PATCH", f"/me/drive/items/{notes['id']}", json={"name": "PLAN.txt"})


def test_patch_into_a_taken_name_is_409_whatever_conflict_behavior(adele):
    notes, budget = adele.item("Documents/Notes.txt"), adele.item("Documents/Budget 2024.csv")
    for query in ("", "?@microsoft.graph.conflictBehavior=replace"):
        taken = adele.call(
            "PATCH", f"/me/drive/items/{notes['id']}{query}", json={"name": budget["name"]}
        )
        assert taken.status_code == 409 and error_code(taken) == "nameAlreadyExists"
    assert adele.item("Documents/Notes.txt")["id"] == notes["id"]


def test_patch_refuses_root_alias_other_drives_and_cycles(ms, adele):
    welcome, proposals = adele.item("Welcome.txt"), adele.item("Proposals")
    drafts = adele.item("Proposals/Drafts")
    url = f"/me/drive/items/{welcome['id']}"
    root_alias = adele.call("PATCH", url, json={"parentReference": {"id": "root"}})
    assert root_alias.status_code == 400
    other = adele.call(
        "PATCH", url, json={"parentReference": {"id": proposals["id"], "driveId": "b!other"}}
    )
    assert other.status_code == 400
    cycle = adele.call(
        "PATCH",
        f"/me/drive/items/{proposals['id']}",
        json={"parentReference": {"id": drafts["id"]}},
    )
    assert cycle.status_code == 400
    missing = adele.call("PATCH", url, json={"parentReference": {"id": "01NOSUCHFOLDER"}})
    assert missing.status_code == 404
    bad_name = adele.call("PATCH", url, json={"name": "a:b"})
    assert bad_name.status_code == 400
    root = adele.ok("GET", "/me/drive/root")
    back = adele.ok("PATCH", url, json={"parentReference": {"id": root["id"]}})
    assert back["parentReference"]["path"] == "/drive/root:"


def test_patch_needs_write_on_both_ends(ms):
    megan = Graph(ms, MEGAN)
    pdf = megan.item("Proposals/Acme proposal.pdf")
    drive_id = pdf["parentReference"]["driveId"]
    adele = Graph(ms)
    refused = adele.call(
        "PATCH", f"/drives/{drive_id}/items/{pdf['id']}", json={"name": "Mine.pdf"}
    )
    assert refused.status_code == 403 and error_code(refused) == "accessDenied"


def png_side(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_children_expand_thumbnails_with_select(ms, adele):
    url = "/me/drive/root:/Photos:/children?$select=id,name&$expand=thumbnails($select=small)"
    body = adele.ok("GET", url)
    photo = next(item for item in body["value"] if item["name"] == "Team offsite.png")
    assert set(photo) == {"id", "name", "thumbnails"}
    [thumbnail_set] = photo["thumbnails"]
    assert set(thumbnail_set) == {"id", "small"} and thumbnail_set["id"] == "0"
    small = thumbnail_set["small"]
    assert (small["width"], small["height"]) == (48, 48)
    image = requests.get(small["url"], timeout=TIMEOUT)  # pre-authenticated: no token
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"
    assert png_side(image.content) == (48, 48)
    notes = adele.ok("GET", "/me/drive/root:/Documents:/children?$expand=thumbnails")["value"]
    by_name = {item["name"]: item for item in notes}
    assert by_name["Notes.txt"]["thumbnails"] == []  # no thumbnail for plain text
    report = by_name["Quarterly report.docx"]["thumbnails"][0]
    assert set(report) == {"id", "small", "medium", "large"}  # all sizes without $select
    assert "thumbnails" not in adele.ok("GET", "/me/drive/root:/Photos:/children")["value"][0]


def test_expand_of_an_unknown_thumbnail_size_or_property_is_a_bad_request(ms, adele):
    for expand in ("thumbnails($select=huge)", "children"):
        response = adele.get(f"/me/drive/root/children?$expand={expand}")
        assert response.status_code == 400 and error_code(response) == "BadRequest"


def test_thumbnail_content_redirects_to_a_pre_authenticated_url(ms, adele):
    photo = adele.item("Photos/Whiteboard.png")
    response = adele.get(f"/me/drive/items/{photo['id']}/thumbnails/0/large/content")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert "/_thumbnail/" in location
    image = requests.get(location, timeout=TIMEOUT)
    assert image.status_code == 200 and png_side(image.content) == (800, 800)
    forged = requests.get(location[:-3] + "AAA", timeout=TIMEOUT)
    assert forged.status_code == 401
    notes = adele.item("Documents/Notes.txt")
    missing = adele.get(f"/me/drive/items/{notes['id']}/thumbnails/0/small/content")
    assert missing.status_code == 404 and error_code(missing) == "itemNotFound"
    nobody = requests.get(
        f"{ms.base}/v1.0/me/drive/items/{photo['id']}/thumbnails/0/small/content",
        timeout=TIMEOUT,
        allow_redirects=False,
    )
    assert nobody.status_code == 401
