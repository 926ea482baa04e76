"""Fixtures: the app on SQLite (and PostgreSQL when TEST_DATABASE_URL is set), a client, a real
login, a live server in its own process, the local Microsoft stand-in, and headless Chromium."""

import atexit
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from flask import g
from sqlalchemy import create_engine, event, text

from app import create_app
from app.extensions import db, limiter
from config import TestConfig

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "")
REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES") == "1"
REQUIRE_BROWSER = os.environ.get("REQUIRE_BROWSER") == "1"


def missing(component: str, reason: str, required: bool):
    """Skip on a laptop; fail where the component is required (CI)."""
    if required:
        pytest.fail(f"{component} is required here but missing: {reason}")
    pytest.skip(f"{component} missing: {reason}")


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, timeout: float = 20.0) -> None:
    """Wait until `url` answers, or fail with what the process printed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            requests.get(url, timeout=5)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def stop(process: subprocess.Popen) -> None:
    """Terminate a child process and reap it."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


# --- databases ---------------------------------------------------------------------------------


def _database_params():
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]


@pytest.fixture(scope="session")
def postgres_url():
    """A schema of this test process's own in the PostgreSQL test database, with the models'
    tables, dropped at the end: pytest-xdist's workers (and two runs that share the database)
    never see each other's rows. Connections reach it through their search_path."""
    if not POSTGRES_URL:
        missing("PostgreSQL", "set TEST_DATABASE_URL=postgresql://...", REQUIRE_POSTGRES)
    base = POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    schema = f"test_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"
    url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    engine = create_engine(base)
    try:
        with engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            connection.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as error:  # noqa: BLE001
        engine.dispose()
        missing("PostgreSQL", f"cannot reach {POSTGRES_URL}: {error}", REQUIRE_POSTGRES)
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        db.create_all()
        db.engine.dispose()
    from tests.jobs.fleet import apply_queue_schema

    apply_queue_schema(url)  # procrastinate's tables, as migration 0010 adds them
    yield url
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    engine.dispose()


@pytest.fixture(params=_database_params())
def database_url(request, tmp_path):
    """Every database test runs on SQLite, and on PostgreSQL when it is configured."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def app(database_url, tmp_path):
    """The app with fresh tables."""
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=database_url, INSTANCE_PATH=str(tmp_path))

    @app.before_request
    def _forget_cached_user():
        # Tests keep one app context open, so `g` outlives a request; a real server starts
        # each request with a fresh `g`. Forget Flask-Login's cached user and the page's CSRF
        # token like it would.
        g.pop("_login_user", None)
        g.pop("csrf_token", None)

    with app.app_context():
        limiter.reset()  # one limiter per process: counts from an earlier test start over
        if database_url.startswith("sqlite"):
            db.create_all()
        yield app
        db.session.remove()
        if not database_url.startswith("sqlite"):
            tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
            db.session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            db.session.commit()
        db.engine.dispose()


@pytest.fixture
def client(app):
    """A test client of the app."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """A CLI runner of the app."""
    return app.test_cli_runner()


@pytest.fixture
def make_user(app):
    """Create a user through the users service."""
    from app.users import directory as users

    def _make(username="sally", password="sally-password", *, admin=False, **fields):
        fields.setdefault("email", f"{username}@crm.example")
        user = users.create_user(None, username, password=password, is_admin=admin, **fields)
        db.session.commit()
        return user

    return _make


@pytest.fixture(autouse=True)
def _fast_password_hashes(monkeypatch):
    """Users made in tests get cheap password hashes: scrypt costs 0.1-0.3 s per hash on 2 cores,
    and the fixtures make and sign in users hundreds of times. tests/users, where passwords and
    sign-in are the subject, keeps scrypt (its conftest overrides this fixture)."""
    from werkzeug.security import generate_password_hash

    import app.users.models as user_module

    monkeypatch.setattr(
        user_module,
        "generate_password_hash",
        lambda password, method=None: generate_password_hash(password, "pbkdf2:sha256:1"),
    )


class AuthActions:
    """Sign in and out with real POSTs."""

    def __init__(self, client):
        self._client = client

    def login(self, username="sally", password="sally-password", **kwargs):
        return self._client.post(
            "/login", data={"username": username, "password": password, **kwargs}
        )

    def logout(self):
        return self._client.post("/logout")


@pytest.fixture
def auth(client, make_user):
    """A signed-in user (sally) and an admin (admin) exist; `auth.login()` signs in."""
    make_user("sally", "sally-password", first_name="Sally", last_name="Bronsen")
    make_user("admin", "admin-password", admin=True, first_name="Ada", last_name="Admin")
    return AuthActions(client)


def count_statements(client, path: str) -> int:
    """How many SQL statements one GET of `path` executes (it must answer 200)."""
    seen = []

    def count(*args):
        seen.append(args[2])

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        response = client.get(path)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert response.status_code == 200, path
    return len(seen)


def csrf_token(html: str) -> str:
    """The CSRF token in a rendered form."""
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, "no CSRF token in the page"
    return match.group(1)


# --- live processes ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def standin():
    """The local Microsoft stand-in on a free loopback port, as its own process."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "standin", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    wait_for_http(f"{base}/_standin/health", process)
    yield base
    stop(process)


class LiveServer:
    """The real app served by gunicorn in its own process."""

    def __init__(self, url, env, database_url):
        self.url = url
        self.env = env
        self.database_url = database_url

    @contextmanager
    def db(self):
        """An app context on the live server's database; connections closed afterwards."""
        app = self.app()
        with app.app_context():
            try:
                yield app
            finally:
                db.session.remove()
                db.engine.dispose()

    def app(self):
        """An app object in this process on the live server's database, for setup and checks."""
        return create_app(
            TestConfig,
            SQLALCHEMY_DATABASE_URI=self.database_url,
            PUBLIC_BASE_URL=self.url,
            INSTANCE_PATH=self.env["INSTANCE_PATH"],
            **{k: v for k, v in self.env.items() if k.startswith("MICRO")},
        )


def _gunicorn_env(url: str, database_url: str, instance: Path, extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "DATABASE_URL"))}
    env.update(
        APP_ENV="testing",
        DATABASE_URL=database_url,
        PUBLIC_BASE_URL=url,
        SECRET_KEY=TestConfig.SECRET_KEY,
        TOKEN_ENCRYPTION_KEYS=TestConfig.TOKEN_ENCRYPTION_KEYS,
        INSTANCE_PATH=str(instance),
        **extra,
    )
    return env


def _upgrade(env: dict) -> None:
    """`flask db upgrade` on the environment's DATABASE_URL, as an operator runs it."""
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app:create_app", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


_MIGRATED: list[Path] = []


def _migrated_sqlite(target: Path, env: dict) -> None:
    """A SQLite database at `target` as `flask db upgrade` leaves it: the migrations run once per
    test session, into a template each live server starts from a copy of (SQLite's backup API,
    a consistent copy even in WAL mode)."""
    if not _MIGRATED:
        folder = Path(tempfile.mkdtemp(prefix="crm-migrated-"))
        atexit.register(shutil.rmtree, folder, True)
        _upgrade({**env, "DATABASE_URL": f"sqlite:///{folder / 'template.db'}"})
        _MIGRATED.append(folder / "template.db")
    source, copy = sqlite3.connect(_MIGRATED[0]), sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        source.close()
        copy.close()


@contextmanager
def running_app(
    folder: Path, extra_env: dict | None = None, workers: int = 2, database_url: str | None = None
):
    """gunicorn serving the real app on a free port, on a migrated database (a copy of the
    session's migrated SQLite database unless `database_url` names another)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = _gunicorn_env(
        url, database_url or f"sqlite:///{folder / 'live.db'}", folder, extra_env or {}
    )
    if database_url is None:
        _migrated_sqlite(folder / "live.db", env)
        database_url = env["DATABASE_URL"]
    else:
        _upgrade(env)
    with open(folder / "gunicorn.log", "w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-w",
                str(workers),
                "-b",
                f"127.0.0.1:{port}",
                "--timeout",
                "60",
                "app:create_app()",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_http(f"{url}/healthz", process)
            yield LiveServer(url, env, database_url)
        finally:
            stop(process)


@pytest.fixture
def live_server(tmp_path):
    """The app under gunicorn (2 workers) on a fresh SQLite database."""
    with running_app(tmp_path) as server:
        yield server


@contextmanager
def app_on_standin(folder: Path, standin: str, extra_env: dict | None = None):
    """gunicorn wired to the stand-in (reset, no faults), the app registered there and the
    Microsoft connector configured with STANDIN_CLIENT; `server.standin` is its URL."""
    env = {
        "MICROSOFT_AUTHORITY": standin,
        "MICROSOFT_GRAPH_URL": f"{standin}/v1.0",
        **(extra_env or {}),
    }
    requests.post(f"{standin}/_standin/reset", timeout=10)
    requests.delete(f"{standin}/_standin/faults", timeout=10)
    with running_app(folder, env) as server:
        client_id, secret = STANDIN_CLIENT
        requests.post(
            f"{standin}/_standin/clients",
            timeout=10,
            json={
                "client_id": client_id,
                "client_secret": secret,
                "redirect_uris": [f"{server.url}/oauth/microsoft/callback"],
            },
        )
        server.standin = standin
        with server.db():
            from app.connect import connectors

            connectors.save(
                None,
                "microsoft",
                client_id=client_id,
                client_secret=secret,
                single_tenant=False,
                tenant="",
                enabled=True,
            )
            db.session.commit()
        yield server


@pytest.fixture
def live_ms(tmp_path, standin):
    """The app under gunicorn wired to the stand-in, with the Microsoft connector configured
    and the app registered at the stand-in (client ID and secret in STANDIN_CLIENT)."""
    extra = {"MAIL_ALLOWED_HOSTS": standin_mail_hosts(standin)}
    with app_on_standin(tmp_path, standin, extra) as server:
        yield server


STANDIN_CLIENT = ("22222222-3333-4444-8555-666666666666", "live-standin-secret-value")


def standin_mail_hosts(standin: str) -> str:
    """MAIL_ALLOWED_HOSTS naming the stand-in's SMTP and IMAP servers, when it runs them: a
    mail token goes to loopback only when the operator lists it."""
    servers = requests.get(f"{standin}/_standin/mail/servers", timeout=10).json()
    smtp, imap = servers.get("smtp") or {}, servers.get("imap") or {}
    ports = (smtp.get("port"), imap.get("port"), imap.get("ssl_port"))
    return ",".join(f"127.0.0.1:{port}" for port in ports if port)


# --- browser -----------------------------------------------------------------------------------

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, driven by Playwright."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        missing("Chromium", "apt-get install -y chromium", REQUIRE_BROWSER)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("Playwright", "pip install playwright", REQUIRE_BROWSER)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh browser context and page; pop-ups allowed as a user would click them."""
    context = browser.new_context()
    context.set_default_timeout(15000)
    page = context.new_page()
    yield page
    context.close()


def browser_login(page, base_url: str, username: str, password: str) -> None:
    """Sign in through the login page like a person."""
    page.goto(f"{base_url}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log In").click()
    page.wait_for_url(f"{base_url}/home")


@contextmanager
def popup_of(page):
    """`page.expect_popup()` once the page's deferred scripts have run. A click before
    connect.js runs is a plain form post that signs in in this window instead (a test in
    tests/connect/test_browser.py covers that); a person never clicks that fast."""
    page.wait_for_load_state()
    with page.expect_popup() as popup_info:
        yield popup_info
