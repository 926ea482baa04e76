"""How long the pop-up connect takes in Chromium, against the stand-in's own sign-in pages.

Run from the project root:  .venv/bin/python benchmarks/bench_connect.py [-n 10]

1. The Microsoft stand-in runs as its own process (`python -m standin --port 0`).
2. A temporary SQLite database is migrated with `flask db upgrade`; the Microsoft connector is
   configured with `flask connector set microsoft ...`; the app is registered at the stand-in
   (POST /_standin/clients); gunicorn (2 sync workers) serves the app.
3. Headless Chromium (Debian's), driven by Playwright, N times, alternating:
   (a) app:     on Create with Microsoft selected, click Connect, pick Adele Vance, Accept in the
                pop-up, until the opener lists the account as Connected (each run by a fresh
                user, signed in before the clock starts);
   (b) stand-in: open the authorize URL (same parameters as the app sends, PKCE S256, for a
                client registered with a tiny local redirect page), pick Adele Vance, Accept,
                until the browser is on the redirect page with a code.
   One untimed warm-up run of each comes first.
4. Prints the median of both and their ratio (target <= 1.5).

Every process, server and temporary file is cleaned up; every HTTP call has a timeout.
"""

import argparse
import base64
import hashlib
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import (  # noqa: E402
    Row,
    app_env,
    flask,
    free_port,
    report,
    start_gunicorn,
    start_standin,
)

sys.path.insert(0, str(ROOT))

WORKERS = 2
HTTP_TIMEOUT = (3, 10)
RATIO_TARGET = 1.5
PASSWORD = "bench-connect-password"  # noqa: S105
APP_CLIENT = ("33333333-4444-4555-8666-777777777777", "bench-app-client-secret")
BARE_CLIENT = ("44444444-5555-4666-8777-888888888888", "bench-bare-client-secret")
SCOPES = "openid profile email offline_access User.Read Files.ReadWrite.All"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
UI_TIMEOUT_MS = 30_000


# --- processes ---------------------------------------------------------------------------------


def start_redirect_page(stack: ExitStack) -> str:
    """A tiny local page to be the bare client's redirect URI; returns its URL."""

    class Done(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            body = b"<!doctype html><title>done</title><p>Signed in.</p>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the browser context closed while a request (favicon) was in flight

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Done)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stack.callback(thread.join, 5)
    stack.callback(server.server_close)
    stack.callback(server.shutdown)
    return f"http://127.0.0.1:{server.server_port}/done"


def configure_app(env: dict, base: str, standin: str) -> None:
    """Migrate the app's database, configure its Microsoft connector, and register it as a
    client of the stand-in with its callback URL."""
    flask(env, "db", "upgrade")
    secret = {"CONNECTOR_CLIENT_SECRET": APP_CLIENT[1]}  # as operators do: kept out of `ps`
    flask({**env, **secret}, "connector", "set", "microsoft", "--client-id", APP_CLIENT[0])
    register_client(standin, APP_CLIENT, f"{base}/oauth/microsoft/callback")


def register_client(standin: str, client: tuple[str, str], redirect_uri: str) -> None:
    client_id, secret = client
    response = requests.post(
        f"{standin}/_standin/clients",
        timeout=HTTP_TIMEOUT,
        json={"client_id": client_id, "client_secret": secret, "redirect_uris": [redirect_uri]},
    )
    response.raise_for_status()


def create_users(env: dict, count: int) -> list[str]:
    """`count` users who can sign in, created in this process through the users service."""
    from app import create_app
    from app.extensions import db
    from app.users import directory as users
    from config import Config

    app = create_app(
        Config,
        APP_ENV=env["APP_ENV"],
        SQLALCHEMY_DATABASE_URI=env["DATABASE_URL"],
        SECRET_KEY=env["SECRET_KEY"],
        TOKEN_ENCRYPTION_KEYS=env["TOKEN_ENCRYPTION_KEYS"],
        INSTANCE_PATH=env["INSTANCE_PATH"],
        PUBLIC_BASE_URL=env["PUBLIC_BASE_URL"],
    )
    names = [f"bench{n:02d}" for n in range(count)]
    with app.app_context():
        for name in names:
            users.create_user(None, name, f"{name}@crm.example", PASSWORD)
            db.session.commit()
        db.engine.dispose()
    return names


# --- browser runs ------------------------------------------------------------------------------


def sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log In").click()
    page.wait_for_url(f"{base}/home")


def time_app_connect(browser, base: str, username: str) -> float:
    """(a) Seconds from clicking Connect to the account listed as Connected."""
    context = browser.new_context()
    context.set_default_timeout(UI_TIMEOUT_MS)
    try:
        page = context.new_page()
        sign_in(page, base, username)
        page.goto(f"{base}/profile/external-accounts/new")
        page.get_by_label("Application").select_option("microsoft")
        started = time.perf_counter()
        with page.expect_popup() as popup_info:
            page.get_by_role("button", name="Connect").click()
        popup = popup_info.value
        popup.get_by_role("button", name="Adele Vance").click()
        popup.get_by_role("button", name="Accept").click()
        page.wait_for_url("**/profile/edit/external-accounts?flow=*")
        page.locator("table.list .status", has_text="Connected").wait_for()
        elapsed = time.perf_counter() - started
        if "adele@contoso.example is connected" not in page.content():
            raise SystemExit(f"the connect of {username} did not succeed")
        return elapsed
    finally:
        context.close()


def authorize_url(standin: str, redirect_uri: str) -> str:
    """The authorize URL the app would build, for the bare client."""
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return f"{standin}/common/oauth2/v2.0/authorize?" + urlencode(
        {
            "client_id": BARE_CLIENT[0],
            "response_type": "code",
            "response_mode": "query",
            "redirect_uri": redirect_uri,
            "scope": SCOPES,
            "state": secrets.token_urlsafe(32),
            "nonce": secrets.token_urlsafe(32),
            "code_challenge": challenge.rstrip(b"=").decode(),
            "code_challenge_method": "S256",
            "prompt": "select_account",
        }
    )


def time_standin_pages(browser, standin: str, redirect_uri: str) -> float:
    """(b) Seconds from opening the authorize URL to the redirect page with a code."""
    context = browser.new_context()
    context.set_default_timeout(UI_TIMEOUT_MS)
    try:
        page = context.new_page()
        url = authorize_url(standin, redirect_uri)
        started = time.perf_counter()
        page.goto(url)
        page.get_by_role("button", name="Adele Vance").click()
        page.get_by_role("button", name="Accept").click()
        page.wait_for_url(f"{redirect_uri}?*")
        elapsed = time.perf_counter() - started
        if "code=" not in page.url:
            raise SystemExit(f"the stand-in did not redirect with a code: {page.url}")
        return elapsed
    finally:
        context.close()


# --- main --------------------------------------------------------------------------------------


def main() -> int:
    """Set up, measure, report, clean up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # 10 runs wobbled between 1.15 and 1.54 around the 1.5 target on a 2-core VM; 30 hold still.
    parser.add_argument("-n", type=int, default=30, help="timed runs of each (default 30)")
    args = parser.parse_args()
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        raise SystemExit("Chromium is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="crm-bench-")))
        standin = start_standin(stack, workdir / "standin.log")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = app_env(workdir, base, standin)
        configure_app(env, base, standin)
        redirect_page = start_redirect_page(stack)
        register_client(standin, BARE_CLIENT, redirect_page)
        names = create_users(env, args.n + 1)
        start_gunicorn(stack, port, env, workdir / "gunicorn.log", workers=WORKERS)

        playwright = stack.enter_context(sync_playwright())
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        stack.callback(browser.close)

        time_app_connect(browser, base, names[0])  # warm-up: first templates, first discovery
        time_standin_pages(browser, standin, redirect_page)
        app_times, standin_times = [], []
        for name in names[1:]:
            app_times.append(time_app_connect(browser, base, name))
            standin_times.append(time_standin_pages(browser, standin, redirect_page))

    app_median, standin_median = statistics.median(app_times), statistics.median(standin_times)
    ratio = app_median / standin_median
    paired = statistics.median(a / b for a, b in zip(app_times, standin_times, strict=True))
    print(
        f"runs: {args.n} of each (after one warm-up), {WORKERS} gunicorn workers, headless Chromium"
    )
    rows = [
        Row("(a) app pop-up connect, median ms", f"{app_median * 1000:.0f}"),
        Row("(b) stand-in pages alone, median ms", f"{standin_median * 1000:.0f}", "baseline"),
        Row("connect (a) / (b)", f"{ratio:.2f}", f"<= {RATIO_TARGET}", ratio <= RATIO_TARGET),
        Row("connect (a) / (b), median of per-run ratios", f"{paired:.2f}"),
    ]
    return 0 if report("connect", rows) else 1


if __name__ == "__main__":
    sys.exit(main())
