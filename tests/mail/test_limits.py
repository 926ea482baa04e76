"""Send Test Email, Test and Check now reach out to mail servers: each user may run a few a
minute (MAIL_TEST_RATE_LIMIT, Flask-Limiter), counted together on every settings page."""

from sqlalchemy import select

from app.extensions import db
from app.mail.views import TOO_MANY_TESTS
from app.users.models import User
from tests.mail.conftest import smtp_settings

SALLYS_ACTIONS = ("test-email", "test-inbound", "check")


def _user_id(username: str) -> int:
    return db.session.scalar(select(User.id).where(User.username == username))


def _refused(response, back: str) -> None:
    assert response.status_code == 429
    page = response.get_data(as_text=True)
    assert TOO_MANY_TESTS in page
    assert f'href="{back}"' in page  # the way back to the settings page


def test_mail_tests_are_limited_per_user(auth, client, app):
    app.config["MAIL_TEST_RATE_LIMIT"] = "3 per minute"
    auth.login()
    for action in SALLYS_ACTIONS:  # nothing is set up: each says so, and each counts
        assert client.post(f"/emails/settings/{action}").status_code == 302
    for action in SALLYS_ACTIONS:
        _refused(client.post(f"/emails/settings/{action}"), "/emails/settings")
    as_json = client.post("/emails/settings/check", headers={"Accept": "application/json"})
    assert as_json.status_code == 429 and as_json.get_json() == {"error": TOO_MANY_TESTS}
    assert client.get("/emails/settings").status_code == 200  # the page itself is not limited
    outbound = smtp_settings(587, smtp_host="smtp.office365.com", smtp_security="starttls")
    saved = client.post("/emails/settings/outbound", data=outbound)
    assert saved.status_code == 302  # neither is saving

    auth.logout()
    auth.login("admin", "admin-password")  # another user counts afresh
    sally = _user_id("sally")
    mailbox = client.post("/admin/email/inbound/new", data={"name": "Team", "visibility": "all"})
    inbound = mailbox.headers["Location"]  # an inbound mailbox's page
    for path in (
        "/admin/email/system/test-email",
        f"{inbound}/test-inbound",
        f"/admin/email/users/{sally}/check",
    ):
        assert client.post(path).status_code == 302, path
    _refused(client.post(f"{inbound}/check"), inbound)
    _refused(client.post("/admin/email/system/test-email"), "/admin/email/system")
    _refused(client.post(f"/admin/email/users/{sally}/test-email"), f"/admin/email/users/{sally}")


def test_the_limit_comes_from_the_configuration(auth, client, app):
    app.config["MAIL_TEST_RATE_LIMIT"] = "1 per minute"
    auth.login()
    assert client.post("/emails/settings/test-inbound").status_code == 302
    _refused(client.post("/emails/settings/test-inbound"), "/emails/settings")
