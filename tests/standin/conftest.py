"""One stand-in process for the stand-in tests, reset before each test."""

from __future__ import annotations

import selectors
import subprocess
import sys
from pathlib import Path

import pytest

from .driver import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, Standin

ROOT = Path(__file__).resolve().parents[2]
LISTENING = "standin listening on "


def start_standin(*args: str, log: Path) -> tuple[subprocess.Popen, str]:
    """Start ``python -m standin --port 0 ...`` and return it with its base URL once it listens."""
    with log.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "standin", "--port", "0", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        ready = selector.select(timeout=20)
    line = process.stdout.readline() if ready else ""
    if not line.startswith(LISTENING):
        stop_standin(process)
        pytest.fail(f"stand-in did not start: {line!r}\n{log.read_text()}")
    return process, line[len(LISTENING) :].strip()


def stop_standin(process: subprocess.Popen) -> int:
    """Terminate the stand-in, reap it, close its pipe; returns the exit code."""
    process.terminate()
    try:
        code = process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        code = process.wait(timeout=10)
    process.stdout.close()
    return code


@pytest.fixture(scope="session")
def standin_server(tmp_path_factory):
    """Base URL of a stand-in process with the test client registered."""
    log = tmp_path_factory.mktemp("standin") / "standin.log"
    process, base = start_standin(
        "--client", f"{CLIENT_ID}:{CLIENT_SECRET}:{REDIRECT_URI}", log=log
    )
    yield base
    assert stop_standin(process) == 0, log.read_text()
    assert "Traceback" not in log.read_text(), log.read_text()


@pytest.fixture
def ms(standin_server) -> Standin:
    """A driver for the shared stand-in, reset to a clean state."""
    driver = Standin(standin_server)
    driver.control("POST", "/reset")
    return driver
