"""`flask worker` outlives a lost database: procrastinate's worker stops with a
ConnectorException when a query breaks under it; it is started again after a wait that grows.
(The PostgreSQL test in test_queue.py kills a real worker's connections.)"""

import pytest
from procrastinate.exceptions import ConnectorException

from app.jobs import queue


class FlakyQueue:
    """A procrastinate App whose worker loses the database `losses` times, then stops."""

    def __init__(self, losses: int):
        self.losses, self.runs = losses, 0

    def run_worker(self, **_settings):
        self.runs += 1
        if self.runs <= self.losses:
            raise ConnectorException("terminating connection due to administrator command")


def test_the_worker_is_started_again_after_losing_the_database(app, monkeypatch, caplog):
    flaky, waits = FlakyQueue(losses=6), []
    monkeypatch.setattr(queue, "queue", lambda _app: flaky)
    monkeypatch.setattr(queue.time, "sleep", waits.append)
    queue.run_worker(app, concurrency=2)
    assert flaky.runs == 7  # six losses, then a clean stop (SIGTERM) ends it
    assert waits == [1, 2, 4, 8, 16, 30]
    assert caplog.text.count("Lost the database") == 6


def test_another_failure_is_not_retried(app, monkeypatch):
    class Broken:
        def run_worker(self, **_settings):
            raise RuntimeError("a bug")

    monkeypatch.setattr(queue, "queue", lambda _app: Broken())
    with pytest.raises(RuntimeError):
        queue.run_worker(app, concurrency=2)
