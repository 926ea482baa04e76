"""SQLite, one machine: no task queue; cron and Check now run the same job functions inline."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.connect.models import CONNECTED, NEEDS_RECONNECT
from app.core import times
from app.core.db import utcnow
from app.extensions import db
from app.jobs import functions
from app.mail.models import MailAccount, MailMessage
from app.users.models import User
from tests.jobs import fleet
from tests.mail.conftest import allow_hosts, authorize, deleted_while_checked


@pytest.fixture
def database_url(tmp_path):
    """These tests are about the SQLite mode."""
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def mailboxes(mail_app, standin, imap_port):
    """Two mailboxes with three new messages each, behind the stand-in's IMAP proxy."""
    port = fleet.start_proxy(standin, 0)
    allow_hosts(mail_app, f"127.0.0.1:{port}")
    return fleet.make_accounts(standin, 2, messages=3, port=port)


def test_flask_mail_fetch_runs_inline_as_before(mailboxes, runner, standin):
    fetched = runner.invoke(args=["mail", "fetch"])
    assert fetched.exit_code == 0, fetched.output
    assert fetched.output.count("Imported 3 new messages.") == 2
    assert "Queued" not in fetched.output
    assert db.session.scalar(select(func.count(MailMessage.id))) == 6
    again = runner.invoke(args=["mail", "fetch", "--inline"])
    assert again.output.count("No new messages.") == 2
    assert fleet.proxy_counts(standin)["peak"] == {
        fleet.mailbox_address(0): 1,
        fleet.mailbox_address(1): 1,
    }


def test_flask_worker_refuses_sqlite_in_words(runner):
    refused = runner.invoke(args=["worker"])
    assert refused.exit_code != 0
    assert "needs PostgreSQL" in refused.output and "flask mail fetch" in refused.output
    status = runner.invoke(args=["jobs", "status"])
    assert status.exit_code == 0 and "cron runs the jobs inline" in status.output


def test_check_now_in_connections_runs_inline_and_shows_when(mailboxes, auth, client):
    auth.login("admin", "admin-password")
    admin = db.session.scalar(select(User).where(User.username == "admin"))
    admin.time_zone = "Asia/Tokyo"
    db.session.commit()
    page = client.get("/admin/connections").get_data(as_text=True)
    assert "Mailbox sync" in page and page.count("Never") == 2
    assert "At the next <code>flask mail fetch</code>" in page

    checked = client.post(f"/admin/connections/mailboxes/{mailboxes[0]}/check")
    assert checked.status_code == 302
    page = client.get(checked.headers["Location"]).get_data(as_text=True)
    assert "Imported 3 new messages." in page
    account = db.session.get(MailAccount, mailboxes[0])
    shown = times.local(account.last_checked_at, "Asia/Tokyo", named=False)
    assert shown in page and "(Asia/Tokyo)" in page
    assert page.count("Never") == 1


def test_check_now_in_connections_of_a_mailbox_deleted_meanwhile_says_so(
    mailboxes, auth, client, monkeypatch
):
    auth.login("admin", "admin-password")
    deleted_while_checked(monkeypatch)
    checked = client.post(f"/admin/connections/mailboxes/{mailboxes[0]}/check")
    assert checked.status_code == 302
    page = client.get(checked.headers["Location"]).get_data(as_text=True)
    assert "Fleet 0: This mailbox was deleted while it was being checked." in page
    assert db.session.get(MailAccount, mailboxes[0]) is None


def test_flask_mail_fetch_skips_mailboxes_to_authorize_and_names_them(mailboxes, runner):
    first, second = (db.session.get(MailAccount, i) for i in mailboxes)
    second.status = NEEDS_RECONNECT
    db.session.commit()
    for imported in ("Imported 3 new messages.", "No new messages."):
        fetched = runner.invoke(args=["mail", "fetch"])
        assert fetched.exit_code == 0, fetched.output
        assert f"Fleet 0: {imported}" in fetched.output
        assert "Not synced until authorized again: Fleet 1." in fetched.output
        assert fetched.output.count("Fleet 1") == 1
        assert (
            "group-fleet" not in fetched.output and fleet.mailbox_address(1) not in fetched.output
        )
    assert db.session.scalar(select(func.count(MailMessage.id))) == 3


def test_flask_jobs_status_names_mailboxes_by_their_name(mailboxes, runner):
    db.session.get(MailAccount, mailboxes[1]).last_sync_error = "The server went away."
    db.session.commit()
    status = runner.invoke(args=["jobs", "status"])
    assert status.exit_code == 0, status.output
    assert "Fleet 1 (mailbox" in status.output and "The server went away." in status.output


def test_a_revoked_sign_in_reads_once_and_authorizing_again_clears_it(mailboxes, ms, auth, client):
    account = db.session.get(MailAccount, mailboxes[0])
    account.credential.expires_at = utcnow() - timedelta(minutes=1)
    db.session.get(MailAccount, mailboxes[1]).last_sync_error = "The server went away."
    db.session.commit()
    ms.control("POST", "/faults", {"area": "token", "mode": "invalid_grant"})
    assert not functions.sync_mailbox(mailboxes[0]).ran  # paused until authorized again
    ms.control("DELETE", "/faults")
    account = db.session.get(MailAccount, mailboxes[0])
    assert account.status == NEEDS_RECONNECT
    assert account.last_sync_error == functions.NOT_AUTHORIZED_PAUSE
    auth.login("admin", "admin-password")
    page = client.get("/admin/connections").get_data(as_text=True)
    last_error = re.search(r"<td>Paused until authorized again</td>\s*<td>(.*?)</td>", page)
    assert last_error and last_error.group(1).count("Not Authorized") == 1
    assert last_error.group(1).startswith(
        "Not Authorized: the mailbox is not synced until it is authorized again ("
    )

    for mailbox_id in mailboxes:
        authorize(client, f"/admin/email/inbound/{mailbox_id}/authorize/mail")
    db.session.expire_all()
    first, second = (db.session.get(MailAccount, i) for i in mailboxes)
    assert first.status == CONNECTED and first.last_sync_error == ""  # the pause is over
    assert second.last_sync_error == "The server went away."  # the next run says its own
    page = client.get("/admin/connections").get_data(as_text=True)
    assert "not synced" not in page and "Paused until authorized again" not in page
