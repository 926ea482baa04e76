"""The Cloud Drive's Sites in headless Chromium against gunicorn and the stand-in (the live
server of test_browser.py, one for this module): a followed site's library opened from Sites and
a file uploaded into it (it lands in that library's drive); a search for sites finds one the
user does not follow; an account connected without Sites.Read.All is told what is missing and
reaches Reauthenticate by keyboard; a site deleted while open says so and leads back to Sites."""

import pytest
import requests
from playwright.sync_api import expect

from app.extensions import db
from tests.conftest import browser_login
from tests.connect.conftest import ADELE, MEGAN
from tests.drive.test_browser import (  # noqa: F401  (fixtures)
    TIMEOUT,
    connect_over_http,
    crumbs,
    home,
    live_drive,
    row,
    rows,
    signed_in,
)

pytestmark = pytest.mark.browser

MISSING = (
    "Sites needs the permission “Read items in all site collections” (Sites.Read.All), "
    "which this account was connected without."
)
GONE = "This site no longer exists or you no longer have access to it."


def standin_site(server, display_name: str) -> dict:
    """A site as the stand-in's control API lists it: id, followers, libraries (drive ids)."""
    sites = requests.get(f"{server.standin}/_standin/sites", timeout=TIMEOUT).json()["sites"]
    return next(site for site in sites if site["display_name"] == display_name)


def library_items(server, drive_id: str) -> dict:
    """The items of a drive (a site's library) as the stand-in holds them, by name."""
    answer = requests.get(
        f"{server.standin}/_standin/drive/items",
        params={"drive": drive_id, "parent": "root"},
        timeout=TIMEOUT,
    )
    answer.raise_for_status()
    return {item["name"]: item for item in answer.json()["items"]}


def press(locator) -> None:
    """Activate a link or button by keyboard."""
    locator.focus()
    locator.press("Enter")


def open_sites(page) -> None:
    press(
        page.get_by_role("navigation", name="Cloud Drive views").get_by_role("link", name="Sites")
    )
    row(page, "Sales and Marketing").wait_for()


def test_upload_into_a_library_of_a_followed_site(home, live_drive, tmp_path):  # noqa: F811
    page = home
    open_sites(page)
    assert crumbs(page) == ["Sites"]
    assert [n.strip() for n in rows(page).locator(".drive-col-name").all_inner_texts()] == [
        "Mark 8 Project Team",
        "Sales and Marketing",
    ]
    new_folder, upload = (
        page.get_by_role("button", name="New Folder"),
        page.get_by_label("Upload File"),
    )
    expect(new_folder).to_be_disabled()  # Sites itself holds no files
    expect(upload).to_be_disabled()
    press(page.get_by_role("link", name="Sales and Marketing", exact=True))
    row(page, "Campaign Assets").wait_for()
    assert crumbs(page) == ["Sites", "Sales and Marketing"]
    expect(page.get_by_role("searchbox")).to_be_hidden()  # a site's libraries: nothing to search
    press(page.get_by_role("link", name="Documents", exact=True))
    row(page, "Sales playbook.docx").wait_for()
    assert crumbs(page) == ["Sites", "Sales and Marketing", "Documents"]
    expect(new_folder).to_be_enabled()
    expect(upload).to_be_enabled()

    source = tmp_path / "Visit report.txt"
    source.write_bytes(b"Visited Fabrikam: they want 40 units.\n")
    upload.set_input_files(source)
    expect(page.locator("[data-drive-status]")).to_contain_text("Uploaded “Visit report.txt”.")
    uploaded = row(page, "Visit report.txt")
    uploaded.wait_for()
    assert crumbs(page) == ["Sites", "Sales and Marketing", "Documents"]

    documents = next(
        d
        for d in standin_site(live_drive, "Sales and Marketing")["libraries"]
        if d["name"] == "Documents"
    )
    assert uploaded.get_attribute("data-drive") == documents["id"]
    held = library_items(live_drive, documents["id"])
    assert held["Visit report.txt"]["size"] == source.stat().st_size
    assert held["Visit report.txt"]["path"] == "/Visit report.txt"
    mine = requests.get(
        f"{live_drive.standin}/_standin/drive/items", params={"oid": ADELE}, timeout=TIMEOUT
    ).json()["items"]
    assert "Visit report.txt" not in {item["name"] for item in mine}  # not in her OneDrive
    download = uploaded.get_by_role("link", name="Download")
    body = page.request.get(f"{live_drive.url}{download.get_attribute('href')}")
    assert body.body() == source.read_bytes()

    press(page.locator("[data-drive-crumbs]").get_by_role("link", name="Sales and Marketing"))
    row(page, "Campaign Assets").wait_for()
    assert crumbs(page) == ["Sites", "Sales and Marketing"]
    assert page.url == f"{live_drive.url}/home"  # no page reload along the way


def test_a_search_for_sites_finds_one_not_followed(home):  # noqa: F811
    page = home
    open_sites(page)
    assert row(page, "Contoso Brand").count() == 0  # Adele does not follow it
    box = page.get_by_role("searchbox", name="Search sites")
    box.fill("brand")
    box.press("Enter")
    found = row(page, "Contoso Brand")
    found.wait_for()
    assert crumbs(page) == ["Sites", "Search results for “brand”"]
    assert rows(page).count() == 1
    press(found.get_by_role("link", name="Contoso Brand"))
    row(page, "Documents").wait_for()
    assert crumbs(page) == ["Sites", "Contoso Brand"]
    press(page.get_by_role("link", name="Documents", exact=True))
    row(page, "Logo.png").wait_for()
    assert crumbs(page) == ["Sites", "Contoso Brand", "Documents"]
    expect(page.get_by_role("searchbox", name="Search in this drive")).to_have_value("")


def test_a_site_deleted_while_open_says_so_and_back_to_sites(home, live_drive):  # noqa: F811
    page = home
    open_sites(page)
    press(page.get_by_role("link", name="Mark 8 Project Team", exact=True))
    press(page.get_by_role("link", name="Documents", exact=True))
    row(page, "Project plan.docx").wait_for()
    site = standin_site(live_drive, "Mark 8 Project Team")
    requests.delete(
        f"{live_drive.standin}/_standin/sites/{site['id']}", timeout=TIMEOUT
    ).raise_for_status()

    press(page.get_by_role("link", name="Refresh"))
    status = page.locator("[data-drive-status]")
    expect(status).to_contain_text(GONE)
    expect(rows(page)).to_have_count(0)  # what was listed is gone with the site
    back = status.get_by_role("link", name="Back to Sites")
    press(back)
    row(page, "Sales and Marketing").wait_for()
    assert crumbs(page) == ["Sites"]
    assert row(page, "Mark 8 Project Team").count() == 0
    expect(status).to_be_hidden()
    assert page.url == f"{live_drive.url}/home"


# --- an account connected before Sites -----------------------------------------------------------


@pytest.fixture
def before_sites(live_drive, browser):  # noqa: F811
    """Mark, signed in on Home; his Microsoft account (Megan) connected without Sites.Read.All."""
    with live_drive.db():
        from app.users import directory as users

        users.create_user(None, "mark", "mark@crm.example", "mark-password", first_name="Mark")
        db.session.commit()
    connect_over_http(live_drive.url, "mark", "mark-password", MEGAN, "Sites.Read.All")
    context = browser.new_context()
    context.set_default_timeout(15000)
    page = context.new_page()
    browser_login(page, live_drive.url, "mark", "mark-password")
    row(page, "Welcome.txt").wait_for()  # his OneDrive works as before
    yield page
    context.close()


def test_sites_without_sites_read_all_says_what_is_missing(before_sites, live_drive):  # noqa: F811
    page = before_sites
    press(page.get_by_role("link", name="Sites"))
    status = page.locator("[data-drive-status]")
    expect(status).to_contain_text(MISSING)
    expect(rows(page)).to_have_count(0)
    reauthenticate = status.get_by_role("link", name="Reauthenticate")
    href = reauthenticate.get_attribute("href")
    assert href.startswith("/profile/external-accounts/")
    for _ in range(30):  # Tab from the Sites tab until the link has the focus
        if reauthenticate.evaluate("link => link === document.activeElement"):
            break
        page.keyboard.press("Tab")
    expect(reauthenticate).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_drive.url}{href}")
    expect(page.get_by_role("button", name="Reauthenticate")).to_be_visible()
