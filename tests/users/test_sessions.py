"""Sessions end when they should: logout ends one for real, a password change or deactivation
ends the others, lifetime and idle limits hold, proxies are believed only when configured, and an
unknown username costs the same hash time as a known one."""

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app import create_app
from app.core.db import utcnow
from app.extensions import db
from app.users import directory as users
from app.users.models import User, UserSession
from config import TestConfig


def _user(username: str) -> User:
    return db.session.scalar(select(User).where(User.username == username))


def _cookie(client) -> str:
    return client.get_cookie("session").value


def _with_cookie(app, cookie: str):
    copy = app.test_client()
    copy.set_cookie("session", cookie)
    return copy


def _signed_in(client) -> bool:
    return client.get("/profile/").status_code == 200


def _login(app, username="sally", password="sally-password"):
    client = app.test_client()
    response = client.post("/login", data={"username": username, "password": password})
    assert response.status_code == 302
    return client


def test_logout_ends_the_session_on_the_server(auth, client, app):
    auth.login()
    stolen = _cookie(client)
    assert _signed_in(_with_cookie(app, stolen))
    auth.logout()
    assert not _signed_in(client)
    assert not _signed_in(_with_cookie(app, stolen))  # a copy of the cookie stops working
    ended = db.session.scalar(select(UserSession))
    assert ended.ended_at is not None and ended.token_hash not in stolen


def test_a_sign_in_gets_a_fresh_session(auth, client):
    client.get("/login")
    before = _cookie(client)
    auth.login()
    assert _cookie(client) != before


def test_changing_ones_password_ends_every_other_session(auth, app):
    laptop, phone = _login(app), _login(app)
    response = laptop.post(
        "/profile/edit/password",
        data={
            "current_password": "sally-password",
            "new_password": "a-new-password",
            "confirm_password": "a-new-password",
        },
    )
    assert response.status_code == 302
    assert _signed_in(laptop) and not _signed_in(phone)


def test_an_admin_reset_or_deactivation_ends_all_sessions(auth, app):
    sally = _login(app)
    admin = _login(app, "admin", "admin-password")
    user_id = _user("sally").id
    admin.post(
        f"/admin/users/{user_id}/edit/password",
        data={"new_password": "reset-by-admin", "confirm_password": "reset-by-admin"},
    )
    assert not _signed_in(sally) and _signed_in(admin)

    sally = _login(app, password="reset-by-admin")
    assert _signed_in(sally)
    admin.post(f"/admin/users/{user_id}/deactivate")
    assert not _signed_in(sally)
    assert (
        db.session.scalar(
            select(db.func.count(UserSession.id)).where(
                UserSession.user_id == user_id, UserSession.ended_at.is_(None)
            )
        )
        == 0
    )


def test_a_session_lasts_no_longer_than_its_lifetime(auth, client, app):
    auth.login()
    hours = app.config["SESSION_LIFETIME_HOURS"]
    db.session.execute(
        update(UserSession).values(created_at=utcnow() - timedelta(hours=hours, minutes=1))
    )
    db.session.commit()
    response = client.get("/profile/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_an_idle_session_ends_and_a_used_one_lives_on(auth, client, app):
    auth.login()
    idle = timedelta(minutes=app.config["SESSION_IDLE_MINUTES"])
    db.session.execute(
        update(UserSession).values(last_seen_at=utcnow() - idle + timedelta(minutes=2))
    )
    db.session.commit()
    assert _signed_in(client)  # used now: the idle clock starts again
    db.session.expire_all()
    assert utcnow() - db.session.scalar(select(UserSession.last_seen_at)) < timedelta(minutes=1)
    db.session.execute(
        update(UserSession).values(last_seen_at=utcnow() - idle - timedelta(seconds=1))
    )
    db.session.commit()
    assert not _signed_in(client)
    assert db.session.scalar(select(UserSession.ended_at)) is not None


def test_a_signed_in_page_still_costs_one_statement(auth, client):
    from tests.conftest import count_statements

    auth.login()
    client.get("/profile/")  # the session was just touched
    assert count_statements(client, "/profile/") == 1


def test_cleanup_removes_long_ended_sessions(auth, client, runner):
    auth.login()
    auth.logout()
    db.session.execute(update(UserSession).values(ended_at=utcnow() - timedelta(days=31)))
    db.session.commit()
    result = runner.invoke(args=["cleanup"])
    assert "removed 1 ended sessions" in result.output
    assert db.session.scalar(select(db.func.count(UserSession.id))) == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("proxies", [0, 1])
def test_the_throttle_sees_the_client_behind_a_trusted_proxy(database_url, tmp_path, proxies):
    app = create_app(
        TestConfig,
        SQLALCHEMY_DATABASE_URI=database_url,
        INSTANCE_PATH=str(tmp_path),
        TRUSTED_PROXIES=proxies,
    )
    with app.app_context():
        db.create_all()
        users.create_user(None, "sally", "sally@crm.example", "sally-password")
        db.session.commit()
        db.session.remove()

    def attempt(address: str, password: str):
        return app.test_client().post(
            "/login",
            data={"username": "sally", "password": password},
            headers={"X-Forwarded-For": address},
            environ_base={"REMOTE_ADDR": "10.0.0.1"},  # the proxy
        )

    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        attempt("203.0.113.7", "wrong-wrong")
    response = attempt("198.51.100.2", "sally-password")  # another person, same proxy
    if proxies:
        assert response.status_code == 302  # only the guesser's address is locked
        assert attempt("203.0.113.7", "sally-password").status_code == 429
    else:
        assert response.status_code == 429  # X-Forwarded-For is not believed
    with app.app_context():
        db.engine.dispose()


def test_an_unknown_username_costs_a_password_hash_too(auth, monkeypatch):
    checked = []
    real = users.check_password_hash

    def spy(pwhash, password):
        checked.append(pwhash.split("$", 1)[0])
        return real(pwhash, password)

    monkeypatch.setattr(users, "check_password_hash", spy)
    assert not users.password_matches(None, "whatever")
    known = _user("sally").password_hash.split("$", 1)[0]
    assert checked == [known] and known.startswith("scrypt:")
