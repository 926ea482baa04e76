"""The Cloud Drive dashlet's search, Open in Office for the web, rename, move and name conflicts
in headless Chromium against gunicorn and the stand-in (the live server of test_browser.py, one
for this module)."""

import pytest
import requests
from playwright.sync_api import expect

from tests.drive.test_browser import (  # noqa: F401  (fixtures)
    TIMEOUT,
    busy,
    calm,
    crumbs,
    home,
    live_drive,
    refresh,
    row,
    rows,
    signed_in,
)

pytestmark = pytest.mark.browser


def search_for(page, text: str) -> None:
    box = page.get_by_role("searchbox", name="Search in this drive")
    box.fill(text)
    box.press("Enter")


def test_search_and_open_a_results_folder(home, live_drive):  # noqa: F811
    page = home
    search_for(page, "notes")
    found = row(page, "Notes.txt")
    found.wait_for()
    assert crumbs(page) == ["My Files", "Search results for “notes”"]
    assert rows(page).count() == 1
    assert page.get_by_role("button", name="New Folder").is_disabled()
    found.get_by_role("link", name="Open folder of “Notes.txt”").click()
    row(page, "Budget 2024.csv").wait_for()
    assert crumbs(page) == ["My Files", "Documents"]
    assert page.get_by_role("searchbox", name="Search in this drive").input_value() == ""
    assert page.url == f"{live_drive.url}/home"  # no page reload along the way
    search_for(page, "nothing like this")
    page.get_by_text("Nothing found.").wait_for()
    page.locator("[data-drive-crumbs]").get_by_role("link", name="My Files").click()
    row(page, "Welcome.txt").wait_for()


def test_a_throttled_search_offers_try_again_which_searches_again(home, live_drive):  # noqa: F811
    page = home
    status = page.locator("[data-drive-status]")
    busy(live_drive, "429")
    search_for(page, "proposal")
    expect(status).to_contain_text("OneDrive is busy, try again in 30 seconds.")
    assert crumbs(page) == ["My Files"]  # still where the user was
    calm(live_drive)
    with page.expect_response(lambda r: "/drive/api/search?" in r.url and "q=proposal" in r.url):
        status.get_by_role("button", name="Try again").click()
    row(page, "Acme proposal.pdf").wait_for()
    assert crumbs(page) == ["My Files", "Search results for “proposal”"]
    expect(status).to_be_hidden()
    requests.delete(f"{live_drive.standin}/_standin/faults", timeout=TIMEOUT)


def test_open_in_office_for_the_web_opens_the_web_url_in_a_new_tab(home):  # noqa: F811
    page = home
    page.get_by_role("link", name="Documents", exact=True).click()
    report = row(page, "Quarterly report.docx")
    report.wait_for()
    link = report.get_by_role("link", name="Open in Office for the web")
    web_url = link.get_attribute("href")
    assert "/_onedrive/" in web_url and link.get_attribute("rel") == "noopener"
    assert (
        row(page, "Notes.txt").get_by_role("link", name="Open in Office for the web").count() == 0
    )
    with page.context.expect_page() as opened:
        link.click()
    tab = opened.value
    tab.wait_for_load_state()
    assert tab.url == web_url and tab.title() == "Quarterly report.docx - OneDrive"
    assert tab.evaluate("window.opener") is None  # noopener: the new tab cannot reach the CRM
    tab.close()
    assert page.url.endswith("/home") and crumbs(page) == ["My Files", "Documents"]


def test_rename_then_move_a_file_into_a_folder_picked_in_the_picker(home, live_drive):  # noqa: F811
    page = home
    status = page.locator("[data-drive-status]")
    page.get_by_role("link", name="Documents", exact=True).click()
    row(page, "Notes.txt").get_by_role("button", name="Rename").click()
    box = page.get_by_role("textbox", name="New name for “Notes.txt”")
    expect(box).to_be_focused()
    assert box.evaluate("b => b.value.slice(b.selectionStart, b.selectionEnd)") == "Notes"
    box.fill("Minutes.txt")
    box.press("Enter")
    expect(status).to_contain_text("Renamed “Notes.txt” to “Minutes.txt”.")
    minutes = row(page, "Minutes.txt")
    expect(minutes.get_by_role("button", name="Rename")).to_be_focused()
    assert row(page, "Notes.txt").count() == 0

    minutes.get_by_role("button", name="Move").press("Enter")
    picker = page.get_by_role("dialog", name="Move “Minutes.txt” to…")
    expect(picker).to_be_visible()
    folders = picker.get_by_role("list", name="Folders")
    expect(folders.get_by_role("button", name="Documents")).to_be_focused()
    assert folders.get_by_role("button").all_inner_texts() == ["Documents", "Photos", "Proposals"]
    page.keyboard.press("Enter")  # into Documents: where the file already is
    expect(picker.get_by_role("button", name="Already here")).to_be_disabled()
    picker.get_by_role("button", name="My Files").press("Enter")
    folders.get_by_role("button", name="Proposals").focus()
    page.keyboard.press("Enter")
    expect(folders.get_by_role("button", name="Drafts")).to_be_focused()
    page.keyboard.press("Enter")
    expect(picker.locator("[aria-current=location]")).to_have_text("Drafts")
    expect(picker.get_by_text("No folders here.")).to_be_visible()
    picker.get_by_role("button", name="Move here").press("Enter")
    expect(picker).to_be_hidden()
    expect(status).to_contain_text("Moved “Minutes.txt” to “Drafts”.")
    assert row(page, "Minutes.txt").count() == 0
    page.locator("[data-drive-crumbs]").get_by_role("link", name="My Files").click()
    page.get_by_role("link", name="Proposals", exact=True).click()
    page.get_by_role("link", name="Drafts", exact=True).click()
    row(page, "Minutes.txt").wait_for()
    assert crumbs(page) == ["My Files", "Proposals", "Drafts"]


def test_the_picker_closes_with_escape_and_nothing_moves(home):  # noqa: F811
    page = home
    row(page, "Welcome.txt").get_by_role("button", name="Move").click()
    picker = page.get_by_role("dialog", name="Move “Welcome.txt” to…")
    expect(picker.get_by_role("button", name="Documents")).to_be_focused()
    page.keyboard.press("Escape")
    expect(picker).to_be_hidden()
    expect(row(page, "Welcome.txt").get_by_role("button", name="Move")).to_be_focused()


def test_a_conflict_answered_with_keep_both(home, tmp_path):  # noqa: F811
    page = home
    status = page.locator("[data-drive-status]")
    page.get_by_role("link", name="Documents", exact=True).click()
    row(page, "Budget 2024.csv").wait_for()
    source = tmp_path / "Budget 2024.csv"
    source.write_bytes(b"month,amount\nApril,1500\n")
    page.locator("[data-drive-upload]").set_input_files(source)
    expect(status).to_contain_text(
        "An item named “Budget 2024.csv” already exists here. Keep both, replace it, or cancel?"
    )
    keep_both = status.get_by_role("button", name="Keep both")
    expect(keep_both).to_be_focused()
    page.keyboard.press("Enter")
    expect(status).to_contain_text("Uploaded “Budget 2024 1.csv”.")
    assert row(page, "Budget 2024.csv").count() == 1 and row(page, "Budget 2024 1.csv").count() == 1

    row(page, "Quarterly report.docx").get_by_role("button", name="Rename").click()
    box = page.get_by_role("textbox", name="New name for “Quarterly report.docx”")
    box.fill("Budget 2024.csv")
    box.press("Enter")
    expect(status).to_contain_text("An item named “Budget 2024.csv” already exists here.")
    status.get_by_role("button", name="Keep both").click()
    expect(status).to_contain_text("Renamed “Quarterly report.docx” to “Budget 2024 2.csv”.")
    row(page, "Budget 2024 2.csv").wait_for()
    refresh(page)  # the listing as OneDrive now has it, not the rows shown before
    row(page, "Budget 2024 2.csv").wait_for()
    expect(row(page, "Quarterly report.docx")).to_have_count(0)
