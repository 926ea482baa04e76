"""In Chromium, Admin > Inbound Email as a person sees it: the list's Create sits where User
Management's does, and the Users list of "Who sees its mail" is disabled (skipped by Tab)
while "All users" is chosen, on Create and on a mailbox's page."""

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.users import directory as users
from tests.conftest import browser_login

pytestmark = pytest.mark.browser


@pytest.fixture
def admin_page(live_server, page):
    """The admin signed in, with one more user to choose."""
    with live_server.db():
        users.create_user(None, "admin", "admin@crm.example", "admin-password", is_admin=True)
        users.create_user(
            None,
            "sally",
            "sally@crm.example",
            "sally-password",
            first_name="Sally",
            last_name="Bronsen",
        )
        db.session.commit()
    browser_login(page, live_server.url, "admin", "admin-password")
    return page


def _right_edge(locator) -> float:
    box = locator.bounding_box()
    return box["x"] + box["width"]


def test_create_sits_at_the_right_of_the_header_as_in_user_management(live_server, admin_page):
    page = admin_page
    edges = {}
    for path in ("/admin/users", "/admin/email/inbound"):
        page.goto(f"{live_server.url}{path}")
        head = page.locator(".page-head")
        create = head.get_by_role("link", name="Create", exact=True)
        edges[path] = (_right_edge(create), _right_edge(head))
    assert edges["/admin/users"][0] == pytest.approx(edges["/admin/users"][1], abs=1)
    assert edges["/admin/email/inbound"] == pytest.approx(edges["/admin/users"], abs=1)
    back = page.get_by_role("link", name="Back to Admin")
    create = page.get_by_role("link", name="Create", exact=True)
    assert _right_edge(back) < create.bounding_box()["x"]  # beside it, on the right too


def test_the_users_list_is_disabled_under_all_users(live_server, admin_page):
    page = admin_page
    page.goto(f"{live_server.url}/admin/email/inbound/new")
    who = page.get_by_role("group", name="Who sees its mail")
    chosen_users = page.get_by_role("listbox", name="Users who see its mail")
    expect(who.get_by_role("radio", name="All users")).to_be_checked()
    expect(chosen_users).to_be_disabled()
    page.get_by_label("Name", exact=True).fill("Support")
    who.get_by_role("radio", name="All users").focus()
    page.keyboard.press("Tab")  # the disabled list is skipped
    expect(page.locator(":focus")).to_have_text("Create")

    who.get_by_role("radio", name="All users").focus()
    page.keyboard.press("ArrowDown")  # "Chosen users"
    expect(chosen_users).to_be_enabled()
    page.keyboard.press("Tab")
    expect(chosen_users).to_be_focused()
    chosen_users.select_option(label="Sally Bronsen (sally)")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.get_by_text("The mailbox “Support” was created.")).to_be_visible()

    mailbox = page.locator("section", has=page.get_by_role("heading", name="Mailbox", exact=True))
    chosen_users = mailbox.get_by_role("listbox", name="Users who see its mail")
    expect(chosen_users).to_be_enabled()  # the stored choice: Chosen users
    mailbox.get_by_role("radio", name="All users").check()
    expect(chosen_users).to_be_disabled()
    mailbox.get_by_role("button", name="Save").click()
    expect(page.get_by_text("The mailbox was saved.")).to_be_visible()
    expect(mailbox.get_by_role("radio", name="All users")).to_be_checked()
    expect(chosen_users).to_be_disabled()
