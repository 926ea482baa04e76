"""An admin connects a Microsoft account for a user through the pop-up, in Chromium."""

from contextlib import contextmanager

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.users import directory as users
from tests.conftest import browser_login, popup_of

pytestmark = pytest.mark.browser


@contextmanager
def sally_in_another_browser(browser, base_url: str, path: str):
    """Sally, signed in in a browser context of her own, on `path`."""
    context = browser.new_context()
    try:
        user_page = context.new_page()
        browser_login(user_page, base_url, "sally", "sally-password")
        user_page.goto(f"{base_url}{path}")
        yield user_page
    finally:
        context.close()


def test_admin_connects_for_a_user_who_then_sees_it(live_ms, page, browser):
    with live_ms.db():
        sally = users.create_user(
            None,
            "sally",
            "sally@crm.example",
            "sally-password",
            first_name="Sally",
            last_name="Bronsen",
        )
        db.session.commit()
        users.create_user(None, "admin", "admin@crm.example", "admin-password", is_admin=True)
        db.session.commit()
        sally_id = sally.id
    browser_login(page, live_ms.url, "admin", "admin-password")
    page.goto(f"{live_ms.url}/admin/users")
    page.get_by_role("link", name="sally").click()
    page.get_by_role("link", name="External Accounts").click()
    assert page.url.endswith(f"/admin/users/{sally_id}/edit/external-accounts")
    page.get_by_role("link", name="Create").click()
    page.get_by_label("Application").select_option("microsoft")
    with popup_of(page) as popup_info:
        page.get_by_role("button", name="Connect").click()
    popup = popup_info.value
    popup.get_by_role("button", name="Adele Vance").click()
    popup.get_by_role("button", name="Accept").click()
    page.wait_for_url("**/oauth/flows/*/confirm")  # nothing is stored before the admin confirms
    expect(
        page.get_by_role("heading", name="Confirm the account for Sally Bronsen")
    ).to_be_visible()
    assert (
        page.get_by_role("alert")
        .inner_text()
        .startswith(
            "The account that signed in, adele@contoso.example, is not Sally Bronsen's email"
        )
    )
    page.get_by_role("button", name="Store Adele Vance's access on Sally Bronsen's account").click()
    page.wait_for_url(f"**/admin/users/{sally_id}/edit/external-accounts")
    expect(page.get_by_text("adele@contoso.example is connected")).to_be_visible()

    page.goto(f"{live_ms.url}/profile/edit/external-accounts")
    expect(page.get_by_text("No external accounts yet")).to_be_visible()

    with sally_in_another_browser(browser, live_ms.url, "/profile/edit/external-accounts") as own:
        row = own.get_by_role("row", name="Microsoft")
        assert "Adele Vance" in row.inner_text() and "Connected" in row.inner_text()
        assert "Connected by admin on" in row.inner_text()


def authorize_as_adele(page) -> None:
    """Authorize in the pop-up, sign in as Adele and accept; the page asks to confirm."""
    with popup_of(page) as popup_info:
        page.get_by_role("button", name="Authorize").first.click()
    popup = popup_info.value
    popup.get_by_role("button", name="Adele Vance").click()
    popup.get_by_role("button", name="Accept").click()
    page.wait_for_url("**/oauth/flows/*/confirm")


def test_admin_authorizes_a_users_email_from_user_management(live_ms, page, browser):
    with live_ms.db():
        users.create_user(None, "sally", "sally@crm.example", "sally-password", first_name="Sally")
        db.session.commit()
        users.create_user(None, "admin", "admin@crm.example", "admin-password", is_admin=True)
        db.session.commit()
    browser_login(page, live_ms.url, "admin", "admin-password")
    page.goto(f"{live_ms.url}/admin/users")
    page.get_by_role("link", name="sally").click()
    page.get_by_role("link", name="Email Settings").click()
    expect(page.get_by_text("You are acting for Sally")).to_be_visible()
    authorize_as_adele(page)
    page.get_by_role("button", name="Cancel").click()  # the admin changes their mind
    page.wait_for_url("**/admin/email/users/*")
    expect(page.get_by_text("Cancelled: nothing was stored")).to_be_visible()
    authorize_as_adele(page)
    page.get_by_role("button", name="Store Adele Vance's access").click()
    page.wait_for_url("**/admin/email/users/*")
    expect(page.get_by_text("Authorized adele@contoso.example for SMTP and IMAP.")).to_be_visible()

    with sally_in_another_browser(browser, live_ms.url, "/emails/settings") as own:
        address = own.locator('[data-authorized-email="mail"]')
        assert address.inner_text() == "adele@contoso.example"
