"""Calls to Microsoft honour the operator's proxy settings, read once per origin, and never pick
up netrc credentials in place of the bearer token."""

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from app.core import http
from tests.drive.conftest import SQLITE_ONLY


@pytest.fixture
def fresh_settings():
    """Environment settings read anew for this test and forgotten after it."""
    http.environment_settings.cache_clear()
    yield
    http.environment_settings.cache_clear()


@pytest.fixture
def netrc_for_every_host(tmp_path, monkeypatch):
    """A netrc whose `default` entry matches any host, as requests would find it."""
    path = tmp_path / "netrc"
    path.write_text("default login intruder password not-a-bearer-token\n")
    path.chmod(0o600)
    monkeypatch.setenv("NETRC", str(path))


@pytest.fixture
def proxy():
    """An HTTP proxy on loopback that answers every request itself and records its line."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            seen.append(self.requestline)
            body = b'{"value": []}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", seen
    server.shutdown()
    server.server_close()


@SQLITE_ONLY
def test_a_netrc_entry_never_replaces_the_bearer_token(netrc_for_every_host, sally):
    # The connect flow's token request and this Graph call both ran with the netrc in place.
    answer = sally.get("/drive/api/children")
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    assert answer.get_json()["rows"]


def test_proxies_come_from_the_environment_unless_no_proxy_names_the_host(
    fresh_settings, monkeypatch
):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/corporate.pem")
    proxies, bundle = http.environment_settings("https://graph.microsoft.com")
    assert proxies["https"] == "http://proxy.example:3128"
    assert bundle == "/etc/ssl/corporate.pem"
    assert http.environment_settings("http://127.0.0.1:8765")[0] == {}


def test_calls_go_through_the_proxy_and_the_environment_is_read_once(
    fresh_settings, monkeypatch, proxy
):
    address, seen = proxy
    monkeypatch.setenv("HTTP_PROXY", address)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    reads = []
    real = http.get_environ_proxies
    monkeypatch.setattr(
        http, "get_environ_proxies", lambda *a, **k: reads.append(1) or real(*a, **k)
    )
    session = http.Session()
    for _ in range(3):
        answer = session.get("http://graph.invalid/v1.0/me/drive/root/children", timeout=5)
        assert answer.json() == {"value": []}
    assert seen == ["GET http://graph.invalid/v1.0/me/drive/root/children HTTP/1.1"] * 3
    assert reads == [1]
