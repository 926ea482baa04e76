"""The jobs on procrastinate, the PostgreSQL task queue (DATABASE_URL postgresql://…): the
tasks (each runs a job function of app/jobs/functions.py in an app context), the periodic
rounds, the retry rule, and deferring from the app. The app only defers; `flask worker` runs.

One procrastinate App per Flask app, built on first use (app.extensions["procrastinate"]),
with procrastinate's PsycopgConnector: a worker opens it asynchronously; the web app and the
CLI defer through its synchronous side (procrastinate's documented use from sync code)."""

import logging
import os
import socket
import time
from collections import Counter
from contextlib import contextmanager

import procrastinate
from flask import Flask, current_app
from procrastinate.exceptions import AlreadyEnqueued, ConnectorException

from app.extensions import db
from app.jobs import functions

SYNC_TASK = "crm.sync_mailbox"
QUEUE = "procrastinate_"  # the prefix of every table, type and function of the queue
FINISHED = {"succeeded", "failed", "cancelled", "aborted"}
log = logging.getLogger(__name__)


def uses_queue(app: Flask) -> bool:
    """Whether the jobs run on the task queue (PostgreSQL), not inline (SQLite)."""
    return app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")


def conninfo(app: Flask) -> str:
    """The app's database as a libpq URI (procrastinate speaks psycopg, not SQLAlchemy)."""
    return app.config["SQLALCHEMY_DATABASE_URI"].replace("postgresql+psycopg://", "postgresql://")


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """For Alembic's autogenerate: compare only the app's own tables, not procrastinate's
    (migration 0010 applies its schema SQL; they are not in the models)."""
    return not (type_ == "table" and reflected and compare_to is None and name.startswith(QUEUE))


def mailbox_lock(account_id: int) -> str:
    """The lock and queueing lock of a mailbox's sync: one queued and one running at most."""
    return f"mailbox-{account_id}"


class SyncRetry(procrastinate.BaseRetryStrategy):
    """Retry a job that raised RetryLater at the time it chose (its backoff, never before a
    server's Retry-After); any other error is final (the next periodic round tries again)."""

    def get_retry_decision(self, *, exception: BaseException, job) -> procrastinate.RetryDecision:
        """The decision for this failure: RetryLater's time, else none."""
        if isinstance(exception, functions.RetryLater):
            return procrastinate.RetryDecision(retry_at=exception.retry_at)
        return None


def queue(app: Flask) -> procrastinate.App:
    """The procrastinate App of this Flask app, with the tasks and periodic rounds."""
    found = app.extensions.get("procrastinate")
    if found is None:
        # The tasks keep the app itself, never `current_app`: a worker's threads have no
        # app context until a task opens one (Flask documents `_get_current_object` for this).
        found = _build(getattr(app, "_get_current_object", lambda: app)())
        app.extensions["procrastinate"] = found
    return found


def _in_app(app: Flask, function, *args, **kwargs):
    with app.app_context():
        try:
            return function(*args, **kwargs)
        finally:
            db.session.remove()


def _build(app: Flask) -> procrastinate.App:  # noqa: C901  (one closure per task)
    connector = procrastinate.PsycopgConnector(
        conninfo=conninfo(app),
        # The name shows in pg_stat_activity: which process holds which connection.
        kwargs={"connect_timeout": 10, "application_name": f"crm-jobs {worker_name()}"},
        min_size=1,
        max_size=max(4, app.config["JOBS_WORKER_CONCURRENCY"] + 2),
    )
    tasks = procrastinate.App(connector=connector, periodic_defaults={"max_delay": 600})
    config = app.config
    plain_retry = procrastinate.RetryStrategy(
        max_attempts=config["JOBS_MAX_ATTEMPTS"],
        exponential_wait=config["JOBS_RETRY_BASE_SECONDS"],
        retry_exceptions=[functions.JobFailed],
    )

    @tasks.task(name=SYNC_TASK, pass_context=True, retry=SyncRetry())
    def sync_mailbox(context, account_id: int) -> str:
        return _in_app(
            app, lambda: functions.sync_mailbox(account_id, context.job.attempts).message
        )

    @tasks.periodic(cron=config["JOBS_SYNC_CRON"])
    @tasks.task(name="crm.sync_round", lock="crm.sync_round")
    def sync_round(timestamp: int) -> str:
        queued = _in_app(app, lambda: _defer_syncs(sync_mailbox, functions.syncable_accounts()))
        return f"{queued} mailbox sync(s) queued."

    @tasks.periodic(cron=config["JOBS_TOKENS_CRON"])
    @tasks.task(name="crm.keep_tokens_alive", lock="crm.keep_tokens_alive", retry=plain_retry)
    def keep_tokens_alive(timestamp: int) -> str:
        return _in_app(app, functions.keep_tokens_alive)

    @tasks.periodic(cron=config["JOBS_ALERTS_CRON"])
    @tasks.task(name="crm.send_alerts", lock="crm.send_alerts")
    def send_alerts(timestamp: int) -> str:
        return _in_app(app, functions.send_alerts)

    @tasks.periodic(cron=config["JOBS_RECOVER_CRON"])
    @tasks.task(name="crm.recover_stalled", lock="crm.recover_stalled")
    async def recover_stalled(timestamp: int) -> str:
        return f"{await _recover(tasks, config['JOBS_STALLED_SECONDS'])} stalled job(s) retried."

    return tasks


async def _recover(tasks: procrastinate.App, stalled_seconds: float) -> int:
    """Put the jobs of workers that stopped beating (killed, machine gone) back in the queue.
    A mailbox sync's lease on its account is released first: procrastinate's lock proves no
    other sync of that mailbox runs, and the import resumes at the last batch it committed."""
    stalled = await tasks.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_seconds)
    for job in stalled:
        if job.task_name == SYNC_TASK:
            await tasks.connector.execute_query_async(
                "UPDATE mail_accounts SET sync_lock_until = NULL WHERE id = %(id)s",
                id=int(job.task_kwargs["account_id"]),
            )
        await tasks.job_manager.retry_job(job)
    return len(stalled)


def _defer_syncs(task, account_ids: list[int]) -> int:
    """Queue one sync per mailbox; a mailbox with one already waiting is skipped."""
    queued = []
    for account_id in account_ids:
        lock = mailbox_lock(account_id)
        try:
            task.configure(lock=lock, queueing_lock=lock).defer(account_id=account_id)
        except AlreadyEnqueued:
            continue
        queued.append(account_id)
    functions.mark_queued(queued)
    return len(queued)


@contextmanager
def deferring(app: Flask):
    """The queue opened for deferring from this (synchronous) process, closed afterwards."""
    tasks = queue(app)
    tasks.open()
    try:
        yield tasks
    finally:
        tasks.close()


def enqueue_syncs(account_ids: list[int]) -> int:
    """Queue a sync for each mailbox (duplicates of one already waiting are dropped); how many
    were queued."""
    with deferring(current_app) as tasks:
        return _defer_syncs(tasks.tasks[SYNC_TASK], account_ids)


def wait_for_syncs(account_ids: list[int], timeout: float, poll: float = 0.5) -> int:
    """Wait until no sync of these mailboxes is queued or running, or `timeout` seconds
    passed; how many still are."""
    locks = {mailbox_lock(i) for i in account_ids}
    deadline = time.monotonic() + timeout
    with deferring(current_app) as tasks:
        while True:
            pending = sum(
                1
                for job in tasks.job_manager.list_jobs(task=SYNC_TASK)
                if job.lock in locks and job.status not in FINISHED
            )
            if not pending or time.monotonic() >= deadline:
                return pending
            time.sleep(poll)


def status() -> dict:
    """What the queue holds: jobs by status (retrying: waiting again after a failure), and
    the latest failed jobs."""
    with deferring(current_app) as tasks:
        jobs = tasks.job_manager.list_jobs()
    counts = Counter(j.status for j in jobs)
    counts["retrying"] = sum(1 for j in jobs if j.status == "todo" and j.attempts > 0)
    counts["todo"] -= counts["retrying"]
    failed = sorted((j for j in jobs if j.status == "failed"), key=lambda j: -j.id)
    return {"counts": counts, "failed": failed[:10]}


def worker_name() -> str:
    """This worker's name in the queue: host and process."""
    return f"{socket.gethostname()}-{os.getpid()}"


def run_worker(app: Flask, concurrency: int) -> None:
    """Run procrastinate's worker on this app's tasks until SIGINT/SIGTERM.

    A database restart or failover that breaks a query the worker is making stops
    procrastinate's worker with a ConnectorException. Then this waits (1 s, doubling up to
    30 s) and starts it again, until the database answers. A job that was running is
    recovered as stalled, as after a crash, and queued jobs run. A supervisor (the README's
    systemd unit) covers what is left: a worker that stopped for another reason exits."""
    wait = 1
    while True:
        try:
            queue(app).run_worker(
                concurrency=concurrency,
                name=worker_name(),
                update_heartbeat_interval=app.config["JOBS_HEARTBEAT_SECONDS"],
                stalled_worker_timeout=app.config["JOBS_STALLED_SECONDS"],
                delete_jobs="successful" if app.config["JOBS_DELETE_SUCCEEDED"] else "never",
            )
            return
        except ConnectorException as error:
            log.warning("Lost the database (%s); starting the worker again in %d s", error, wait)
            time.sleep(wait)
            wait = min(wait * 2, 30)
