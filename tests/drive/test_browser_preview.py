"""The Cloud Drive dashlet's thumbnails and Preview in headless Chromium against gunicorn and
the stand-in (the live server of test_browser.py, one for this module)."""

import pytest
from playwright.sync_api import expect

from tests.drive.test_browser import (  # noqa: F401  (fixtures)
    home,
    live_drive,
    row,
    signed_in,
)

pytestmark = pytest.mark.browser


def natural_width(locator) -> int:
    return locator.evaluate("(img) => img.complete ? img.naturalWidth : 0")


def test_a_thumbnail_is_shown_for_an_image(home, live_drive):  # noqa: F811
    page = home
    page.get_by_role("link", name="Photos", exact=True).click()
    photo = row(page, "Team offsite.png")
    photo.wait_for()
    thumbnail = photo.locator("img.drive-thumb")
    expect(thumbnail).to_be_visible()
    page.wait_for_function(
        "(img) => img.complete && img.naturalWidth > 0", arg=thumbnail.element_handle()
    )
    assert natural_width(thumbnail) == 48  # Graph's small thumbnail, decoded by the browser
    assert thumbnail.get_attribute("src").startswith("/drive/thumbnail?")  # through the app
    assert photo.locator(".drive-icon").count() == 0
    page.get_by_role("link", name="My Files", exact=True).first.click()
    welcome = row(page, "Welcome.txt")
    welcome.wait_for()
    assert welcome.locator("img.drive-thumb").count() == 0  # plain text: its icon
    assert welcome.locator(".drive-icon-text").count() == 1


def test_preview_by_keyboard_shows_the_large_thumbnail(home, live_drive):  # noqa: F811
    page = home
    page.get_by_role("link", name="Photos", exact=True).click()
    photo = row(page, "Whiteboard.png")
    photo.wait_for()
    preview = photo.get_by_role("link", name="Preview")
    preview.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Preview of “Whiteboard.png”")
    expect(dialog).to_be_visible()
    image = dialog.get_by_role("img", name="Preview of “Whiteboard.png”")
    expect(image).to_be_visible()
    assert natural_width(image) == 800  # the large thumbnail, not the file
    assert "size=large" in image.get_attribute("src")
    download = dialog.get_by_role("link", name="Download")
    assert "/drive/download?" in download.get_attribute("href")
    expect(dialog.get_by_role("button", name="Close")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(preview).to_be_focused()


def test_preview_of_plain_text_and_of_a_text_too_large(home, tmp_path):  # noqa: F811
    page = home
    page.get_by_role("link", name="Documents", exact=True).click()
    notes = row(page, "Notes.txt")
    notes.wait_for()
    assert notes.get_by_role("link", name="Preview").count() == 1
    budget = row(page, "Budget 2024.csv")
    assert budget.get_by_role("link", name="Preview").count() == 0
    notes.get_by_role("link", name="Preview").click()
    dialog = page.get_by_role("dialog", name="Preview of “Notes.txt”")
    text = dialog.locator("[data-preview-text]")
    expect(text).to_contain_text("- call Acme on Monday")
    expect(dialog.get_by_role("img")).to_have_count(0)
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    big = tmp_path / "big.log"
    big.write_bytes(b"line of text\n" * 80_000)
    page.locator("[data-drive-upload]").set_input_files(big)
    page.get_by_text("Uploaded “big.log”.").wait_for()
    row(page, "big.log").get_by_role("link", name="Preview").click()
    dialog = page.get_by_role("dialog", name="Preview of “big.log”")
    expect(dialog.get_by_role("status")).to_have_text(
        "“big.log” is too large to preview. Download it instead."
    )
    expect(dialog.locator("[data-preview-text]")).to_be_hidden()
    assert "/drive/download?" in dialog.get_by_role("link", name="Download").get_attribute("href")
    page.keyboard.press("Escape")
