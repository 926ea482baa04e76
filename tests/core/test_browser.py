"""The app shell in headless Chromium against gunicorn: sign in, Profile, Edit tabs, password
change, Admin > User Management > Create, and the 403 page.

Set SCREENSHOT_DIR to save a screenshot of the login, Profile and User Management pages there.
"""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.conftest import browser_login

pytestmark = pytest.mark.browser

SCREENSHOT_DIR = os.environ.get("SCREENSHOT_DIR", "")


def screenshot(page, name: str) -> None:
    """Save a full-page screenshot when SCREENSHOT_DIR is set (never in a normal run)."""
    if SCREENSHOT_DIR:
        Path(SCREENSHOT_DIR).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOT_DIR) / f"{name}.png"), full_page=True)


def add_user(server, username, password, *, admin=False, first="Sally", last="Bronsen"):
    """Create a user on the live server's database through the users service."""
    from app.extensions import db
    from app.users import directory as users

    with server.app().app_context():
        users.create_user(
            None,
            username,
            f"{username}@crm.example",
            password,
            is_admin=admin,
            first_name=first,
            last_name=last,
        )
        db.session.commit()


def open_user_menu(page):
    """Open the avatar menu in the top bar."""
    page.get_by_label("User menu").click()
    assert page.locator("details.usermenu").get_attribute("open") is not None


def log_out(page, base_url):
    """User menu > Log Out lands on the login page with a notice."""
    open_user_menu(page)
    page.get_by_role("menuitem", name="Log Out").click()
    page.wait_for_url(f"{base_url}/login")
    expect(page.get_by_text("You have been logged out.")).to_be_visible()


def try_login(page, base_url, username, password):
    """Fill and submit the login form without expecting success."""
    page.goto(f"{base_url}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log In").click()
    page.wait_for_load_state()


def test_sign_in_and_wrong_password(live_server, page):
    url = live_server.url
    add_user(live_server, "sally", "sally-password")

    page.goto(f"{url}/login")
    expect(page.get_by_role("heading", name="Log In")).to_be_visible()
    screenshot(page, "login")

    try_login(page, url, "sally", "not-her-password")
    assert page.url.startswith(f"{url}/login")
    expect(page.get_by_text("Invalid username or password")).to_be_visible()
    assert page.get_by_label("User menu").count() == 0

    browser_login(page, url, "sally", "sally-password")
    expect(page.get_by_label("User menu")).to_be_visible()
    assert page.locator(".usermenu-name").inner_text() == "Sally Bronsen"


def test_profile_tabs_and_password_change(live_server, page):
    url = live_server.url
    add_user(live_server, "sally", "sally-password")
    browser_login(page, url, "sally", "sally-password")

    open_user_menu(page)
    assert page.get_by_role("menuitem", name="Admin").count() == 0
    page.get_by_role("menuitem", name="Profile").click()
    page.wait_for_url(f"{url}/profile/")
    expect(page.get_by_role("heading", name="Sally Bronsen")).to_be_visible()
    expect(page.locator("dl.record").get_by_text("sally@crm.example")).to_be_visible()
    screenshot(page, "profile")

    page.get_by_role("link", name="Edit", exact=True).click()
    page.wait_for_url(f"{url}/profile/edit/user-profile")
    tabs = page.get_by_role("navigation", name="Edit tabs")
    assert tabs.get_by_role("link", name="User Profile").get_attribute("aria-current") == "page"
    assert page.get_by_label("First Name").input_value() == "Sally"

    tabs.get_by_role("link", name="Password").click()
    page.wait_for_url(f"{url}/profile/edit/password")
    assert tabs.get_by_role("link", name="Password").get_attribute("aria-current") == "page"
    page.get_by_label("Current Password", exact=True).fill("sally-password")
    page.get_by_label("New Password", exact=True).fill("brand-new-secret")
    page.get_by_label("Confirm Password", exact=True).fill("brand-new-secret")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(f"{url}/profile/edit/password")
    expect(page.get_by_text("The password was changed.")).to_be_visible()

    log_out(page, url)
    try_login(page, url, "sally", "sally-password")
    expect(page.get_by_text("Invalid username or password")).to_be_visible()
    browser_login(page, url, "sally", "brand-new-secret")
    expect(page.get_by_label("User menu")).to_be_visible()


def test_admin_creates_user_who_signs_in(live_server, page):
    url = live_server.url
    add_user(live_server, "admin", "admin-password", admin=True, first="Ada", last="Admin")
    browser_login(page, url, "admin", "admin-password")

    open_user_menu(page)
    page.get_by_role("menuitem", name="Admin").click()
    page.wait_for_url(f"{url}/admin/")
    page.get_by_role("link", name=re.compile("User Management")).click()
    page.wait_for_url(f"{url}/admin/users")
    expect(page.get_by_role("heading", name="User Management")).to_be_visible()
    expect(page.get_by_role("cell", name="admin@crm.example")).to_be_visible()
    screenshot(page, "user_management")

    page.get_by_role("link", name="Create", exact=True).click()
    page.wait_for_url(f"{url}/admin/users/new")
    page.get_by_label("Username").fill("newbie")
    page.get_by_label("Email").fill("newbie@crm.example")
    page.get_by_label("First Name").fill("Nora")
    page.get_by_label("Last Name").fill("Newbie")
    page.get_by_label("Password").fill("newbie-password")
    page.get_by_role("button", name="Create", exact=True).click()
    page.wait_for_url(re.compile(r"/admin/users/\d+/edit/user-profile$"))
    expect(page.get_by_text("User newbie was created.")).to_be_visible()

    page.goto(f"{url}/admin/users")
    expect(page.get_by_role("link", name="newbie", exact=True)).to_be_visible()

    log_out(page, url)
    browser_login(page, url, "newbie", "newbie-password")
    assert page.locator(".usermenu-name").inner_text() == "Nora Newbie"


def test_non_admin_gets_403_page(live_server, page):
    url = live_server.url
    add_user(live_server, "sally", "sally-password")
    browser_login(page, url, "sally", "sally-password")

    response = page.goto(f"{url}/admin/")
    assert response is not None and response.status == 403
    expect(page.get_by_text("do not have permission")).to_be_visible()
    assert page.get_by_role("heading", name="User Management").count() == 0
