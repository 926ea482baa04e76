"""CSRF, headers, error pages, health check, production secrets."""

import subprocess
import sys

from sqlalchemy import func, select

from app import create_app
from app.extensions import db
from app.users.models import User
from config import TestConfig
from tests.conftest import ROOT, csrf_token


def test_missing_csrf_token_is_a_400_page(app, make_user):
    make_user("sally", "sally-password")
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    response = client.post("/login", data={"username": "sally", "password": "sally-password"})
    assert response.status_code == 400
    assert "form expired" in response.get_data(as_text=True)
    token = csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login", data={"username": "sally", "password": "sally-password", "csrf_token": token}
    )
    assert response.status_code == 302


def test_security_headers(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin-allow-popups"


def test_session_cookie_flags(auth, client):
    response = auth.login()
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_secure_cookie_when_public_url_is_https(tmp_path):
    app = create_app(TestConfig, PUBLIC_BASE_URL="https://crm.example", INSTANCE_PATH=str(tmp_path))
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_404_and_403_pages_in_the_app_look(auth, client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "does not exist" in response.get_data(as_text=True)
    auth.login()
    assert "do not have permission" in client.get("/admin/").get_data(as_text=True)


def test_500_rolls_back_and_shows_a_page(app, client):
    @app.route("/boom")
    def boom():
        db.session.add(User(username="ghost", email="ghost@crm.example", password_hash="x"))
        db.session.flush()
        raise RuntimeError("boom")

    app.testing = False  # let the error handler answer instead of re-raising
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = client.get("/boom")
    assert response.status_code == 500
    assert "Something went wrong" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(User.id)).where(User.username == "ghost")) == 0


def test_healthz(client, app):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_healthz_503_when_the_database_is_gone(tmp_path):
    app = create_app(
        TestConfig,
        INSTANCE_PATH=str(tmp_path),
        SQLALCHEMY_DATABASE_URI="postgresql+psycopg://nobody:x@127.0.0.1:1/none",
        SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"connect_timeout": 1}},
    )
    response = app.test_client().get("/healthz")
    assert response.status_code == 503


def test_development_generates_secrets_once(tmp_path):
    env_app = _dev_app(tmp_path)
    again = _dev_app(tmp_path)
    assert env_app.config["SECRET_KEY"] == again.config["SECRET_KEY"]
    assert env_app.config["TOKEN_ENCRYPTION_KEYS"] == again.config["TOKEN_ENCRYPTION_KEYS"]
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def _dev_app(path):
    class DevConfig(TestConfig):
        SECRET_KEY = None
        TOKEN_ENCRYPTION_KEYS = None

    return create_app(DevConfig, INSTANCE_PATH=str(path))


def test_production_refuses_to_start_without_secret_key(tmp_path):
    env = {
        "APP_ENV": "production",
        "PATH": "/usr/bin:/bin",
        "INSTANCE_PATH": str(tmp_path),
        "TOKEN_ENCRYPTION_KEYS": TestConfig.TOKEN_ENCRYPTION_KEYS,
    }
    result = subprocess.run(
        [sys.executable, "-c", "from app import create_app; create_app()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "SECRET_KEY must be set in the environment when APP_ENV=production."
    )


def test_nul_bytes_are_refused_before_they_reach_the_database(auth, client):
    auth.login()
    response = client.post(
        "/profile/edit/user-profile",
        data={"first_name": "Sal\x00ly", "email": "sally@crm.example", "time_zone": "UTC"},
    )
    assert response.status_code == 400
    assert client.get("/admin/users?q=a%00b").status_code in (400, 403)
    user = db.session.scalar(select(User).where(User.username == "sally"))
    assert user.first_name == "Sally"
