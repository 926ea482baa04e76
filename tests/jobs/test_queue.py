"""Mailbox syncs on procrastinate (PostgreSQL): workers in their own processes against the
stand-in's Dovecot behind its IMAP proxy, which counts the sessions of each mailbox."""

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from app.alerts.models import Alert
from app.connect.models import NEEDS_RECONNECT
from app.core.db import utcnow
from app.extensions import db
from app.jobs import functions, queue
from app.mail.models import MailAccount, MailMessage
from tests.jobs import fleet
from tests.mail.conftest import allow_hosts

pytestmark = pytest.mark.postgres
WAIT = 240  # seconds a test waits for the workers at most (they take a few on an idle machine)


@pytest.fixture
def database_url(queue_url):
    """These tests run on PostgreSQL only (the task queue)."""
    return queue_url


@pytest.fixture
def proxy(queue_app, standin):
    """The stand-in's IMAP proxy (20 ms per round trip), allowed as the operator would."""
    port = fleet.start_proxy(standin, 20)
    allow_hosts(queue_app, f"127.0.0.1:{port}")
    return port


def _messages_per_account() -> dict[int, tuple[int, int]]:
    """Rows and distinct Message-IDs imported per account."""
    rows = db.session.execute(
        select(
            MailMessage.account_id,
            func.count(MailMessage.id),
            func.count(func.distinct(MailMessage.message_id_header)),
        ).group_by(MailMessage.account_id)
    ).all()
    return {account: (count, distinct) for account, count, distinct in rows}


def _run_queued(app) -> None:
    """Run what is due in this process, as a worker would, then return. In a thread of its
    own: the worker runs an event loop, and this thread may have one already (Playwright's,
    when a browser test ran earlier in this process)."""
    failures = []

    def work():
        try:
            queue.queue(app).run_worker(
                wait=False, install_signal_handlers=False, listen_notify=False, concurrency=1
            )
        except Exception as error:  # noqa: BLE001  (reported in the test's thread)
            failures.append(error)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=WAIT)
    assert not thread.is_alive(), "the in-process worker did not finish"
    assert not failures, failures


def _jobs(app) -> list:
    with queue.deferring(app) as tasks:
        return list(tasks.job_manager.list_jobs(task=queue.SYNC_TASK))


def test_two_workers_sync_50_mailboxes_one_session_each_every_message_once(
    queue_app, standin, proxy, workers, runner
):
    queue_app.config["MAIL_FETCH_BATCH"] = 3  # several batches (commits) per mailbox
    ids = fleet.make_accounts(standin, 50, messages=7, port=proxy)
    fetched = runner.invoke(args=["mail", "fetch"])
    assert fetched.exit_code == 0, fetched.output
    assert "Queued 50 mailbox sync(s)" in fetched.output
    again = runner.invoke(args=["mail", "fetch"])  # nothing ran yet: every one is waiting
    assert "Queued 0 mailbox sync(s) for the workers (50 already waiting" in again.output
    for _ in range(2):
        workers.start(concurrency=4, MAIL_FETCH_BATCH="3")
    assert queue.wait_for_syncs(ids, WAIT) == 0, workers.output()
    queued = runner.invoke(args=["mail", "fetch", "--wait", "--timeout", str(WAIT)])
    assert queued.exit_code == 0, queued.output + workers.output()
    assert queued.output.count("No new messages.") == 50

    counts = fleet.proxy_counts(standin)
    addresses = {fleet.mailbox_address(i) for i in range(50)}
    assert set(counts["peak"]) == addresses
    assert max(counts["peak"].values()) == 1  # never two sessions of one mailbox at once
    assert min(counts["sessions"].values()) >= 2  # both rounds signed in to every mailbox
    db.session.expire_all()
    assert _messages_per_account() == {i: (7, 7) for i in ids}
    errors = db.session.scalars(select(MailAccount.last_sync_error)).all()
    assert errors == [""] * 50
    assert [j for j in _jobs(queue_app) if j.status == "failed"] == []


def _last_uid(account_id: int) -> int:
    db.session.expire_all()
    account = db.session.get(MailAccount, account_id)
    return max((s.last_uid for s in account.sync_states), default=0)


def test_a_worker_killed_mid_batch_the_next_one_completes_without_duplicates(
    queue_app, standin, workers, runner
):
    port = fleet.start_proxy(standin, 150)  # slow: the kill lands in the middle of the run
    allow_hosts(queue_app, f"127.0.0.1:{port}")
    (account_id,) = fleet.make_accounts(standin, 1, messages=40, port=port)
    quick = {"JOBS_HEARTBEAT_SECONDS": "0.5", "JOBS_STALLED_SECONDS": "3"}
    quick["JOBS_RECOVER_CRON"] = "* * * * * */2"
    first = workers.start(concurrency=2, MAIL_FETCH_BATCH="4", **quick)
    assert runner.invoke(args=["mail", "fetch"]).exit_code == 0
    deadline = time.monotonic() + WAIT
    while _last_uid(account_id) == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    reached = _last_uid(account_id)
    assert 0 < reached < 40, workers.output()
    workers.kill(first)
    db.session.expire_all()
    assert db.session.get(MailAccount, account_id).sync_lock_until > utcnow()  # its lease

    workers.start(concurrency=2, MAIL_FETCH_BATCH="4", **quick)
    deadline = time.monotonic() + WAIT
    while _last_uid(account_id) < 40 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert queue.wait_for_syncs([account_id], WAIT) == 0, workers.output()
    db.session.expire_all()
    assert _messages_per_account() == {account_id: (40, 40)}
    assert max(fleet.proxy_counts(standin)["peak"].values()) == 1


def test_a_429_with_retry_after_schedules_the_retry_no_sooner(queue_app, standin, proxy, ms):
    (account_id,) = fleet.make_accounts(standin, 1, messages=1, port=proxy)
    account = db.session.get(MailAccount, account_id)
    account.credential.expires_at = utcnow() - timedelta(minutes=1)  # the next use refreshes
    db.session.commit()
    ms.control("POST", "/faults", {"area": "token", "mode": "429", "retry_after": 600})
    queue.enqueue_syncs([account_id])
    before = utcnow()
    _run_queued(queue_app)

    (job,) = _jobs(queue_app)
    assert job.status == "todo" and job.attempts == 1
    assert job.scheduled_at >= before + timedelta(seconds=600)  # not the 30 s backoff
    db.session.expire_all()
    account = db.session.get(MailAccount, account_id)
    assert account.next_sync_at == job.scheduled_at
    assert "busy" in account.last_sync_error.lower() or "429" in account.last_sync_error


def test_a_dead_authorization_is_not_retried_and_alerts_once(
    queue_app, standin, proxy, ms, make_user
):
    make_user("admin", "admin-password", admin=True)  # told about a group mailbox
    (account_id,) = fleet.make_accounts(standin, 1, messages=1, port=proxy)
    account = db.session.get(MailAccount, account_id)
    account.credential.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    ms.control("POST", "/faults", {"area": "token", "mode": "invalid_grant"})
    for _ in range(2):
        queue.enqueue_syncs([account_id])
        _run_queued(queue_app)

    jobs = _jobs(queue_app)
    assert [(j.status, j.attempts) for j in jobs] == [
        ("succeeded", 1),
        ("succeeded", 1),
    ]  # ran once each
    db.session.expire_all()
    account = db.session.get(MailAccount, account_id)
    assert account.status == NEEDS_RECONNECT and account.next_sync_at is None
    assert account.last_sync_error == functions.NOT_AUTHORIZED_PAUSE  # said once, not doubled
    assert functions.syncable_accounts() == []  # the periodic round leaves it alone
    assert db.session.scalar(select(func.count(Alert.id))) == 1


def test_flask_worker_reconnects_after_its_database_connections_are_killed(
    queue_app, standin, proxy, workers, runner
):
    ids = fleet.make_accounts(standin, 2, messages=2, port=proxy)
    worker = workers.start(concurrency=2)
    name = f"crm-jobs %-{worker.pid}"
    # Running, not starting: connected, and its first round of periodic defers is done. A
    # failure of that first round stops procrastinate's worker (a supervisor restarts it), which
    # is another story than a running worker losing its connections.
    deadline = time.monotonic() + WAIT
    while not (_backends(name) and _periodic_defers()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _backends(name) and _periodic_defers(), workers.output()
    killed = db.session.execute(
        text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name LIKE :name"
        ),
        {"name": name},
    ).scalar()
    db.session.commit()
    assert killed >= 1
    fetched = runner.invoke(args=["mail", "fetch", "--wait", "--timeout", str(WAIT)])
    assert fetched.exit_code == 0, fetched.output + workers.output()
    assert worker.poll() is None
    db.session.expire_all()
    assert _messages_per_account() == {i: (2, 2) for i in ids}


def _periodic_defers() -> int:
    """Periodic jobs the workers deferred since the queue was emptied (the recovery round's)."""
    found = db.session.execute(text("SELECT count(*) FROM procrastinate_periodic_defers")).scalar()
    db.session.commit()
    return found


def _backends(name: str) -> int:
    found = db.session.execute(
        text("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE :name"),
        {"name": name},
    ).scalar()
    db.session.commit()
    return found


def test_check_now_in_connections_queues_a_sync(queue_app, standin, proxy, auth, client):
    (account_id,) = fleet.make_accounts(standin, 1, messages=2, port=proxy)
    auth.login("admin", "admin-password")
    for words in ("a sync is queued for the workers", "a sync is already waiting in the queue"):
        checked = client.post(f"/admin/connections/mailboxes/{account_id}/check")
        assert checked.status_code == 302
        assert words in client.get(checked.headers["Location"]).get_data(as_text=True)
    (job,) = _jobs(queue_app)
    assert job.status == "todo" and job.lock == queue.mailbox_lock(account_id)
    db.session.expire_all()
    assert db.session.get(MailAccount, account_id).next_sync_at is not None

    _run_queued(queue_app)
    db.session.expire_all()  # the test's session outlives requests; a server's would not
    page = client.get("/admin/connections").get_data(as_text=True)
    assert "Imported 2 new messages." in page and "In the next round" in page


def test_a_tenant_with_every_imap_slot_taken_waits(queue_app, standin, proxy, runner):
    from app.jobs import limits

    queue_app.config.update(JOBS_IMAP_PER_TENANT=1, JOBS_TENANT_BUSY_SECONDS=45)
    first, second = fleet.make_accounts(standin, 2, messages=1, port=proxy)
    queue.enqueue_syncs([second])
    before = utcnow()
    with limits.imap_slot(db.session.get(MailAccount, first)):  # one sync of the tenant runs
        _run_queued(queue_app)
    (job,) = _jobs(queue_app)
    assert job.status == "todo" and job.scheduled_at >= before + timedelta(seconds=45)
    status = runner.invoke(args=["jobs", "status"])
    assert "queued 0, running 0, retrying 1, failed 0" in status.output
    assert "are being synced already (JOBS_IMAP_PER_TENANT)" in status.output
    assert fleet.proxy_counts(standin)["sessions"] == {}  # it never signed in


def test_the_periodic_rounds_run_on_a_worker(queue_app, standin, proxy):
    (account_id,) = fleet.make_accounts(standin, 1, messages=2, port=proxy)
    with queue.deferring(queue_app) as tasks:
        for name in ("crm.sync_round", "crm.send_alerts", "crm.keep_tokens_alive"):
            tasks.tasks[name].defer(timestamp=int(time.time()))
    _run_queued(queue_app)  # the round queues the sync, which runs in the same pass
    with queue.deferring(queue_app) as tasks:
        jobs = {j.task_name: j.status for j in tasks.job_manager.list_jobs()}
    jobs.pop("crm.recover_stalled", None)  # its round is every 30 seconds: it may have come
    assert jobs == {
        "crm.sync_round": "succeeded",
        "crm.send_alerts": "succeeded",
        "crm.keep_tokens_alive": "succeeded",
        queue.SYNC_TASK: "succeeded",
    }
    db.session.expire_all()
    assert _messages_per_account() == {account_id: (2, 2)}
