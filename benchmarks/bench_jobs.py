"""One full mailbox sync round on the task queue with 1, 2 and 4 worker processes, against the
inline cron path (issue 18).

Run from the project root (PostgreSQL: BENCH_DATABASE_URL, else TEST_DATABASE_URL):
    .venv/bin/python benchmarks/bench_jobs.py [--mailboxes 1000] [--latency-ms 150]
        [--messages 3] [--workers 1,2,4] [--concurrency 1]

1. The stand-in runs with Dovecot (`--imap-port 0`); its IMAP proxy adds `--latency-ms` to
   every command (a round trip to Exchange Online) and counts each mailbox's sessions.
2. A schema of its own in the database gets the app's tables and procrastinate's; N group
   mailboxes are made, each with its own Outlook token, pointed at the proxy.
3. Each round first delivers `--messages` new messages into every mailbox (not timed), then
   times one full sync of all of them:
   - inline: the cron path (`flask mail fetch --inline`): one mailbox after another;
   - queue, k workers: k `flask worker --concurrency C` processes are started and registered,
     one sync job per mailbox is queued, and the round ends when none is queued or running.
   Target: throughput with k workers at least 0.8 x k that of one worker (k <= 4), bounded by
   the cores (printed). Every round checks in the proxy that no mailbox had two sessions at
   once, and in the database that every new message was imported exactly once.

At 150 ms a round trip one mailbox takes about 1.1 s, so 1,000 mailboxes take about 19 minutes
inline and with one worker of concurrency 1: use --mailboxes 100 for a quick run.
"""

import argparse
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import Row, report, start_standin, stop  # noqa: E402

sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, select, text  # noqa: E402

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.jobs import functions, queue  # noqa: E402
from app.mail.models import MailMessage  # noqa: E402
from config import TestConfig  # noqa: E402
from tests.jobs import fleet  # noqa: E402

SCHEMA = "bench_jobs"
SCALING_TARGET = 0.8


def _database(base: str) -> str:
    """A fresh schema of the benchmark's own, with the app's and procrastinate's tables."""
    base = base.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(base)
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    engine.dispose()
    url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{SCHEMA}"
    fleet.apply_queue_schema(url)
    return url


def _imported() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count(MailMessage.id)))


def _check_round(standin: str, mailboxes: int, expected: int) -> tuple[int, int]:
    """The most sessions one mailbox had at once, and the messages imported so far."""
    counts = fleet.proxy_counts(standin)
    sessions = sum(counts["sessions"].values())
    if sessions < mailboxes:
        raise SystemExit(f"only {sessions} IMAP sessions for {mailboxes} mailboxes")
    imported = _imported()
    if imported != expected:
        raise SystemExit(f"{imported} messages imported, {expected} expected")
    return max(counts["peak"].values()), imported


def _new_mail(standin: str, mailboxes: int, messages: int, round_no: int) -> None:
    for index in range(mailboxes):
        fleet.seed(standin, fleet.mailbox_address(index), messages, start=round_no * messages)
    fleet.start_proxy(standin, ARGS.latency_ms)  # counts start afresh


def _inline_round(ids: list[int]) -> float:
    started = time.monotonic()
    for account_id in ids:
        functions.sync_mailbox(account_id)
    return time.monotonic() - started


def _wait_registered(app, count: int, processes, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with queue.deferring(app) as tasks:
            alive = tasks.connector.get_sync_connector().execute_query_one(
                "SELECT count(*) AS n FROM procrastinate_workers"
            )["n"]
        if alive >= count:
            return
        if any(p.poll() is not None for p in processes):
            raise SystemExit("a worker exited; see its log")
        time.sleep(0.2)
    raise SystemExit(f"{count} workers did not register within {timeout} s")


def _queue_round(app, ids: list[int], workers: int, folder: Path) -> float:
    env = fleet.worker_env(
        app.config["SQLALCHEMY_DATABASE_URI"],
        folder,
        MAIL_ALLOWED_HOSTS=app.config["MAIL_ALLOWED_HOSTS"],
        JOBS_IMAP_PER_TENANT="0",  # one tenant here: the cap would measure itself
    )
    processes = [
        fleet.start_worker(env, folder / f"worker-{workers}.log", ARGS.concurrency)
        for _ in range(workers)
    ]
    try:
        _wait_registered(app, workers, processes)
        started = time.monotonic()
        queued = queue.enqueue_syncs(ids)
        if queued != len(ids):
            raise SystemExit(f"{queued} of {len(ids)} syncs queued")
        pending = queue.wait_for_syncs(ids, timeout=6 * 3600, poll=0.2)
        elapsed = time.monotonic() - started
        if pending:
            raise SystemExit(f"{pending} syncs did not finish")
        return elapsed
    finally:
        for process in processes:
            stop(process)
        fleet.empty_queue(app.config["SQLALCHEMY_DATABASE_URI"])


def _rows(inline: float, rounds: dict[int, float], peak: int) -> list[Row]:
    n = ARGS.mailboxes
    rows = [
        Row("CPU count", str(os.cpu_count())),
        Row(f"mailboxes x new messages, latency {ARGS.latency_ms:g} ms", f"{n} x {ARGS.messages}"),
        Row("inline cron path: round, s", f"{inline:.1f}", "baseline"),
        Row("inline cron path: mailboxes/s", f"{n / inline:.2f}"),
    ]
    one = n / rounds[min(rounds)]
    for workers, seconds in sorted(rounds.items()):
        rate = n / seconds
        label = f"{workers} worker{'s' if workers > 1 else ''} x concurrency {ARGS.concurrency}"
        rows.append(Row(f"{label}: round, s", f"{seconds:.1f}"))
        rows.append(Row(f"{label}: mailboxes/s", f"{rate:.2f}"))
        if workers > 1:
            target = SCALING_TARGET * workers
            rows.append(
                Row(
                    f"{label}: speed-up over 1 worker",
                    f"{rate / one:.2f}",
                    f">= {target:.1f}",
                    rate / one >= target,
                )
            )
    rows.append(Row("most sessions of one mailbox at once (proxy)", str(peak), "1", peak == 1))
    return rows


def main() -> int:
    base = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if not base:
        print("bench_jobs needs PostgreSQL: set BENCH_DATABASE_URL (or TEST_DATABASE_URL).")
        return 0 if report("jobs", [Row("skipped", "no PostgreSQL")]) else 1
    worker_counts = [int(w) for w in ARGS.workers.split(",")]
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-jobs-")))
        standin = start_standin(stack, folder / "standin.log", "--imap-port", "0")
        port = fleet.start_proxy(standin, ARGS.latency_ms)
        app = create_app(
            TestConfig,
            SQLALCHEMY_DATABASE_URI=_database(base),
            INSTANCE_PATH=str(folder),
            MAIL_ALLOWED_HOSTS=f"127.0.0.1:{port}",
            MAIL_TIMEOUT=60,
            **fleet.QUIET_ROUNDS,
        )
        with app.app_context():
            db.create_all()
            ids = fleet.make_accounts(standin, ARGS.mailboxes, messages=0, port=port)
            expected, peaks, rounds = 0, [], {}
            print(f"{len(ids)} mailboxes; inline round...", flush=True)
            _new_mail(standin, ARGS.mailboxes, ARGS.messages, 0)
            inline = _inline_round(ids)
            expected += ARGS.mailboxes * ARGS.messages
            peaks.append(_check_round(standin, ARGS.mailboxes, expected)[0])
            for round_no, workers in enumerate(worker_counts, start=1):
                print(f"round with {workers} worker(s)...", flush=True)
                _new_mail(standin, ARGS.mailboxes, ARGS.messages, round_no)
                rounds[workers] = _queue_round(app, ids, workers, folder)
                expected += ARGS.mailboxes * ARGS.messages
                peaks.append(_check_round(standin, ARGS.mailboxes, expected)[0])
            db.session.remove()
            db.engine.dispose()
    return 0 if report("jobs", _rows(inline, rounds, max(peaks))) else 1


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mailboxes", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=150)
    parser.add_argument("--messages", type=int, default=3, help="new messages per mailbox")
    parser.add_argument("--workers", default="1,2,4", help="worker processes per round")
    parser.add_argument("--concurrency", type=int, default=1, help="jobs at once per worker")
    return parser.parse_args()


if __name__ == "__main__":
    ARGS = _arguments()
    raise SystemExit(main())
