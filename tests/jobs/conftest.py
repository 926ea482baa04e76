"""The jobs tests: PostgreSQL with procrastinate's schema in this test process's own schema
(tests/conftest.py's postgres_url), the mail stand-in with its IMAP proxy, worker processes."""

import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import stop
from tests.jobs import fleet
from tests.mail.conftest import (  # noqa: F401  (fixtures reused: the mail stand-in)
    configured,
    imap_port,
    mail_app,
    mail_servers,
    mail_standin_process,
    ms,
    standin,
)


@pytest.fixture(scope="session")
def queue_url(postgres_url):
    """This process's PostgreSQL schema with procrastinate's tables, types and functions."""
    fleet.apply_queue_schema(postgres_url)
    return postgres_url


@pytest.fixture
def queue_app(mail_app, queue_url, imap_port):  # noqa: F811
    """The app on PostgreSQL wired to the mail stand-in (Dovecot required), an empty queue."""
    fleet.apply_queue_schema(queue_url)  # a test elsewhere may have rebuilt the schema
    fleet.empty_queue(queue_url)
    # Only what a test queues runs when it runs the queue in-process, as in the workers.
    mail_app.config.update(fleet.QUIET_ROUNDS)
    yield mail_app
    fleet.empty_queue(queue_url)


class Workers:
    """Worker processes started by a test, stopped (or killed) at its end."""

    def __init__(self, folder: Path, app):
        self.folder = folder
        self.app = app
        self.log = folder / "workers.log"
        self.processes: list[subprocess.Popen] = []

    def start(self, concurrency: int = 2, **settings: str) -> subprocess.Popen:
        """One more worker process, with the app's settings as they are now."""
        config = self.app.config
        env = fleet.worker_env(
            config["SQLALCHEMY_DATABASE_URI"],
            self.folder,
            MAIL_ALLOWED_HOSTS=config["MAIL_ALLOWED_HOSTS"],
            MICROSOFT_AUTHORITY=config["MICROSOFT_AUTHORITY"],
            MICROSOFT_GRAPH_URL=config["MICROSOFT_GRAPH_URL"],
            **settings,
        )
        process = fleet.start_worker(env, self.log, concurrency)
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL: the worker gets no chance to finish or say goodbye."""
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def output(self) -> str:
        """What the workers logged (for failure messages)."""
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def stop_all(self) -> None:
        """Stop every worker still running (SIGTERM: they finish their jobs)."""
        for process in self.processes:
            if process.poll() is None:
                stop(process)


@pytest.fixture
def workers(tmp_path, queue_app):
    """Start `flask worker` processes on the test's database and settings."""
    started = Workers(tmp_path, queue_app)
    yield started
    started.stop_all()
