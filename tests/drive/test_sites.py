"""The Cloud Drive's Sites over HTTP against the running stand-in: followed sites, a search for
sites, a site's libraries and a library browsed like My Files, one Graph call a page; an account
connected before Sites.Read.All (its OneDrive keeps working; Sites says what is missing and
Reauthenticate asks for it); a site deleted while open; a throttled site search."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from app.connect import connectors
from app.connect.models import ExternalAccount
from app.extensions import db
from app.microsoft import identity
from app.microsoft.onedrive import OneDrive
from tests.connect.conftest import (
    ADELE,
    app_path,
    connect,
    drop_scope,
    sign_in_at_standin,
    start_connect,
)
from tests.drive.conftest import API, SQLITE_ONLY, children, names, row_named

MISSING = (
    "Sites needs the permission “Read items in all site collections” (Sites.Read.All), "
    "which this account was connected without."
)
GONE = "This site no longer exists or you no longer have access to it."


def follow(client, link: dict) -> dict:
    """Open a row's or crumb's JSON link (it must answer 200)."""
    response = client.get(link["api"])
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def crumbs(listing: dict) -> list[str]:
    return [crumb["label"] for crumb in listing["crumbs"]]


def library(client, site: str = "Sales and Marketing", name: str = "Documents") -> dict:
    """A library of a followed site, opened from Sites."""
    sites = children(client, view="sites")
    return follow(client, row_named(follow(client, row_named(sites, site)), name))


def connect_before_sites(client, oid: str = ADELE):
    """Connect as the app did before Sites: the sign-in grants OneDrive's scopes without
    Sites.Read.All (the authorize request's scope, as the app then sent it)."""
    start = start_connect(client)
    go = client.get(start["go_url"])
    callback = sign_in_at_standin(drop_scope(go.headers["Location"], "Sites.Read.All"), oid)
    response = client.get(app_path(callback))
    assert response.status_code == 200, response.get_data(as_text=True)[:300]


@pytest.fixture
def sally_before_sites(auth, client, configured):
    """Sally signed in; her Microsoft account (Adele) connected before Sites existed."""
    auth.login()
    connect_before_sites(client)
    return client


def account() -> ExternalAccount:
    db.session.expire_all()
    return db.session.scalar(select(ExternalAccount))


# --- browsing -----------------------------------------------------------------------------------


@SQLITE_ONLY
def test_sites_lists_the_followed_sites_in_one_graph_call(sally, graph_calls):
    graph_calls.reset()
    sites = children(sally, view="sites")
    assert graph_calls.since() == {"graph.sites.followed": 1}
    assert names(sites) == ["Mark 8 Project Team", "Sales and Marketing"]
    assert crumbs(sites) == ["Sites"] and sites["view"] == "sites"
    assert sites["writable"] is False and sites["actions"] is False
    assert sites["searchable"] is True and sites["search_label"] == "Search sites"
    sales = row_named(sites, "Sales and Marketing")
    assert sales["folder"] is True and sales["kind"] == "site" and "download" not in sales
    query = parse_qs(urlsplit(sales["api"]).query)
    assert query["view"] == ["sites"] and query["site_name"] == ["Sales and Marketing"]
    assert re.fullmatch(r"contoso\.sharepoint\.com,[0-9A-F-]{36},[0-9A-F-]{36}", query["site"][0])


@SQLITE_ONLY
def test_a_site_opens_to_its_libraries_in_one_graph_call(sally, graph_calls):
    sales = row_named(children(sally, view="sites"), "Sales and Marketing")
    graph_calls.reset()
    site = follow(sally, sales)
    assert graph_calls.since() == {"graph.sites.drives": 1}
    assert names(site) == ["Campaign Assets", "Documents"]
    assert crumbs(site) == ["Sites", "Sales and Marketing"]
    assert site["searchable"] is False and site["writable"] is False
    assert site["empty"] == "This site has no document libraries."
    assert {row["kind"] for row in site["rows"]} == {"library"}
    assert follow(sally, site["crumbs"][0])["view"] == "sites"  # back by the breadcrumb


@SQLITE_ONLY
def test_a_library_opens_in_one_graph_call_and_browses_like_my_files(sally, graph_calls):
    site = follow(sally, row_named(children(sally, view="sites"), "Sales and Marketing"))
    graph_calls.reset()
    documents = follow(sally, row_named(site, "Documents"))
    assert graph_calls.since() == {"graph.drive.list_children": 1}
    assert names(documents) == ["Price lists", "Sales playbook.docx"]
    assert crumbs(documents) == ["Sites", "Sales and Marketing", "Documents"]
    assert documents["writable"] is True and documents["actions"] is True
    assert documents["drive_top"] == 2 and documents["search_label"] == "Search in this drive"
    playbook = row_named(documents, "Sales playbook.docx")
    assert playbook["kind"] == "word" and playbook["web_url"]
    assert playbook["modified"] == "2024-02-02 10:00" and playbook["modified_by"] == "Megan Bowen"
    graph_calls.reset()
    prices = follow(sally, row_named(documents, "Price lists"))
    assert graph_calls.since() == {"graph.drive.list_children": 1}
    assert crumbs(prices) == ["Sites", "Sales and Marketing", "Documents", "Price lists"]
    assert names(prices) == ["Price list 2024.csv"]
    newest = follow(sally, documents["sorts"]["modified"])
    assert names(newest) == ["Price lists", "Sales playbook.docx"]  # folders first
    assert newest["sort"] == "modified" and newest["order"] == "desc"
    csv = sally.get(row_named(prices, "Price list 2024.csv")["download"])
    assert csv.status_code == 200 and csv.get_data().startswith(b"product,price")
    assert follow(sally, prices["crumbs"][2])["crumbs"][-1]["label"] == "Documents"


@SQLITE_ONLY
def test_every_action_works_in_a_library(sally):
    documents = library(sally)
    folder = documents["folder"]
    made = sally.put(
        f"{API}/files",
        query_string={**folder, "name": "Minutes.txt"},
        data=b"minutes",
        headers={"Content-Type": "application/octet-stream"},
    )
    assert made.status_code == 201, made.get_data(as_text=True)
    row = made.get_json()["row"]
    assert row["drive"] == documents["rows"][0]["drive"]
    again = sally.put(
        f"{API}/files",
        query_string={**folder, "name": "Minutes.txt"},
        data=b"more",
        headers={"Content-Type": "application/octet-stream"},
    )
    assert again.status_code == 409 and again.get_json()["conflict"] is True
    created = sally.post(f"{API}/folders", json={"folder": folder, "name": "Archive"})
    assert created.status_code == 201
    renamed = sally.post(
        f"{API}/rename",
        json={"folder": folder, "drive": row["drive"], "item": row["id"], "name": "Notes.txt"},
    )
    assert renamed.get_json()["row"]["name"] == "Notes.txt"
    moved = sally.post(
        f"{API}/move",
        json={"drive": row["drive"], "item": row["id"], "to": {**folder, "path": "Archive"}},
    )
    assert moved.status_code == 200, moved.get_data(as_text=True)
    archive = children(sally, **folder, path="Archive")
    assert names(archive) == ["Notes.txt"]
    link = sally.post(f"{API}/links", json={"drive": row["drive"], "item": row["id"]})
    assert link.status_code == 200 and link.get_json()["scope"] == "organization"
    gone = sally.delete(f"{API}/items", query_string={"drive": row["drive"], "item": row["id"]})
    assert gone.status_code == 204
    assert names(children(sally, **folder, path="Archive")) == []
    assert names(children(sally, **folder)) == ["Archive", "Price lists", "Sales playbook.docx"]


@SQLITE_ONLY
def test_a_large_upload_goes_in_parts_into_a_library(sally):
    folder = library(sally, "Mark 8 Project Team", "Design Specs")["folder"]
    size = 320 * 1024 + 10
    started = sally.post(f"{API}/uploads", json={"folder": folder, "name": "Big.bin", "size": size})
    assert started.status_code == 201, started.get_data(as_text=True)
    ticket = started.get_json()["ticket"]
    sent = sally.put(
        f"{API}/uploads",
        data=b"x" * size,
        headers={"Content-Range": f"bytes 0-{size - 1}/{size}", "X-Upload-Ticket": ticket},
    )
    assert sent.status_code == 201 and sent.get_json()["row"]["name"] == "Big.bin"
    assert "Big.bin" in names(children(sally, **folder))


@SQLITE_ONLY
def test_search_in_a_library_stays_in_it(sally, graph_calls):
    documents = library(sally)
    args = {**documents["folder"], "q": "price"}
    graph_calls.reset()
    found = sally.get(f"{API}/search", query_string=args).get_json()
    assert graph_calls.since() == {"graph.drive.search": 1}
    assert names(found) == ["Price lists", "Price list 2024.csv"]
    assert crumbs(found) == [
        "Sites",
        "Sales and Marketing",
        "Documents",
        "Search results for “price”",
    ]
    opened = follow(sally, row_named(found, "Price list 2024.csv")["in"])
    assert crumbs(opened) == ["Sites", "Sales and Marketing", "Documents", "Price lists"]
    assert opened["writable"] is True
    into = follow(sally, row_named(found, "Price lists"))
    assert crumbs(into) == crumbs(opened)


@SQLITE_ONLY
def test_search_for_sites_costs_one_graph_call_and_finds_unfollowed_ones(sally, graph_calls):
    graph_calls.reset()
    found = sally.get(f"{API}/search", query_string={"view": "sites", "q": "brand"}).get_json()
    assert graph_calls.since() == {"graph.sites.search": 1}
    assert names(found) == ["Contoso Brand"]  # Adele does not follow it
    assert crumbs(found) == ["Sites", "Search results for “brand”"]
    brand = follow(sally, row_named(found, "Contoso Brand"))
    assert names(brand) == ["Documents"] and crumbs(brand) == ["Sites", "Contoso Brand"]
    assert names(follow(sally, row_named(brand, "Documents"))) == ["Logo.png"]
    other = sally.get(f"{API}/search", query_string={"view": "sites", "q": "fabrikam"})
    assert names(other.get_json()) == []  # another tenant's site


@SQLITE_ONLY
def test_followed_sites_and_site_search_load_more(sally, ms, graph_calls):
    ms.control("POST", "/sites", {"tenant": "contoso.example", "count": 110, "followers": [ADELE]})
    graph_calls.reset()
    first = children(sally, view="sites")
    assert len(first["rows"]) == 100 and first["more"]
    second = sally.get(first["more"]["api"]).get_json()
    assert graph_calls.since() == {"graph.sites.followed": 2}
    assert len(second["rows"]) == 12 and second["more"] is None
    assert not set(names(first)) & set(names(second))
    graph_calls.reset()
    found = sally.get(f"{API}/search", query_string={"view": "sites", "q": "site"}).get_json()
    rest = sally.get(found["more"]["api"]).get_json()
    assert graph_calls.since() == {"graph.sites.search": 2}
    assert len(found["rows"]) + len(rest["rows"]) == 110 and rest["query"] == "site"
    assert crumbs(rest)[-1] == "Search results for “site”"


@SQLITE_ONLY
def test_a_throttled_site_search_says_when_to_try_again(sally, ms):
    ms.fault("graph", "429", count=1, retry_after=30)
    response = sally.get(f"{API}/search", query_string={"view": "sites", "q": "mark"})
    assert response.status_code == 503 and response.headers["Retry-After"] == "30"
    body = response.get_json()
    assert body["error"] == "OneDrive is busy, try again in 30 seconds." and body["retry"] is True
    again = sally.get(f"{API}/search", query_string={"view": "sites", "q": "mark"})
    assert names(again.get_json()) == ["Mark 8 Project Team", "Sales and Marketing"]


@SQLITE_ONLY
def test_sites_without_script(sally):
    page = sally.get("/drive/?view=sites").get_data(as_text=True)
    assert '<span aria-current="location">Sites</span>' in page
    assert ">Sales and Marketing</a>" in page and "Search sites" in page
    site = re.search(r'<a href="(/drive/\?view=sites&amp;site=[^"]+)">Sales', page).group(1)
    libraries = sally.get(site.replace("&amp;", "&")).get_data(as_text=True)
    assert ">Campaign Assets</a>" in libraries and 'name="q"' in libraries
    found = sally.get("/drive/?view=sites&q=brand").get_data(as_text=True)
    assert "Search results for “brand”" in found and ">Contoso Brand</a>" in found


# --- permission -------------------------------------------------------------------------------


def test_an_account_connected_before_sites_keeps_its_onedrive(sally_before_sites, ms):
    assert "Sites.Read.All" not in account().credential.scopes
    assert "Welcome.txt" in names(children(sally_before_sites))
    ms.control("POST", "/expire", {"access_tokens": True})  # the next call refreshes the token
    assert "Welcome.txt" in names(children(sally_before_sites))
    assert "Shared With Me" in crumbs(children(sally_before_sites, view="shared"))
    assert account().status == "connected"


@SQLITE_ONLY
def test_sites_without_sites_read_all_says_what_is_missing(sally_before_sites, graph_calls):
    graph_calls.reset()
    response = sally_before_sites.get(f"{API}/children", query_string={"view": "sites"})
    assert response.status_code == 403
    body = response.get_json()
    assert body["error"] == MISSING
    assert body["reauthenticate_url"] == f"/profile/external-accounts/{account().id}"
    assert graph_calls.since() == {}  # the recorded grant says so: Graph is not asked
    search = sally_before_sites.get(f"{API}/search", query_string={"view": "sites", "q": "x"})
    assert search.status_code == 403 and search.get_json()["error"] == MISSING
    page = sally_before_sites.get("/drive/?view=sites")
    assert page.status_code == 403
    html = page.get_data(as_text=True)
    assert "Read items in all site collections" in html
    assert f'href="/profile/external-accounts/{account().id}">Reauthenticate</a>' in html


@SQLITE_ONLY
def test_graph_refusing_the_sites_says_what_is_missing(sally, ms):
    ms.fault("graph", "403", count=1)
    response = sally.get(f"{API}/children", query_string={"view": "sites"})
    assert response.status_code == 403 and response.get_json()["error"] == MISSING
    assert response.get_json()["reauthenticate_url"].startswith("/profile/external-accounts/")


@SQLITE_ONLY
def test_reauthenticate_asks_for_sites_and_then_sites_work(sally_before_sites):
    detail = account()
    page = sally_before_sites.get(f"/profile/external-accounts/{detail.id}").get_data(as_text=True)
    assert "Reauthenticate" in page
    flow = connect(
        sally_before_sites,
        path=f"/profile/external-accounts/{detail.id}/connect",
        data={"mode": "popup"},
    )
    assert "Sites.Read.All" in parse_qs(urlsplit(flow.authorize_url).query)["scope"][0].split()
    assert flow.callback.status_code == 200
    assert "Sites.Read.All" in account().credential.scopes.split()
    assert names(children(sally_before_sites, view="sites")) == [
        "Mark 8 Project Team",
        "Sales and Marketing",
    ]


@SQLITE_ONLY
def test_refresh_asks_only_for_what_was_granted(app):
    with app.test_request_context():
        provider = connectors.spec("microsoft")
        everything = provider.scopes("onedrive")
        assert identity.SITES_SCOPE in everything
        before = provider.refresh_scopes("onedrive", "User.Read Files.ReadWrite.All openid email")
        assert before == (
            "openid",
            "profile",
            "email",
            "offline_access",
            "User.Read",
            "Files.ReadWrite.All",
        )
        assert provider.refresh_scopes("onedrive", "") == everything  # not recorded: ask for all


def _move_to_meeting_notes(client, item: dict, folder: dict):
    return client.post(
        f"{API}/move",
        json={
            "drive": item["drive"],
            "item": item["id"],
            "to": {**folder, "path": "Meeting notes"},
        },
    )


# --- a site deleted while open --------------------------------------------------------------


@SQLITE_ONLY
def test_a_site_deleted_while_open_says_so_and_leads_back_to_sites(sally, ms):
    documents = library(sally, "Mark 8 Project Team")
    site_id = documents["folder"]["site"]
    ms.control("DELETE", f"/sites/{site_id}")
    response = sally.get(documents["self"])
    assert response.status_code == 404
    body = response.get_json()
    assert body["error"] == GONE
    assert body["back"] == {
        "label": "Back to Sites",
        "href": "/drive/?view=sites",
        "api": "/drive/api/children?view=sites",
    }
    upload = sally.put(
        f"{API}/files",
        query_string={**documents["folder"], "name": "Late.txt"},
        data=b"late",
        headers={"Content-Type": "application/octet-stream"},
    )
    assert upload.status_code == 404 and upload.get_json()["error"] == GONE
    site = sally.get(f"{API}/children", query_string={"view": "sites", "site": site_id})
    assert site.status_code == 404 and site.get_json()["error"] == GONE
    assert names(follow(sally, body["back"])) == ["Sales and Marketing"]
    page = sally.get(documents["crumbs"][-1]["href"])
    assert page.status_code == 404
    assert 'href="/drive/?view=sites">Back to Sites</a>' in page.get_data(as_text=True)


@SQLITE_ONLY
def test_rename_and_move_in_a_deleted_site_say_it_is_gone(sally, ms):
    documents = library(sally, "Mark 8 Project Team")
    plan = row_named(documents, "Project plan.docx")
    folder = documents["folder"]
    ms.control("DELETE", f"/sites/{folder['site']}")
    renamed = sally.post(
        f"{API}/rename",
        json={"folder": folder, "drive": plan["drive"], "item": plan["id"], "name": "Plan.docx"},
    )
    assert renamed.status_code == 404 and renamed.get_json()["error"] == GONE
    assert renamed.get_json()["back"]["label"] == "Back to Sites"
    moved = _move_to_meeting_notes(sally, plan, folder)
    assert moved.status_code == 404 and moved.get_json()["error"] == GONE


@SQLITE_ONLY
def test_a_site_deleted_between_finding_the_folder_and_the_move_says_it_is_gone(
    sally, ms, monkeypatch
):
    documents = library(sally, "Mark 8 Project Team")
    plan = row_named(documents, "Project plan.docx")
    folder = documents["folder"]
    found = OneDrive.folder_id

    def found_then_deleted(self, where):
        folder_id = found(self, where)
        ms.control("DELETE", f"/sites/{folder['site']}")
        return folder_id

    monkeypatch.setattr(OneDrive, "folder_id", found_then_deleted)
    moved = _move_to_meeting_notes(sally, plan, folder)
    assert moved.status_code == 404 and moved.get_json()["error"] == GONE
    assert moved.get_json()["back"]["label"] == "Back to Sites"


@SQLITE_ONLY
def test_a_missing_folder_of_a_live_site_is_not_a_deleted_site(sally):
    documents = library(sally)
    response = sally.get(f"{API}/children", query_string={**documents["folder"], "path": "Nope"})
    assert response.status_code == 404
    assert response.get_json()["error"] == "Folder not found." and "back" not in response.get_json()


@SQLITE_ONLY
def test_a_site_address_that_cannot_be_one_is_refused(sally):
    for args in (
        {"view": "sites", "site": "not a site id"},
        {"view": "sites", "drive": "b!abc"},  # a library without its site
        {"view": "sites", "path": "Documents"},
    ):
        response = sally.get(f"{API}/children", query_string=args)
        assert response.status_code in (400, 404), args
        assert response.get_json()["error"]
