"""Many mailboxes on the stand-in's Dovecot, reached through its IMAP proxy (latency per round
trip, sessions counted per mailbox), and the app's accounts for them; and workers as their own
processes (`flask worker`). Shared by tests/jobs and benchmarks/bench_jobs.py."""

import os
import subprocess
import sys
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

from app.connect import tokens
from app.connect.models import CONNECTED
from app.core.db import utcnow
from app.extensions import db
from app.mail.models import GROUP, NONE, MailAccount

ROOT = Path(__file__).resolve().parent.parent.parent
TIMEOUT = 30
CONTOSO_TID = "c0ffee00-0000-4000-8000-00000000c0de"
QUEUE_TABLES = (
    "procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs, procrastinate_workers"
)

# Only what a test or benchmark queues runs: the periodic rounds wait for a date far away.
QUIET_ROUNDS = {
    "JOBS_SYNC_CRON": "0 0 1 1 *",
    "JOBS_ALERTS_CRON": "0 0 1 1 *",
    "JOBS_TOKENS_CRON": "0 0 1 1 *",
}


def apply_queue_schema(database_url: str) -> None:
    """procrastinate's schema (its public SchemaManager.get_schema(), as migration 0010 applies
    it) in the database (the search_path's schema); once per schema."""
    from procrastinate.schema import SchemaManager

    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            exists = connection.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar()
            if exists is None:
                connection.exec_driver_sql(SchemaManager.get_schema().replace("%", "%%"))
    finally:
        engine.dispose()


def empty_queue(database_url: str) -> None:
    """Forget every job, worker and periodic defer."""
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(f"TRUNCATE {QUEUE_TABLES} RESTART IDENTITY CASCADE")
    finally:
        engine.dispose()


def start_proxy(standin: str, latency_ms: float) -> int:
    """Start the stand-in's IMAP proxy with this latency per round trip; its port."""
    answer = requests.post(
        f"{standin}/_standin/mail/proxy", json={"latency_ms": latency_ms}, timeout=TIMEOUT
    )
    answer.raise_for_status()
    requests.delete(f"{standin}/_standin/mail/proxy", timeout=TIMEOUT).raise_for_status()
    return answer.json()["port"]


def proxy_counts(standin: str) -> dict:
    """Sessions per mailbox (total and peak at once) as the proxy counted them."""
    answer = requests.get(f"{standin}/_standin/mail/proxy", timeout=TIMEOUT)
    answer.raise_for_status()
    return answer.json()


def mailbox_address(index: int) -> str:
    """The address of the fleet's mailbox number `index`."""
    return f"box{index:05d}@contoso.example"


def seed(standin: str, address: str, count: int, start: int = 0) -> None:
    """Deliver `count` generated messages (distinct Message-IDs) into the mailbox."""
    answer = requests.post(
        f"{standin}/_standin/mail/mailboxes/{address}/messages",
        json={"count": count, "start": start, "template": {"to": address}},
        timeout=TIMEOUT,
    )
    answer.raise_for_status()


def imap_token(standin: str, address: str) -> str:
    """An Outlook IMAP token for the mailbox, valid for a day."""
    answer = requests.post(
        f"{standin}/_standin/mail/mailboxes/{address}/token",
        json={"lifetime": 86400},
        timeout=TIMEOUT,
    )
    answer.raise_for_status()
    return answer.json()["access_token"]


def make_accounts(standin: str, count: int, messages: int, port: int) -> list[int]:
    """`count` group mailboxes with Import into Emails on, each authorized with its own token,
    on the proxy's port, each holding `messages` new messages; their ids. Needs an app context."""
    ids = []
    for index in range(count):
        address = mailbox_address(index)
        if messages:
            seed(standin, address, messages)
        account = MailAccount(
            slot=f"group-fleet-{index}",
            role=GROUP,
            name=f"Fleet {index}",
            import_enabled=True,
            imap_host="127.0.0.1",
            imap_port=port,
            imap_security=NONE,
            imap_folder="INBOX",
            status=CONNECTED,
            tenant_id=CONTOSO_TID,
            authorized_email=address,
            authorized_at=utcnow(),
        )
        db.session.add(account)
        tokens.store(
            account,
            "mail",
            {
                "access_token": imap_token(standin, address),
                "refresh_token": f"fleet-unused-{index}",
                "expires_in": 86400,
                "scope": "IMAP.AccessAsUser.All",
            },
        )
        db.session.flush()
        ids.append(account.id)
    db.session.commit()
    return ids


def worker_env(database_url: str, folder: Path, **settings: str) -> dict:
    """The environment of a worker process: the app's settings, as an operator gives them."""
    from config import TestConfig

    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "DATABASE_URL"))}
    env.update(
        APP_ENV="testing",
        DATABASE_URL=database_url,
        SECRET_KEY=TestConfig.SECRET_KEY,
        TOKEN_ENCRYPTION_KEYS=TestConfig.TOKEN_ENCRYPTION_KEYS,
        INSTANCE_PATH=str(folder),
        **QUIET_ROUNDS,
        **settings,
    )
    return env


def start_worker(env: dict, log: Path, concurrency: int = 2) -> subprocess.Popen:
    """`flask worker` as its own process, logging to `log`."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flask",
                "--app",
                "app:create_app",
                "worker",
                "--concurrency",
                str(concurrency),
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
