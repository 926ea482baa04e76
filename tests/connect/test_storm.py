"""Many workers, one expiring token: exactly one refresh reaches Microsoft, no rotated refresh
token is lost, and a crash between Microsoft's answer and the commit loses nothing.
Runs against gunicorn with 4 workers on SQLite and on PostgreSQL."""

import os
import re
import secrets
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from sqlalchemy import create_engine, select, text

from app.connect import connectors
from app.connect.models import ExternalAccount
from app.core.db import utcnow
from app.extensions import db
from app.users import directory as users
from tests.conftest import (
    POSTGRES_URL,
    REQUIRE_POSTGRES,
    ROOT,
    STANDIN_CLIENT,
    missing,
    running_app,
)
from tests.connect.conftest import ADELE, sign_in_at_standin

TIMEOUT = 30


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def storm_app(request, tmp_path_factory, standin):
    """gunicorn with 4 workers, wired to the stand-in, on SQLite or a PostgreSQL schema: started
    once for this module's tests on each database (storm_server gives each a clean slate)."""
    database_url, schema = None, None
    if request.param == "postgresql":
        if not POSTGRES_URL:
            missing("PostgreSQL", "set TEST_DATABASE_URL=postgresql://...", REQUIRE_POSTGRES)
        schema = f"storm_{secrets.token_hex(4)}"
        base = POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1)
        engine = create_engine(base)
        with engine.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
        database_url = f"{base}?options=-csearch_path%3D{schema}"
    env = {"MICROSOFT_AUTHORITY": standin, "MICROSOFT_GRAPH_URL": f"{standin}/v1.0"}
    folder = tmp_path_factory.mktemp(f"storm-{request.param}")
    try:
        with running_app(folder, env, workers=4, database_url=database_url) as server:
            server.standin = standin
            with server.db():
                connectors.save(
                    None,
                    "microsoft",
                    client_id=STANDIN_CLIENT[0],
                    client_secret=STANDIN_CLIENT[1],
                    single_tenant=False,
                    tenant="",
                    enabled=True,
                )
                users.create_user(None, "sally", "sally@crm.example", "sally-password")
                db.session.commit()
            yield server
    finally:
        if schema:
            with engine.begin() as connection:
                connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            engine.dispose()


@pytest.fixture
def storm_server(storm_app):
    """The module's server with no connected account, a fresh stand-in (tokens, settings and
    counters) and the app registered at it again."""
    standin = storm_app.standin
    requests.post(f"{standin}/_standin/reset", timeout=10)
    requests.post(
        f"{standin}/_standin/clients",
        timeout=10,
        json={
            "client_id": STANDIN_CLIENT[0],
            "client_secret": STANDIN_CLIENT[1],
            "redirect_uris": [f"{storm_app.url}/oauth/microsoft/callback"],
        },
    )
    with storm_app.db():
        for account in db.session.scalars(select(ExternalAccount)):
            db.session.delete(account)
        db.session.commit()
    return storm_app


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html).group(1)


def signed_in(server) -> requests.Session:
    """A browser-like session signed in as sally (CSRF is on in the live server)."""
    session = requests.Session()
    token = _csrf(session.get(f"{server.url}/login", timeout=TIMEOUT).text)
    response = session.post(
        f"{server.url}/login",
        timeout=TIMEOUT,
        data={"username": "sally", "password": "sally-password", "csrf_token": token},
    )
    assert response.url.endswith("/home")
    return session


def connect_over_http(server, session) -> int:
    """The pop-up flow as the page's script and the pop-up would run it."""
    page = session.get(f"{server.url}/profile/external-accounts/new", timeout=TIMEOUT).text
    start = session.post(
        f"{server.url}/profile/external-accounts/new",
        timeout=TIMEOUT,
        data={"application": "microsoft", "mode": "popup", "csrf_token": _csrf(page)},
        headers={"Accept": "application/json", "X-CSRFToken": _csrf(page)},
    ).json()
    go = session.get(server.url + start["go_url"], allow_redirects=False, timeout=TIMEOUT)
    back = sign_in_at_standin(go.headers["Location"], ADELE)
    assert 'data-status="done"' in session.get(back, timeout=TIMEOUT).text
    with server.db():
        return db.session.scalar(select(ExternalAccount.id))


def expire_access_token(server) -> None:
    with server.db():
        account = db.session.scalar(select(ExternalAccount))
        account.credential.expires_at = utcnow() - timedelta(seconds=5)
        db.session.commit()


def refreshes(server) -> int:
    stats = requests.get(f"{server.standin}/_standin/stats", timeout=10).json()
    return stats.get("token.refresh_token", 0)


def storm(server, session, account_id, count) -> list[requests.Response]:
    url = f"{server.url}/profile/external-accounts/{account_id}/check"
    cookies = session.cookies.get_dict()

    def one(_):
        return requests.get(
            url, cookies=cookies, headers={"Accept": "application/json"}, timeout=TIMEOUT
        )

    with ThreadPoolExecutor(max_workers=min(count, 100)) as pool:
        return list(pool.map(one, range(count)))


def test_one_refresh_for_a_hundred_concurrent_requests(storm_server):
    session = signed_in(storm_server)
    account_id = connect_over_http(storm_server, session)
    expire_access_token(storm_server)
    before = refreshes(storm_server)
    answers = storm(storm_server, session, account_id, 100)
    assert [r.status_code for r in answers] == [200] * 100, answers[0].text
    assert all(r.json()["ok"] for r in answers)
    assert refreshes(storm_server) - before == 1


def test_no_rotated_refresh_token_is_lost_in_two_hundred_refreshes(storm_server):
    session = signed_in(storm_server)
    account_id = connect_over_http(storm_server, session)
    # Every access token now expires inside the refresh margin, so every request refreshes,
    # and each refresh revokes the refresh token it used: a lost update would be fatal.
    requests.post(
        f"{storm_server.standin}/_standin/settings",
        timeout=10,
        json={"access_token_lifetime": 60, "revoke_on_rotation": True},
    )
    try:
        expire_access_token(storm_server)
        before = refreshes(storm_server)
        answers = storm(storm_server, session, account_id, 200)
        assert [r.status_code for r in answers] == [200] * 200
        assert refreshes(storm_server) - before == 200
        again = storm(storm_server, session, account_id, 1)[0]
        assert again.json()["ok"] is True
        with storm_server.db():
            assert db.session.scalar(select(ExternalAccount.status)) == "connected"
    finally:
        requests.post(f"{storm_server.standin}/_standin/reset", timeout=10)


CRASH = textwrap.dedent("""
    import os, sys
    from app import create_app
    from app.extensions import db
    from app.connect.models import ExternalAccount
    from app.microsoft.identity import MicrosoftProvider
    from app.connect import tokens
    from config import Config

    real = MicrosoftProvider.refresh

    def refresh_then_die(*args, **kwargs):
        real(*args, **kwargs)   # Microsoft rotated the token and answered ...
        os._exit(17)            # ... and the worker died before the commit.

    MicrosoftProvider.refresh = refresh_then_die
    app = create_app(Config)
    with app.app_context():
        tokens.access_token_for(db.session.scalar(db.select(ExternalAccount)), "onedrive")
""")


def test_a_crash_between_the_token_response_and_the_commit_loses_nothing(storm_server):
    session = signed_in(storm_server)
    account_id = connect_over_http(storm_server, session)
    expire_access_token(storm_server)
    before = refreshes(storm_server)
    env = {**os.environ, **storm_server.env}
    result = subprocess.run(
        [sys.executable, "-c", CRASH], cwd=ROOT, env=env, timeout=60, capture_output=True, text=True
    )
    assert result.returncode == 17, result.stderr
    assert refreshes(storm_server) - before == 1
    answer = storm(storm_server, session, account_id, 1)[0]
    assert answer.json()["ok"] is True, answer.text
    assert refreshes(storm_server) - before == 2
