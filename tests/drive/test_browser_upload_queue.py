"""The Cloud Drive dashlet's upload queue in headless Chromium against gunicorn and the
stand-in (the live server of test_browser.py, one for this module): several files picked at
once or dropped on the dashlet, one at a time, each with its state and Cancel; a taken name asks
Keep both / Replace / Cancel for that file only."""

import pytest
import requests
from playwright.sync_api import expect

from tests.drive.test_browser import (  # noqa: F401  (fixtures)
    TIMEOUT,
    calm,
    home,
    live_drive,
    row,
    signed_in,
)

pytestmark = pytest.mark.browser

# Drop on the listing's rows (the event bubbles to the dashlet), as a desktop drag would.
DROP = """([target, files]) => {
  const root = target.closest("section[data-drive]");
  const transfer = new DataTransfer();
  for (const [name, text] of files) {
    transfer.items.add(new File([text], name, {type: "text/plain"}));
  }
  const options = {bubbles: true, cancelable: true, dataTransfer: transfer};
  const over = new DragEvent("dragover", options);
  target.dispatchEvent(over);
  const accepted = over.defaultPrevented && root.classList.contains("drive-dropping");
  const drop = new DragEvent("drop", options);
  target.dispatchEvent(drop);
  const outline = root.classList.contains("drive-dropping");
  return {accepted, dropped: drop.defaultPrevented, outline};
}"""


def queue(page):
    return page.locator("[data-drive-queue] li")


def documents(page):
    page.get_by_role("link", name="Documents", exact=True).click()
    row(page, "Notes.txt").wait_for()


def test_drag_two_files_in_at_once(home, live_drive):  # noqa: F811
    page = home
    documents(page)
    target = page.locator("[data-drive-rows]").element_handle()
    files = [["Dropped one.txt", "first dropped file"], ["Dropped two.txt", "second"]]
    answer = page.evaluate(DROP, [target, files])
    assert answer == {"accepted": True, "dropped": True, "outline": False}
    for name in ("Dropped one.txt", "Dropped two.txt"):
        row(page, name).wait_for()
    expect(queue(page)).to_have_text(
        ["Dropped one.txt Uploaded", "Dropped two.txt Uploaded"], use_inner_text=True
    )
    download = row(page, "Dropped one.txt").get_by_role("link", name="Download")
    body = page.request.get(f"{live_drive.url}{download.get_attribute('href')}")
    assert body.text() == "first dropped file"


def test_pick_several_files_and_keep_both_for_the_taken_name(home, tmp_path):  # noqa: F811
    page = home
    documents(page)
    picker = page.locator("[data-drive-upload]")
    assert picker.get_attribute("multiple") is not None
    notes, fresh = tmp_path / "Notes.txt", tmp_path / "Fresh.txt"
    notes.write_text("a second Notes")
    fresh.write_text("fresh")
    picker.set_input_files([notes, fresh])
    status = page.locator("[data-drive-status]")
    keep = status.get_by_role("button", name="Keep both")
    expect(keep).to_be_focused()  # the queue waits for the answer about Notes.txt
    expect(queue(page).nth(1)).to_contain_text("Waiting")
    keep.click()
    row(page, "Notes 1.txt").wait_for()
    row(page, "Fresh.txt").wait_for()
    expect(queue(page)).to_have_text(
        ["Notes.txt Uploaded", "Fresh.txt Uploaded"], use_inner_text=True
    )
    assert row(page, "Notes.txt").count() == 1  # the other file stays


def test_cancel_a_waiting_file_and_the_rest_still_go(home, live_drive, tmp_path):  # noqa: F811
    page = home
    documents(page)
    names = ("Slow.txt", "Skipped.txt", "Last.txt")
    paths = []
    for name in names:
        path = tmp_path / name
        path.write_text(name)
        paths.append(path)
    requests.post(
        f"{live_drive.standin}/_standin/faults",
        json={"area": "graph", "mode": "slow", "count": 1, "delay": 1.5},
        timeout=TIMEOUT,
    ).raise_for_status()
    page.locator("[data-drive-upload]").set_input_files(paths)
    expect(queue(page).first).to_contain_text("Uploading")
    page.get_by_role("button", name="Cancel upload of “Skipped.txt”").click()
    expect(queue(page).nth(1)).to_have_text("Skipped.txt Cancelled", use_inner_text=True)
    row(page, "Last.txt").wait_for()
    expect(queue(page)).to_have_text(
        ["Slow.txt Uploaded", "Skipped.txt Cancelled", "Last.txt Uploaded"], use_inner_text=True
    )
    assert row(page, "Skipped.txt").count() == 0
    calm(live_drive)
