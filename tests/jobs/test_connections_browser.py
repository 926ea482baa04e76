"""Admin > Connections > Mailbox sync in Chromium: no WCAG violation (axe-core), and Check now
reached and pressed with the keyboard alone (SQLite: it runs inline and the page says when)."""

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.users import directory
from tests.conftest import browser_login, running_app
from tests.core.test_accessibility import AXE_SCRIPT, RUN_AXE, WCAG_TAGS, axe_source  # noqa: F401
from tests.jobs import fleet

pytestmark = pytest.mark.browser


@pytest.fixture
def site(tmp_path, mail_standin_process, imap_port):
    """gunicorn on SQLite with an admin and two mailboxes (three new messages each) behind the
    stand-in's IMAP proxy."""
    standin = mail_standin_process[0]
    port = fleet.start_proxy(standin, 0)
    with running_app(tmp_path, {"MAIL_ALLOWED_HOSTS": f"127.0.0.1:{port}"}) as server:
        with server.db():
            directory.create_user(
                None, "admin", "admin@crm.example", "admin-password", is_admin=True
            )
            db.session.commit()
            fleet.make_accounts(standin, 2, messages=3, port=port)
        yield server


def _violations(page, source: str) -> list:
    page.wait_for_load_state()
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(source)
    return page.evaluate(RUN_AXE, WCAG_TAGS)


def test_mailbox_sync_by_keyboard_without_wcag_violations(site, page, axe_source):  # noqa: F811
    browser_login(page, site.url, "admin", "admin-password")
    page.goto(f"{site.url}/admin/connections")
    expect(page.get_by_role("heading", name="Mailbox sync")).to_be_visible()
    assert _violations(page, axe_source) == []

    button = page.get_by_role("button", name="Check now Fleet 0")
    for _ in range(80):  # Tab through the page until the button has the focus
        page.keyboard.press("Tab")
        if button.evaluate("(element) => element === document.activeElement"):
            break
    else:
        pytest.fail("Tab never reached Check now")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Fleet 0: Imported 3 new messages.")
    row = page.get_by_role("row").filter(has=button)  # Mailbox sync's row, not its authorization's
    expect(row).to_contain_text("Imported 3 new messages.")
    other = page.get_by_role("button", name="Check now Fleet 1")
    expect(page.get_by_role("row").filter(has=other)).to_contain_text("Never")
    assert _violations(page, axe_source) == []
