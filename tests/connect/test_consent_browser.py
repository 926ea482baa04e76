"""Need admin approval, in Chromium against the stand-in's Northwind tenant (user consent off):
a user is told to ask their admin, the admin grants consent from the connector page, and the same
user then connects without being asked anything."""

import pytest
import requests

from app.extensions import db
from app.users import directory as users
from tests.conftest import STANDIN_CLIENT, browser_login, popup_of

pytestmark = pytest.mark.browser

NORTHWIND = "c0ffee00-0000-4000-8000-00000000a0a7"


def test_needs_admin_approval_then_the_admin_consents_and_the_user_connects(live_ms, page, browser):
    with live_ms.db():
        users.create_user(None, "nestor", "nestor@northwind.example", "nestor-password")
        users.create_user(None, "admin", "admin@crm.example", "admin-password", is_admin=True)
        db.session.commit()

    context = browser.new_context()  # Nestor's own browser; the admin uses `page`
    try:
        user_page = context.new_page()
        browser_login(user_page, live_ms.url, "nestor", "nestor-password")
        user_page.goto(f"{live_ms.url}/profile/edit/external-accounts")
        user_page.get_by_role("link", name="Create").click()
        user_page.get_by_label("Application").select_option("microsoft")
        with popup_of(user_page) as popup_info:
            user_page.get_by_role("button", name="Connect").click()
        popup = popup_info.value
        popup.get_by_role("button", name="Nestor Wilke").click()
        popup.get_by_role("heading", name="Need admin approval").wait_for()
        with popup.expect_event("close"):
            popup.get_by_role(
                "button", name="Return to the application without granting consent"
            ).click()
        user_page.wait_for_url("**/profile/edit/external-accounts?flow=*")
        message = user_page.locator(".flash-error").inner_text()
        assert "requires an administrator to approve this CRM" in message
        assert "Ask your CRM administrator to grant admin consent" in message

        # The admin, on the connector page: Grant admin consent, as Isaiah (Northwind's admin).
        browser_login(page, live_ms.url, "admin", "admin-password")
        page.goto(f"{live_ms.url}/admin/connectors/microsoft")
        page.get_by_text("Not granted from this CRM yet.").wait_for()
        page.get_by_role("button", name="Grant admin consent for your organization").click()
        page.get_by_role("button", name="Isaiah Langer").click()
        page.get_by_role("heading", name="Accept for your organization").wait_for()
        page.get_by_role("button", name="Accept").click()
        page.wait_for_url("**/admin/connectors/microsoft?flow=*")
        assert "Admin consent was granted" in page.locator(".flash-success").inner_text()
        assert (
            f"Granted for tenant {NORTHWIND}" in page.locator("#admin-consent-result").inner_text()
        )
        consents = requests.get(f"{live_ms.standin}/_standin/admin-consents", timeout=10).json()
        assert {(c["client_id"], c["tenant"]) for c in consents["admin_consents"]} == {
            (STANDIN_CLIENT[0], NORTHWIND)
        }

        # Nestor connects again: no approval page, no consent page, straight back.
        user_page.get_by_role("link", name="Create").click()
        user_page.get_by_label("Application").select_option("microsoft")
        with popup_of(user_page) as popup_info:
            user_page.get_by_role("button", name="Connect").click()
        popup = popup_info.value
        with popup.expect_event("close"):
            popup.get_by_role("button", name="Nestor Wilke").click()
        user_page.wait_for_url("**/profile/edit/external-accounts?flow=*")
        user_page.get_by_text("Microsoft account nestor@northwind.example is connected.").wait_for()
    finally:
        context.close()
