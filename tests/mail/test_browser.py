"""In Chromium: authorize email in Email Settings through the pop-up, send a test email and a
composed one (both arrive at the stand-in's SMTP server), and import a mailbox."""

import pytest
import requests
from playwright.sync_api import expect

from tests.mail.conftest import ADELE_MAIL, TIMEOUT, authorize_in_popup, sally_at_email_settings

pytestmark = pytest.mark.browser


def _servers(base: str) -> dict:
    return requests.get(f"{base}/_standin/mail/servers", timeout=TIMEOUT).json()


def _outbox(base: str) -> list[dict]:
    return requests.get(f"{base}/_standin/mail/outbox", timeout=TIMEOUT).json()["messages"]


def test_authorize_send_compose_and_import(live_ms, page):
    servers = _servers(live_ms.standin)
    sally_at_email_settings(live_ms, page)

    outbound = page.locator("section", has=page.get_by_role("heading", name="Outbound Email"))
    assert outbound.get_by_label("SMTP Server").input_value() == "smtp.office365.com"
    outbound.get_by_label("SMTP Server").fill("127.0.0.1")
    outbound.get_by_label("SMTP Port").fill(str(servers["smtp"]["port"]))
    outbound.get_by_label("SMTP Security").select_option("none")
    outbound.get_by_role("button", name="Save").click()
    expect(page.get_by_text("The outbound settings were saved.")).to_be_visible()
    expect(page.get_by_text("Not Authorized").first).to_be_visible()
    # The mailbox to import, before authorizing: another server later would drop the tokens.
    inbound = page.locator("section", has=page.get_by_role("heading", name="My Mailbox"))
    assert inbound.get_by_label("IMAP Server").input_value() == "outlook.office365.com"
    assert not inbound.get_by_label("Import into Emails").is_checked()
    inbound.get_by_label("IMAP Server").fill("127.0.0.1")
    inbound.get_by_label("IMAP Port").fill(str(servers["imap"]["port"]))
    inbound.get_by_label("IMAP Security").select_option("none")
    inbound.get_by_label("Import into Emails").check()
    inbound.get_by_role("button", name="Save").click()
    expect(page.get_by_text("The inbound settings were saved.")).to_be_visible()

    authorize_in_popup(page, page.get_by_role("button", name="Authorize", exact=True))
    expect(page.get_by_text(f"Authorized {ADELE_MAIL} for SMTP and IMAP.")).to_be_visible()
    assert page.locator('[data-authorization="mail"]').inner_text() == "Authorized"
    assert page.locator('[data-authorized-email="mail"]').inner_text() == ADELE_MAIL

    page.get_by_role("button", name="Send Test Email").click()
    expect(page.get_by_text(f"The test email was sent to {ADELE_MAIL}.")).to_be_visible()
    assert [m["subject"] for m in _outbox(live_ms.standin)] == ["Test email from the CRM"]

    page.get_by_role("link", name="Compose").click()
    page.get_by_label("To").fill("max@fabrikam.example")
    page.get_by_label("Subject").fill("Hello from the browser")
    page.get_by_label("Body").fill("Typed in Chromium.")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_text("The message was sent.")).to_be_visible()
    (_, composed) = _outbox(live_ms.standin)
    assert (
        composed["rcpt_tos"] == ["max@fabrikam.example"] and "Typed in Chromium." in composed["raw"]
    )

    seeded = requests.post(
        f"{live_ms.standin}/_standin/mail/mailboxes/{ADELE_MAIL}/messages",
        json={"messages": [{"subject": "Welcome aboard", "html": "<p>Hi</p>"}], "count": 2},
        timeout=TIMEOUT,
    )
    assert seeded.status_code == 201
    page.get_by_role("link", name="Email Settings").click()
    page.get_by_role("button", name="Check now").click()
    expect(page.get_by_text("Imported 3 new messages.").first).to_be_visible()
    page.get_by_role("link", name="Emails", exact=True).first.click()
    page.get_by_role("link", name="Welcome aboard").click()
    expect(page.get_by_text("Received")).to_be_visible()
