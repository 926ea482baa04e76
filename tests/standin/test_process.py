"""The stand-in as a process: command line, readiness line, clean stop."""

import signal

import requests

from .conftest import start_standin
from .driver import TIMEOUT


def test_starts_with_clients_and_stops_cleanly_on_sigint(tmp_path):
    process, base = start_standin(
        "--client",
        "a:pw:http://localhost/one",
        "--client",
        "a:pw:http://localhost/two",
        "--access-token-lifetime",
        "120",
        log=tmp_path / "log",
    )
    try:
        assert base.startswith("http://127.0.0.1:")
        health = requests.get(f"{base}/_standin/health", timeout=TIMEOUT)
        assert health.json() == {"status": "ok"}
        for uri in ("http://localhost/one", "http://localhost/two"):
            params = {
                "client_id": "a",
                "redirect_uri": uri,
                "response_type": "code",
                "scope": "openid",
            }
            page = requests.get(
                f"{base}/common/oauth2/v2.0/authorize", params=params, timeout=TIMEOUT
            )
            assert "Pick an account" in page.text
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        process.stdout.close()
