"""A run's outcome whichever button or job started it: a mailbox deleted while Check now runs
leads back to the list in words, and Admin > Connections shows the latest run's error and
"Paused" only for an authorization that is really dead."""

import pytest
from sqlalchemy import select

from app.extensions import db
from app.jobs import functions
from app.mail import importing
from app.mail.models import MailAccount
from tests.mail.conftest import (
    ADELE,
    ADELE_MAIL,
    SUPPORT,
    authorize,
    deleted_while_checked,
)

GONE = "This mailbox was deleted while it was being checked."
PAUSED = "Paused until authorized again"


@pytest.fixture
def full_access(ms):
    """Take and give back Adele's Full Access to support@ in the stand-in's Exchange."""

    def change(granted: bool):
        action = "grant" if granted else "revoke"
        body = {"mailbox": SUPPORT, "user": ADELE_MAIL, "right": "full_access"}
        ms.control("POST", f"/mail/delegation/{action}", body)

    return change


def _mailbox() -> MailAccount:
    db.session.expire_all()
    return db.session.scalar(select(MailAccount).where(MailAccount.role == "group"))


def _sync_table(client) -> str:
    page = client.get("/admin/connections").get_data(as_text=True)
    return page.split('id="mailbox-sync"', 1)[1]


def test_a_mailbox_deleted_while_check_now_runs_leads_back_to_the_list(
    client, support, mailctl, monkeypatch
):
    authorize(client, f"{support}/authorize/mail", oid=ADELE)
    mailctl.seed(SUPPORT, messages=[{"subject": "Printer on fire", "to": SUPPORT}])
    deleted_while_checked(monkeypatch)
    checked = client.post(f"{support}/check")
    assert checked.status_code == 302, checked.get_data(as_text=True)[:2000]
    assert checked.headers["Location"] == "/admin/email/inbound"
    listing = client.get("/admin/email/inbound").get_data(as_text=True)
    assert GONE in listing
    assert _mailbox() is None


def test_a_sync_job_of_a_mailbox_deleted_meanwhile_ends_quietly(
    client, support, mailctl, monkeypatch
):
    authorize(client, f"{support}/authorize/mail", oid=ADELE)
    mailctl.seed(SUPPORT, messages=[{"subject": "Printer on fire", "to": SUPPORT}])
    account_id = _mailbox().id
    deleted_while_checked(monkeypatch)
    outcome = functions.sync_mailbox(account_id)
    assert not outcome.ran and outcome.message == GONE


def test_a_refused_full_access_is_not_paused_and_a_later_check_clears_the_error(
    client, support, mailctl, full_access
):
    full_access(False)
    authorize(client, f"{support}/authorize/mail", oid=ADELE)
    mailctl.seed(SUPPORT, messages=[{"subject": f"Ticket {n}", "to": SUPPORT} for n in range(5)])
    with pytest.raises(importing.MailError):
        functions.sync_mailbox(_mailbox().id)  # as Connections' Check now or the job
    table = _sync_table(client)
    assert "has no Full Access to" in table
    assert PAUSED not in table  # the sign-in is valid: Exchange refused the shared mailbox

    full_access(True)
    authorize(client, f"{support}/authorize/mail", oid=ADELE)
    client.post(f"{support}/check")  # the mailbox's own Check now
    assert _mailbox().last_check_message == "Imported 5 new messages."
    assert _mailbox().last_sync_error == ""
    table = _sync_table(client)
    assert "has no Full Access to" not in table and PAUSED not in table


def test_the_mailbox_pages_check_now_records_its_error_for_connections(
    client, support, full_access
):
    full_access(False)
    authorize(client, f"{support}/authorize/mail", oid=ADELE)
    client.post(f"{support}/check")
    assert "has no Full Access to" in _mailbox().last_sync_error
    assert "has no Full Access to" in _sync_table(client)


def test_a_not_authorized_mailbox_shows_paused_and_authorizing_resumes_it(client, support, ms):
    assert _mailbox().status == "not_connected"
    assert PAUSED in _sync_table(client)
    assert _mailbox().id not in functions.syncable_accounts()

    authorize(client, f"{support}/authorize/mail", oid=ADELE)
    ms.control("POST", "/revoke", {"oid": ADELE})
    ms.control("POST", "/expire", {"access_tokens": True})
    outcome = functions.sync_mailbox(_mailbox().id)
    assert not outcome.ran and _mailbox().status == "needs_reconnect"
    assert _mailbox().next_sync_at is None and PAUSED in _sync_table(client)

    authorize(client, f"{support}/authorize/mail", oid=ADELE)
    assert _mailbox().status == "connected"
    assert PAUSED not in _sync_table(client)
