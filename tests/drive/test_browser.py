"""The Cloud Drive dashlet in headless Chromium against gunicorn and the stand-in: browse and
come back by the breadcrumb, Load more, upload 10 MiB with the progress bar, download the same
bytes, Copy Link, Delete, Shared With Me. One live server serves the whole module."""

import os
import re
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from app.extensions import db
from tests.conftest import app_on_standin, browser_login, csrf_token
from tests.connect.conftest import ADELE, drop_scope, sign_in_at_standin

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("SCREENSHOT_DIR", "/tmp/shots"))  # noqa: S108
TIMEOUT = 10


def connect_over_http(
    base: str, username: str, password: str, oid: str, without_scope: str = ""
) -> None:
    """Sign in and connect the Microsoft account like the pop-up would, over plain HTTP
    (`without_scope`: as an app that did not ask for that permission yet)."""
    session = requests.Session()
    login = session.get(f"{base}/login", timeout=TIMEOUT).text
    session.post(
        f"{base}/login",
        timeout=TIMEOUT,
        data={"username": username, "password": password, "csrf_token": csrf_token(login)},
    )
    form = session.get(f"{base}/profile/external-accounts/new", timeout=TIMEOUT).text
    started = session.post(
        f"{base}/profile/external-accounts/new",
        timeout=TIMEOUT,
        headers={"Accept": "application/json"},
        data={"application": "microsoft", "mode": "popup", "csrf_token": csrf_token(form)},
    ).json()
    go = session.get(f"{base}{started['go_url']}", timeout=TIMEOUT, allow_redirects=False)
    authorize = go.headers["Location"]
    callback = sign_in_at_standin(
        drop_scope(authorize, without_scope) if without_scope else authorize, oid
    )
    assert session.get(callback, timeout=TIMEOUT).status_code == 200


@pytest.fixture(scope="module")
def live_drive(tmp_path_factory, standin):
    """gunicorn wired to the stand-in; sally's Microsoft account (Adele) is connected."""
    with app_on_standin(tmp_path_factory.mktemp("drive-live"), standin) as server:
        with server.app().app_context():
            from app.users import directory as users

            users.create_user(
                None,
                "sally",
                "sally@crm.example",
                "sally-password",
                first_name="Sally",
                last_name="Bronsen",
            )
            db.session.commit()
            db.engine.dispose()
        connect_over_http(server.url, "sally", "sally-password", ADELE)
        yield server


@pytest.fixture(scope="module")
def signed_in(live_drive, browser):
    """One browser page, signed in as sally once for the module."""
    context = browser.new_context()
    context.set_default_timeout(15000)
    page = context.new_page()
    browser_login(page, live_drive.url, "sally", "sally-password")
    yield page
    context.close()


@pytest.fixture
def home(live_drive, signed_in):
    """Sally on Home, the dashlet's first listing shown."""
    signed_in.goto(f"{live_drive.url}/home")
    rows(signed_in).filter(has_text="Welcome.txt").wait_for()
    return signed_in


def rows(page):
    return page.locator("[data-drive-rows] tr")


def row(page, name: str):
    return rows(page).filter(has=page.get_by_role("link", name=name, exact=True))


def crumbs(page) -> list[str]:
    return [text.strip() for text in page.locator("[data-drive-crumbs] li").all_inner_texts()]


def listing_shown(page) -> None:
    """Wait until the dashlet shows the listing it was loading: drive.js marks the panel
    aria-busy from its request until the task that renders the answer."""
    expect(page.locator("section[data-drive]")).not_to_have_attribute("aria-busy", "true")


def refresh(page) -> None:
    """Refresh the listing and wait until it is shown again. Until then the rows from before
    are still on screen, and a check meant for the fresh ones would pass on them."""
    with page.expect_response(lambda r: "/drive/api/children" in r.url):
        page.get_by_role("link", name="Refresh").click()
    listing_shown(page)


def test_browse_into_folders_and_back_by_the_breadcrumb(home, live_drive):
    page = home
    names = rows(page).locator(".drive-col-name").all_inner_texts()
    assert [n.strip() for n in names] == ["Documents", "Photos", "Proposals", "Welcome.txt"]
    page.get_by_role("link", name="Proposals", exact=True).click()
    row(page, "Drafts").wait_for()
    page.get_by_role("link", name="Drafts", exact=True).click()
    page.get_by_text("This folder is empty.").wait_for()
    assert crumbs(page) == ["My Files", "Proposals", "Drafts"]
    page.locator("[data-drive-crumbs]").get_by_role("link", name="Proposals").click()
    row(page, "Acme proposal.pdf").wait_for()
    assert crumbs(page) == ["My Files", "Proposals"]
    page.locator("[data-drive-crumbs]").get_by_role("link", name="My Files").click()
    row(page, "Welcome.txt").wait_for()
    assert crumbs(page) == ["My Files"]
    assert page.url == f"{live_drive.url}/home"  # no page reload along the way
    first = rows(page).locator(".drive-col-name").first
    page.get_by_role("link", name="Date Modified").click()
    expect(first).to_have_text("Photos")
    page.get_by_role("link", name="Name", exact=True).click()
    expect(first).to_have_text("Documents")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("section.drive").screenshot(path=str(SHOTS / "drive_dashlet.png"))


def test_load_more(live_drive, home):
    page = home
    seeded = requests.post(
        f"{live_drive.standin}/_standin/drive/seed",
        timeout=TIMEOUT,
        json={"oid": ADELE, "folders": 1, "prefix": "Many"},
    ).json()
    requests.post(
        f"{live_drive.standin}/_standin/drive/seed",
        timeout=TIMEOUT,
        json={"oid": ADELE, "parent": seeded["folder_ids"][0], "files": 230, "prefix": "Lead"},
    )
    page.get_by_role("link", name="Refresh").click()
    page.get_by_role("link", name="Many folder 00001").click()
    page.get_by_role("link", name="Lead file 00100.txt").wait_for()
    assert rows(page).count() == 100
    more = page.get_by_role("link", name="Load more")
    more.click()
    page.get_by_role("link", name="Lead file 00200.txt").wait_for()
    assert rows(page).count() == 200
    more.click()
    page.get_by_role("link", name="Lead file 00230.txt").wait_for()
    assert rows(page).count() == 230 and not more.is_visible()


def test_upload_10_mib_with_progress_then_download_the_same_bytes(home, tmp_path):
    page = home
    data = os.urandom(10 * 1024 * 1024)
    page.evaluate(
        """() => { window.__progress = [];
        new MutationObserver(() => window.__progress.push(
          document.querySelector('[data-drive-progress-pct]').textContent))
        .observe(document.querySelector('[data-drive-progress-pct]'), {childList: true}); }"""
    )
    source = tmp_path / "Ten MiB.bin"
    source.write_bytes(data)
    page.locator("[data-drive-upload]").set_input_files(source)
    page.get_by_text("Uploaded “Ten MiB.bin”.").wait_for(timeout=60000)
    assert page.locator("[data-drive-progress-bar]").evaluate("bar => bar.value") == 100
    assert page.locator("[data-drive-progress-pct]").inner_text() == "100%"
    seen = page.evaluate("window.__progress")
    assert seen[-1] == "100%" and len(set(seen)) > 1
    page.screenshot(path=str(SHOTS / "drive_home_uploaded.png"), full_page=True)
    with page.expect_download() as info:
        row(page, "Ten MiB.bin").get_by_role("link", name="Download").click()
    saved = tmp_path / "download.bin"
    info.value.save_as(saved)
    assert info.value.suggested_filename == "Ten MiB.bin"
    assert saved.read_bytes() == data


def graph_link(standin: str, item_id: str, scope: str) -> requests.Response:
    """Ask the stand-in's Graph for Adele's view link of `scope`: 200 when it already existed."""
    token = requests.post(
        f"{standin}/_standin/tokens",
        json={"oid": ADELE, "scopes": ["Files.ReadWrite.All"]},
        timeout=TIMEOUT,
    ).json()["access_token"]
    return requests.post(
        f"{standin}/v1.0/me/drive/items/{item_id}/createLink",
        json={"type": "view", "scope": scope},
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    )


@contextmanager
def anonymous_links_allowed(server):
    """The admin allows links anyone can open, until the block ends."""

    def allow(allowed: bool) -> None:
        with server.db():
            from app.connect import connectors

            connectors.get("microsoft").allow_anonymous_links = allowed
            db.session.commit()

    allow(True)
    try:
        yield
    finally:
        allow(False)


def test_copy_link(home, live_drive):
    page = home
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_drive.url)
    row(page, "Welcome.txt").get_by_role("button", name="Copy Link").click()
    shown = page.get_by_label("Link")
    shown.wait_for()
    link = shown.input_value()
    assert link.startswith(f"{live_drive.standin}/_onedrive/s/")
    status = page.locator("[data-drive-status]")
    expect(status).to_contain_text(
        "Link to “Welcome.txt” copied to the clipboard. People in your organization can open it"
    )
    assert page.evaluate("navigator.clipboard.readText()") == link
    assert page.get_by_role("group", name=re.compile("Who can open the link")).count() == 0
    item_id = row(page, "Welcome.txt").get_attribute("data-id")
    existing = graph_link(live_drive.standin, item_id, "organization")
    assert existing.status_code == 200 and existing.json()["link"]["webUrl"] == link


def test_copy_link_lets_the_user_pick_anyone_when_the_admin_allows_it(live_drive, signed_in):
    page = signed_in
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_drive.url)
    with anonymous_links_allowed(live_drive):
        page.goto(f"{live_drive.url}/home")
        target = row(page, "Welcome.txt")
        copy = target.get_by_role("button", name="Copy Link")
        copy.click()
        choice = page.get_by_role("group", name="Who can open the link to “Welcome.txt”?")
        expect(choice.get_by_role("button", name="People in your organization")).to_be_focused()
        page.keyboard.press("Escape")  # changed their mind: the row's buttons come back
        expect(copy).to_be_focused()
        page.keyboard.press("Enter")
        expect(choice.get_by_role("button", name="People in your organization")).to_be_focused()
        page.keyboard.press("Tab")
        expect(choice.get_by_role("button", name="Anyone with the link")).to_be_focused()
        page.keyboard.press("Enter")
        status = page.locator("[data-drive-status]")
        expect(status).to_contain_text(
            "Link to “Welcome.txt” copied to the clipboard. Anyone with the link can open it"
        )
        link = page.get_by_label("Link", exact=True).input_value()
        assert page.evaluate("navigator.clipboard.readText()") == link
        expect(copy).to_be_focused()
        item_id = target.get_attribute("data-id")
        existing = graph_link(live_drive.standin, item_id, "anonymous")
        assert existing.status_code == 200 and existing.json()["link"]["webUrl"] == link


def test_delete_asks_first(home):
    page = home
    page.get_by_role("button", name="New Folder").click()
    page.get_by_label("Folder name").fill("Old stuff")
    page.get_by_role("button", name="Create", exact=True).click()
    target = row(page, "Old stuff")
    target.wait_for()
    target.get_by_role("button", name="Delete").click()
    expect(target.get_by_text("Delete “Old stuff”?")).to_be_visible()
    target.get_by_role("button", name="Cancel").click()
    target.get_by_role("button", name="Delete").click()
    target.get_by_role("button", name="Delete").click()
    page.get_by_text("Deleted “Old stuff”.").wait_for()
    assert row(page, "Old stuff").count() == 0
    refresh(page)  # the listing as OneDrive now has it, not the rows shown before
    row(page, "Welcome.txt").wait_for()
    expect(row(page, "Old stuff")).to_have_count(0)


def test_shared_with_me(home):
    page = home
    page.get_by_role("link", name="Shared With Me").click()
    expect(page.locator("[data-drive-crumbs]")).to_have_text("Shared With Me")
    shared = row(page, "Proposals")
    assert "Megan Bowen" in shared.inner_text()
    assert page.get_by_role("button", name="New Folder").is_disabled()
    page.get_by_role("link", name="Proposals").click()
    row(page, "Acme proposal.pdf").wait_for()
    assert crumbs(page) == ["Shared With Me", "Proposals"]
    assert re.search(r"Megan Bowen", row(page, "Acme proposal.pdf").inner_text())


def busy(server, mode: str) -> None:
    """Graph answers the next call 429/503 with a Retry-After the app does not wait out."""
    requests.post(
        f"{server.standin}/_standin/faults",
        json={"area": "graph", "mode": mode, "count": 1, "retry_after": 30},
        timeout=TIMEOUT,
    ).raise_for_status()


def calm(server) -> None:
    requests.delete(f"{server.standin}/_standin/faults", timeout=TIMEOUT).raise_for_status()


def test_busy_folder_offers_try_again_and_refresh_keeps_the_folder(home, live_drive):
    page = home
    status = page.locator("[data-drive-status]")
    busy(live_drive, "429")
    page.get_by_role("link", name="Proposals", exact=True).click()
    expect(status).to_contain_text("OneDrive is busy, try again in 30 seconds.")
    again = status.get_by_role("button", name="Try again")
    assert crumbs(page) == ["My Files"]  # still where the user was
    calm(live_drive)
    again.focus()
    page.keyboard.press("Enter")
    row(page, "Acme proposal.pdf").wait_for()
    assert crumbs(page) == ["My Files", "Proposals"]
    expect(status).to_be_hidden()
    expect(page.get_by_role("link", name="Refresh")).to_be_focused()

    requests.post(
        f"{live_drive.standin}/_standin/drive/seed",
        timeout=TIMEOUT,
        json={"oid": ADELE, "parent": "Proposals", "files": 1, "prefix": "Fresh"},
    ).raise_for_status()
    page.get_by_role("link", name="Refresh").click()
    row(page, "Fresh file 00001.txt").wait_for()
    assert crumbs(page) == ["My Files", "Proposals"]

    busy(live_drive, "503")
    page.get_by_role("link", name="Refresh").click()
    expect(status).to_contain_text("OneDrive is busy, try again in 30 seconds.")
    calm(live_drive)
    status.get_by_role("button", name="Try again").click()
    expect(status).to_be_hidden()
    assert crumbs(page) == ["My Files", "Proposals"]
    expect(row(page, "Acme proposal.pdf")).to_be_visible()
    assert page.url == f"{live_drive.url}/home"


def test_busy_full_page_offers_try_again(live_drive, signed_in):
    page = signed_in
    address = f"{live_drive.url}/drive/?path=Documents"
    busy(live_drive, "429")
    page.goto(address)
    expect(page.locator("[data-drive-status]")).to_contain_text("OneDrive is busy")
    refresh = page.get_by_role("link", name="Refresh")
    assert refresh.get_attribute("href") == "/drive/?path=Documents"
    calm(live_drive)
    page.get_by_role("link", name="Try again").click()
    row(page, "Notes.txt").wait_for()
    assert crumbs(page) == ["My Files", "Documents"] and page.url == address


def test_full_page_is_enhanced_too(live_drive, signed_in):
    page = signed_in
    page.goto(f"{live_drive.url}/drive/?path=Documents")
    row(page, "Notes.txt").get_by_role("button", name="Copy Link").wait_for()  # script rows
    with page.expect_response(lambda r: r.url.endswith("/drive/api/children?path=Documents")):
        page.get_by_role("link", name="Refresh").click()
    listing_shown(page)  # the answer is rendered: the rows from before would pass as well
    row(page, "Notes.txt").get_by_role("button", name="Delete").wait_for()
    assert crumbs(page) == ["My Files", "Documents"]
    assert page.url.endswith("/drive/?path=Documents")
