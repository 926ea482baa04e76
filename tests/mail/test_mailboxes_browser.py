"""In Chromium, against the live app, the stand-in and its Dovecot: an admin creates two inbound
mailboxes in Admin > Inbound Email, Sales (seen by all users) and Support, a shared mailbox
authorized through the pop-up by a delegate with Full Access; each imports its own mail; a user
allowed to see only Support sees only its mail (a direct URL to another mailbox's message is a
404); the delegate losing Full Access is said in words and nothing imported is lost; the
mailbox form works from the keyboard."""

import pytest
import requests
from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.mail.models import MailAccount, MailMessage
from app.users import directory as users
from tests.conftest import browser_login
from tests.mail.conftest import ADELE_MAIL, MEGAN_MAIL, TIMEOUT, authorize_in_popup

pytestmark = pytest.mark.browser
SUPPORT = "support@contoso.example"  # seeded in the stand-in: Adele Vance has Full Access


def _people(live_ms) -> None:
    with live_ms.db():
        users.create_user(
            None, "admin", "admin@crm.example", "admin-password", is_admin=True, first_name="Ada"
        )
        for username, first, last in (("sally", "Sally", "Bronsen"), ("max", "Max", "Weber")):
            users.create_user(
                None,
                username,
                f"{username}@crm.example",
                f"{username}-password",
                first_name=first,
                last_name=last,
            )
        db.session.commit()


def _deliver(live_ms, mailbox: str, subject: str) -> None:
    delivered = requests.post(
        f"{live_ms.standin}/_standin/mail/mailboxes/{mailbox}/messages",
        json={"messages": [{"subject": subject, "to": mailbox}]},
        timeout=TIMEOUT,
    )
    assert delivered.status_code == 201, delivered.text


def _delegation(live_ms, action: str, right: str = "full_access") -> None:
    body = {"mailbox": SUPPORT, "user": ADELE_MAIL, "right": right}
    changed = requests.post(
        f"{live_ms.standin}/_standin/mail/delegation/{action}", json=body, timeout=TIMEOUT
    )
    assert changed.status_code == 200, changed.text


def _imap_port(live_ms) -> int:
    servers = requests.get(f"{live_ms.standin}/_standin/mail/servers", timeout=TIMEOUT).json()
    if not servers["imap"]:
        pytest.fail("the stand-in runs no IMAP server (is Dovecot installed?)")
    return servers["imap"]["port"]


def _inbound(page):
    heading = page.get_by_role("heading", name="Inbound Email (monitored group mailbox)")
    return page.locator("section", has=heading)


def _point_at_dovecot(page, imap_port: int) -> None:
    """The mailbox's IMAP settings: the stand-in's Dovecot, Import into Emails on."""
    inbound = _inbound(page)
    assert inbound.get_by_label("IMAP Server").input_value() == "outlook.office365.com"
    assert inbound.get_by_label("Import into Emails").is_checked()  # a new mailbox imports
    inbound.get_by_label("IMAP Server").fill("127.0.0.1")
    inbound.get_by_label("IMAP Port").fill(str(imap_port))
    inbound.get_by_label("IMAP Security").select_option("none")
    inbound.get_by_role("button", name="Save").click()
    expect(page.get_by_text("The inbound settings were saved.")).to_be_visible()


def _authorize(page, person: str) -> None:
    """Authorize in the pop-up as `person` (the stand-in's picker, then its consent page)."""
    button = page.get_by_role("button", name="Authorize", exact=True)
    authorize_in_popup(page, button, person, back="**/admin/email/inbound/*?flow=*")
    expect(page.locator('[data-authorization="mail"]')).to_have_text("Authorized")


def _check_now(page, words: str) -> None:
    _inbound(page).get_by_role("button", name="Check now").click()
    expect(page.locator(".flash").filter(has_text=words)).to_be_visible()


def _create(page, base: str, name: str, shared: str = "", viewer: str = "") -> None:
    page.goto(f"{base}/admin/email/inbound")
    page.get_by_role("link", name="Create", exact=True).click()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Shared mailbox address").fill(shared)
    who = page.get_by_role("group", name="Who sees its mail")  # the radios' fieldset
    assert who.get_by_role("radio", name="All users").is_checked()
    if viewer:
        who.get_by_role("radio", name="Chosen users").check()
        page.get_by_role("listbox", name="Users who see its mail").select_option(label=viewer)
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.get_by_text(f"The mailbox “{name}” was created.")).to_be_visible()
    expect(page.get_by_role("heading", name=f"Inbound Email: {name}")).to_be_visible()


def _message_id(live_ms, subject: str) -> tuple[int, int]:
    """(the message's id, its mailbox's id), as stored by the live app."""
    with live_ms.db():
        message = db.session.scalar(select(MailMessage).where(MailMessage.subject == subject))
        return message.id, message.account_id


def _mailbox_links(page):
    return page.get_by_role("navigation", name="Mailboxes").get_by_role("link")


@pytest.fixture
def other_page(browser):
    """A second browser (its own cookies) for another user, side by side with the admin's."""
    context = browser.new_context()
    context.set_default_timeout(15000)
    yield context.new_page()
    context.close()


def test_two_mailboxes_one_shared_each_imported_and_seen_by_whom_it_may(live_ms, page, other_page):
    imap_port = _imap_port(live_ms)
    _people(live_ms)
    browser_login(page, live_ms.url, "admin", "admin-password")
    page.goto(f"{live_ms.url}/admin/")
    page.get_by_role("link", name="Inbound Email").click()
    expect(page.get_by_text("No inbound mailbox yet.")).to_be_visible()

    _create(page, live_ms.url, "Sales")
    _point_at_dovecot(page, imap_port)
    _authorize(page, "Megan Bowen")
    signed_in = page.locator('[data-signed-in="mail"]')
    expect(signed_in).to_have_text(f"Signed in as Megan Bowen ({MEGAN_MAIL})")
    assert page.locator('[data-shared-mailbox="mail"]').count() == 0

    _create(page, live_ms.url, "Support", shared=SUPPORT, viewer="Sally Bronsen (sally)")
    _point_at_dovecot(page, imap_port)
    _authorize(page, "Adele Vance")
    expect(signed_in).to_have_text(f"Signed in as Adele Vance (delegate) for {SUPPORT}")
    expect(page.locator('[data-shared-mailbox="mail"]')).to_have_text(SUPPORT)
    expect(page.locator('[data-authorized-email="mail"]')).to_have_text(ADELE_MAIL)

    _deliver(live_ms, MEGAN_MAIL, "Quarterly pipeline")
    _deliver(live_ms, SUPPORT, "Printer on fire")
    _deliver(live_ms, ADELE_MAIL, "Adele's own mail")  # the delegate's own mailbox: not Support
    _check_now(page, "Imported 1 new message.")
    page.get_by_role("link", name="Back to Inbound Email").click()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text(MEGAN_MAIL)
    expect(rows.nth(0)).to_contain_text("All users")
    expect(rows.nth(1)).to_contain_text(f"{SUPPORT} (shared, delegate Adele Vance)")
    expect(rows.nth(1)).to_contain_text("Sally Bronsen")
    page.get_by_role("link", name="Sales", exact=True).click()
    _check_now(page, "Imported 1 new message.")

    # Sales is for Max only from now on.
    mailbox = page.locator("section", has=page.get_by_role("heading", name="Mailbox", exact=True))
    mailbox.get_by_role("radio", name="Chosen users").check()
    mailbox.get_by_role("listbox").select_option(label="Max Weber (max)")
    mailbox.get_by_role("button", name="Save").click()
    expect(page.get_by_text("The mailbox was saved.")).to_be_visible()

    sales_message, sales = _message_id(live_ms, "Quarterly pipeline")
    support_message, support = _message_id(live_ms, "Printer on fire")
    with live_ms.db():
        assert db.session.get(MailAccount, support).shared_address == SUPPORT
        assert (
            db.session.scalar(
                select(MailMessage.id).where(MailMessage.subject == "Adele's own mail")
            )
            is None
        )

    sally = other_page
    browser_login(sally, live_ms.url, "sally", "sally-password")
    sally.get_by_role("link", name="Emails", exact=True).click()
    expect(_mailbox_links(sally)).to_have_text(["My Emails", "Support"], use_inner_text=True)
    sally.get_by_role("link", name="Support", exact=True).click()
    expect(sally.get_by_role("link", name="Printer on fire")).to_be_visible()
    assert sally.get_by_text("Quarterly pipeline").count() == 0
    assert sally.get_by_text("Adele's own mail").count() == 0
    sally.get_by_role("link", name="Printer on fire").click()
    assert sally.url.endswith(f"/emails/{support_message}")
    expect(sally.get_by_text("Received")).to_be_visible()
    for path in (f"/emails/{sales_message}", f"/emails/?folder={sales}"):
        assert sally.goto(f"{live_ms.url}{path}").status == 404, path
        assert sally.get_by_text("Quarterly pipeline").count() == 0

    page.context.clear_cookies()  # the admin leaves; Max sees Sales, not Support
    browser_login(page, live_ms.url, "max", "max-password")
    page.get_by_role("link", name="Emails", exact=True).click()
    expect(_mailbox_links(page)).to_have_text(["My Emails", "Sales"], use_inner_text=True)
    assert page.goto(f"{live_ms.url}/emails/{support_message}").status == 404
    assert page.goto(f"{live_ms.url}/emails/{sales_message}").status == 200


def test_a_mailbox_made_by_keyboard_whose_delegate_loses_full_access(live_ms, page):
    imap_port = _imap_port(live_ms)
    _people(live_ms)
    browser_login(page, live_ms.url, "admin", "admin-password")
    page.goto(f"{live_ms.url}/admin/email/inbound/new")
    page.get_by_label("Name", exact=True).focus()
    page.keyboard.type("Support")
    page.keyboard.press("Tab")
    page.keyboard.type(SUPPORT)
    page.keyboard.press("Tab")  # onto the checked radio of "Who sees its mail"
    page.keyboard.press("ArrowDown")  # "Chosen users"
    page.keyboard.press("Tab")  # the list of users
    page.keyboard.press("s")  # type-ahead: Sally Bronsen (sally)
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Create")
    page.keyboard.press("Enter")
    expect(page.get_by_text("The mailbox “Support” was created.")).to_be_visible()
    mailbox = page.locator("section", has=page.get_by_role("heading", name="Mailbox", exact=True))
    assert mailbox.get_by_label("Shared mailbox address").input_value() == SUPPORT
    assert mailbox.get_by_role("radio", name="Chosen users").is_checked()
    assert mailbox.locator("select option:checked").all_inner_texts() == ["Sally Bronsen (sally)"]

    _point_at_dovecot(page, imap_port)
    _authorize(page, "Adele Vance")
    _deliver(live_ms, SUPPORT, "First ticket")
    _check_now(page, "Imported 1 new message.")

    _delegation(live_ms, "revoke")
    _deliver(live_ms, SUPPORT, "Second ticket")
    _inbound(page).get_by_role("button", name="Check now").click()
    failed = page.locator(".flash-error")
    expect(failed).to_contain_text(
        f"Check failed: Exchange Online refused to open {SUPPORT} with the sign-in of Adele Vance"
    )
    expect(failed).to_contain_text(f"Adele Vance has no Full Access to {SUPPORT}")
    expect(failed).to_contain_text("nothing imported before was lost")
    # The sign-in itself works: no Reconnect is asked for.
    expect(page.locator('[data-authorization="mail"]')).to_have_text("Authorized")
    _, support = _message_id(live_ms, "First ticket")
    page.goto(f"{live_ms.url}/emails/?folder={support}")
    expect(page.get_by_role("link", name="First ticket")).to_be_visible()
    assert page.get_by_text("Second ticket").count() == 0

    _delegation(live_ms, "grant")
    page.goto(f"{live_ms.url}/admin/email/inbound/{support}")
    _check_now(page, "Imported 1 new message.")
    page.goto(f"{live_ms.url}/emails/?folder={support}")
    expect(page.get_by_role("link", name="First ticket")).to_be_visible()
    expect(page.get_by_role("link", name="Second ticket")).to_be_visible()
