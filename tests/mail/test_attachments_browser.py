"""In Chromium: an attachment of an imported message downloads, fetched from the mailbox on
demand, with the bytes that were sent."""

from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from tests.mail.conftest import ADELE_MAIL, TIMEOUT, authorize_in_popup, sally_at_email_settings

pytestmark = pytest.mark.browser
SIZE = 150_001


def test_an_attachment_of_an_imported_message_downloads_with_its_bytes(live_ms, page):
    servers = requests.get(f"{live_ms.standin}/_standin/mail/servers", timeout=TIMEOUT).json()
    sally_at_email_settings(live_ms, page)
    inbound = page.locator("section", has=page.get_by_role("heading", name="My Mailbox"))
    inbound.get_by_label("IMAP Server").fill("127.0.0.1")
    inbound.get_by_label("IMAP Port").fill(str(servers["imap"]["port"]))
    inbound.get_by_label("IMAP Security").select_option("none")
    inbound.get_by_label("Import into Emails").check()
    inbound.get_by_role("button", name="Save").click()
    expect(page.get_by_text("The inbound settings were saved.")).to_be_visible()
    authorize_in_popup(page, page.get_by_role("button", name="Authorize", exact=True))

    spec = {
        "subject": "Signed contract",
        "attachments": [{"name": "Vertrag für Adele.pdf", "size": SIZE}],
    }
    seeded = requests.post(
        f"{live_ms.standin}/_standin/mail/mailboxes/{ADELE_MAIL}/messages",
        json={"messages": [spec]},
        timeout=TIMEOUT,
    )
    assert seeded.status_code == 201
    page.get_by_role("button", name="Check now").click()
    expect(page.get_by_text("Imported 1 new message.").first).to_be_visible()
    page.get_by_role("link", name="Emails", exact=True).first.click()
    page.get_by_role("link", name="Signed contract").click()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Vertrag für Adele.pdf").click()
    download = download_info.value
    assert download.suggested_filename == "Vertrag für Adele.pdf"
    assert Path(download.path()).read_bytes() == bytes(i % 251 for i in range(SIZE))
    # Gone from the mailbox since: the words show on the page, with the way back.
    emptied = requests.delete(
        f"{live_ms.standin}/_standin/mail/mailboxes/{ADELE_MAIL}", timeout=TIMEOUT
    )
    assert emptied.ok
    page.get_by_role("link", name="Vertrag für Adele.pdf").click()
    expect(page.get_by_text("This message is no longer in the mailbox")).to_be_visible()
    page.get_by_role("link", name="Back to the message").click()
    expect(page.get_by_role("heading", name="Signed contract")).to_be_visible()
