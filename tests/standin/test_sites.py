"""Graph SharePoint stand-in: followed sites, site search, a site, its document libraries (drives
served by the drive routes), the Sites.Read.All check, paging and deleting a site."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from .driver import ADELE, ALEX, FABRIKAM_TID, MEGAN
from .test_drive import Graph, error_code, stats

READ = ("Files.ReadWrite.All", "Sites.Read.All")
SITE_ID = re.compile(r"[a-z.]+\.sharepoint\.com,[0-9A-F-]{36},[0-9A-F-]{36}")


@pytest.fixture
def adele(ms) -> Graph:
    return Graph(ms, scopes=READ)


def names(body: dict) -> list[str]:
    return [entry["displayName"] for entry in body["value"]]


def site_named(graph: Graph, name: str) -> dict:
    found = graph.ok("GET", "/sites", params={"search": name})
    return next(site for site in found["value"] if site["displayName"] == name)


def test_followed_sites_in_graphs_shape(ms, adele):
    body = adele.ok("GET", "/me/followedSites")
    assert names(body) == ["Mark 8 Project Team", "Sales and Marketing"]
    sales = body["value"][1]
    assert SITE_ID.fullmatch(sales["id"])
    assert sales["webUrl"] == "https://contoso.sharepoint.com/sites/SalesAndMarketing"
    assert sales["siteCollection"] == {"hostname": "contoso.sharepoint.com"}
    assert "@odata.nextLink" not in body
    assert names(Graph(ms, MEGAN, scopes=READ).ok("GET", "/me/followedSites")) == [
        "Contoso Brand",
        "Sales and Marketing",
    ]
    assert stats(ms)["graph.sites.followed"] == 2


@pytest.mark.parametrize(
    "path", ["/me/followedSites", "/sites?search=mark", "/sites/{site}", "/sites/{site}/drives"]
)
def test_sites_need_sites_read_all(ms, adele, path):
    site = site_named(adele, "Sales and Marketing")["id"]
    files_only = Graph(ms)  # Files.ReadWrite.All, as an account connected before Sites
    response = files_only.get(path.format(site=quote(site, safe=",")))
    assert response.status_code == 403 and error_code(response) == "accessDenied"
    assert response.json()["error"]["message"]


def test_search_finds_the_tenants_sites_only(ms, adele):
    assert names(adele.ok("GET", "/sites", params={"search": "mark"})) == [
        "Mark 8 Project Team",
        "Sales and Marketing",  # "Marketing"
    ]
    assert names(adele.ok("GET", "/sites", params={"search": "brand guide"})) == ["Contoso Brand"]
    everything = names(adele.ok("GET", "/sites", params={"search": "*"}))
    assert everything == ["Contoso Brand", "Mark 8 Project Team", "Sales and Marketing"]
    alex = Graph(ms, ALEX, scopes=READ)
    assert names(alex.ok("GET", "/sites", params={"search": "*"})) == ["Fabrikam Partners"]
    missing = adele.get("/sites")
    assert missing.status_code == 400 and error_code(missing) == "invalidRequest"


def test_lists_page_with_a_next_link(ms, adele):
    ms.control("POST", "/sites", {"tenant": "contoso.example", "count": 5, "followers": [ADELE]})
    seen, url = [], "/me/followedSites?$top=3&$select=id,displayName"
    while url:
        body = adele.ok("GET", url)
        assert all(set(entry) == {"id", "displayName"} for entry in body["value"])
        seen += names(body)
        url = body.get("@odata.nextLink")
        if url:
            assert "$top=3" in url and "$skiptoken=" in url
    assert len(seen) == 7 and seen == sorted(seen, key=str.casefold)
    first = adele.ok("GET", "/sites", params={"search": "site", "$top": "2"})
    second = adele.ok("GET", first["@odata.nextLink"])
    assert names(first) + names(second) == ["Site 001", "Site 002", "Site 003", "Site 004"]
    tampered = first["@odata.nextLink"].replace("search=site", "search=mark")
    assert adele.get(tampered).status_code == 400
    unknown = adele.get("/me/followedSites?$select=id,nonsense")
    assert unknown.status_code == 400 and error_code(unknown) == "BadRequest"


def test_a_site_and_its_document_libraries(ms, adele):
    site = site_named(adele, "Sales and Marketing")
    assert adele.ok("GET", f"/sites/{site['id']}")["displayName"] == "Sales and Marketing"
    drives = adele.ok("GET", f"/sites/{site['id']}/drives")
    assert [d["name"] for d in drives["value"]] == ["Documents", "Campaign Assets"]
    assert {d["driveType"] for d in drives["value"]} == {"documentLibrary"}
    default = adele.ok("GET", f"/sites/{site['id']}/drive")
    assert default["id"] == drives["value"][0]["id"]
    assert default["owner"] == {"group": {"displayName": "Sales and Marketing Owners"}}
    assert adele.ok("GET", f"/drives/{default['id']}")["name"] == "Documents"


def test_a_library_browses_and_takes_uploads_like_any_drive(ms, adele):
    site = site_named(adele, "Sales and Marketing")
    library = adele.ok("GET", f"/sites/{site['id']}/drives")["value"][0]["id"]
    root = adele.ok("GET", f"/drives/{library}/root/children", params={"$orderby": "name"})
    assert [item["name"] for item in root["value"]] == ["Price lists", "Sales playbook.docx"]
    reference = root["value"][0]["parentReference"]
    assert reference["driveId"] == library and reference["driveType"] == "documentLibrary"
    listed = adele.ok("GET", f"/drives/{library}/root:/Price lists:/children")
    assert [item["name"] for item in listed["value"]] == ["Price list 2024.csv"]
    made = adele.ok("PUT", f"/drives/{library}/root:/Notes.txt:/content", 201, data=b"hi")
    assert made["createdBy"]["user"]["displayName"] == "Adele Vance"
    found = adele.ok("GET", f"/drives/{library}/root/search(q='notes')")
    assert [item["name"] for item in found["value"]] == ["Notes.txt"]
    megan = Graph(ms, MEGAN, scopes=READ)  # a member of the same tenant reads and writes it
    assert megan.ok("GET", f"/drives/{library}/items/{made['id']}")["name"] == "Notes.txt"
    alex = Graph(ms, ALEX, scopes=READ)  # another tenant's account does not see it
    assert alex.get(f"/drives/{library}/root/children").status_code == 404
    assert alex.get(f"/sites/{site['id']}").status_code == 404


def test_a_deleted_site_and_its_libraries_answer_404(ms, adele):
    site = site_named(adele, "Mark 8 Project Team")
    library = adele.ok("GET", f"/sites/{site['id']}/drives")["value"][0]["id"]
    ms.control("DELETE", f"/sites/{quote(site['id'], safe=',')}")
    for path in (
        f"/sites/{site['id']}",
        f"/sites/{site['id']}/drives",
        f"/drives/{library}/root/children",
    ):
        response = adele.get(path)
        assert response.status_code == 404 and error_code(response) == "itemNotFound", path
    assert names(adele.ok("GET", "/me/followedSites")) == ["Sales and Marketing"]
    listed = ms.control("GET", "/sites")["sites"]
    assert "Mark 8 Project Team" not in [s["display_name"] for s in listed]
    ms.control("POST", "/reset")  # forgets tokens too: a new one
    assert names(Graph(ms, scopes=READ).ok("GET", "/me/followedSites")) == [
        "Mark 8 Project Team",
        "Sales and Marketing",
    ]


def test_control_lists_sites_with_their_libraries(ms):
    listed = {s["display_name"]: s for s in ms.control("GET", "/sites")["sites"]}
    fabrikam = listed["Fabrikam Partners"]
    assert fabrikam["tenant"] == FABRIKAM_TID and fabrikam["followers"] == [ALEX]
    assert [lib["name"] for lib in listed["Mark 8 Project Team"]["libraries"]] == [
        "Documents",
        "Design Specs",
    ]


def test_control_seeds_and_lists_a_library_by_its_drive_id(ms, adele):
    listed = {s["display_name"]: s for s in ms.control("GET", "/sites")["sites"]}
    library = listed["Contoso Brand"]["libraries"][0]["id"]
    ms.control("POST", "/drive/seed", {"drive": library, "files": 2, "prefix": "Brand"})
    items = ms.control("GET", f"/drive/items?drive={quote(library)}&parent=root")
    assert items["drive_id"] == library and items["drive_type"] == "documentLibrary"
    assert sorted(item["name"] for item in items["items"]) == [
        "Brand file 00001.txt",
        "Brand file 00002.txt",
        "Logo.png",
    ]
    seen = adele.ok("GET", f"/drives/{library}/root/children")
    assert len(seen["value"]) == 3


def test_a_throttled_site_search_says_when_to_retry(ms, adele):
    ms.fault("graph", "429", count=1, retry_after=7)
    throttled = adele.get("/sites", params={"search": "mark"})
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "7"
    assert adele.get("/sites", params={"search": "mark"}).status_code == 200
