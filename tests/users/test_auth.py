"""Sign-in, sign-out, throttling and the `next` redirect."""

from sqlalchemy import select

from app.extensions import db
from app.users.models import User


def test_login_page_has_the_original_labels(client):
    html = client.get("/login").get_data(as_text=True)
    assert "Username" in html and "Password" in html and "Log In" in html


def test_login_then_home(auth, client):
    response = auth.login()
    assert response.status_code == 302
    assert response.headers["Location"] == "/home"
    home = client.get("/home").get_data(as_text=True)
    assert "Sally Bronsen" in home


def test_wrong_password_and_unknown_user_get_the_same_message(auth, client):
    wrong = auth.login(password="nope-nope")
    unknown = auth.login(username="nobody", password="nope-nope")
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "Invalid username or password" in response.get_data(as_text=True)
    assert client.get("/home").status_code == 302


def test_login_is_case_insensitive_on_username(auth, client):
    assert auth.login(username="SALLY").status_code == 302


def test_external_next_is_ignored(auth, client):
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"):
        response = auth.login(next=target)
        assert response.headers["Location"] == "/home", target
        auth.logout()


def test_local_next_is_followed(auth):
    response = auth.login(next="/profile/edit/password")
    assert response.headers["Location"] == "/profile/edit/password"


def test_deactivated_user_cannot_sign_in(auth, app):
    user = db.session.scalar(select(User).where(User.username == "sally"))
    user.active = False
    db.session.commit()
    response = auth.login()
    assert response.status_code == 401
    assert "Invalid username or password" in response.get_data(as_text=True)


def test_deactivated_user_session_ends(auth, client):
    auth.login()
    user = db.session.scalar(select(User).where(User.username == "sally"))
    user.active = False
    db.session.commit()
    assert client.get("/home").status_code == 302


def test_throttle_after_repeated_failures(auth, app):
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        auth.login(password="wrong-wrong")
    response = auth.login()  # even the right password waits now
    assert response.status_code == 429
    assert "Too many failed attempts" in response.get_data(as_text=True)


def test_logout_needs_post(auth, client):
    auth.login()
    assert client.get("/logout").status_code == 405
    assert auth.logout().status_code == 302
    assert client.get("/home").status_code == 302


def test_anonymous_is_sent_to_login(client):
    response = client.get("/profile/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
