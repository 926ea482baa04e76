"""Smoke: connect through the real pop-up in Chromium."""

import pytest

from app.services import users
from tests.conftest import browser_login

pytestmark = pytest.mark.browser


def test_popup_connect(live_ms, page):
    with live_ms.app().app_context():
        users.create_user(None, "sally", "sally@crm.example", "sally-password")
    browser_login(page, live_ms.url, "sally", "sally-password")
    page.goto(f"{live_ms.url}/profile/edit/external-accounts")
    page.get_by_role("link", name="Create").click()
    page.get_by_label("Application").select_option("microsoft")
    with page.expect_popup() as popup_info:
        page.get_by_role("button", name="Connect").click()
    popup = popup_info.value
    popup.get_by_role("button", name="Adele Vance").click()
    popup.get_by_role("button", name="Accept").click()
    page.wait_for_url("**/profile/edit/external-accounts?flow=*")
    assert page.get_by_text("adele@contoso.example is connected").is_visible()
    page.screenshot(path="/tmp/shots/connected.png", full_page=True)
