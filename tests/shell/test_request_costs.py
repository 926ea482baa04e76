"""What each page costs, and that the shortcuts taken to make it cheap stay correct."""

import re
import time
from datetime import timedelta

import flask.app
from flask import make_response, request

from app.services import security
from tests.conftest import count_statements, csrf_token


def meta_token(html: str) -> str:
    """The CSRF token a page hands to its scripts."""
    return re.search(r'<meta name="csrf-token" content="([^"]+)">', html).group(1)


def test_profile_costs_one_statement(auth, client):
    auth.login()
    client.get("/profile/")  # warm: the first use of a template and a statement
    assert count_statements(client, "/profile/") == 1


def test_a_page_does_not_rewrite_the_session_cookie(auth, client):
    auth.login()
    client.get("/profile/")
    response = client.get("/profile/")
    assert "Set-Cookie" not in response.headers


def test_the_csrf_token_signed_once_is_reused_and_still_accepted(app, auth, client):
    auth.login()
    app.config["WTF_CSRF_ENABLED"] = True
    first = meta_token(client.get("/profile/").get_data(as_text=True))
    page = client.get("/profile/edit/user-profile").get_data(as_text=True)
    # One token per page, shared by the page's meta tag and its forms, reused on the next page.
    assert meta_token(page) == csrf_token(page) == first
    response = client.post("/logout", data={"csrf_token": first})
    assert response.status_code == 302
    assert client.get("/profile/").status_code == 302  # signed out: the token did its job


def test_the_csrf_token_is_signed_again_after_the_reuse_window(app, auth, client, monkeypatch):
    auth.login()
    app.config["WTF_CSRF_ENABLED"] = True
    signed = []
    sign = security.generate_csrf
    monkeypatch.setattr(security, "generate_csrf", lambda: signed.append(1) or sign())
    first = meta_token(client.get("/profile/").get_data(as_text=True))
    client.get("/profile/")
    assert len(signed) == 1  # signed for the first page, reused for the second
    monkeypatch.setattr(security, "CSRF_REUSE_SECONDS", 0)
    client.get("/profile/")
    assert len(signed) == 2
    # The older token has not reached WTF_CSRF_TIME_LIMIT: it is still accepted.
    assert client.post("/logout", data={"csrf_token": first}).status_code == 302


def test_a_short_csrf_time_limit_shortens_the_reuse(app, auth, client, monkeypatch):
    auth.login()
    signed = []
    sign = security.generate_csrf
    monkeypatch.setattr(security, "generate_csrf", lambda: signed.append(1) or sign())
    app.config["WTF_CSRF_TIME_LIMIT"] = 0  # an operator's choice: every page signs anew
    client.get("/profile/")
    client.get("/profile/")
    assert len(signed) == 2


def test_a_forged_csrf_token_is_refused(app, auth, client):
    auth.login()
    app.config["WTF_CSRF_ENABLED"] = True
    token = meta_token(client.get("/profile/").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token[:-2] + "xx"}).status_code == 400


def test_a_new_secret_key_signs_new_sessions_and_old_cookies_need_a_fallback(app, auth, client):
    auth.login()
    assert client.get("/profile/").status_code == 200
    old = app.config["SECRET_KEY"]
    app.config["SECRET_KEY"] = app.secret_key = "a-rotated-secret-key-of-enough-length"
    assert client.get("/profile/").status_code == 302  # the old cookie no longer verifies
    auth.login()
    app.config["SECRET_KEY_FALLBACKS"] = ["a-rotated-secret-key-of-enough-length"]
    app.config["SECRET_KEY"] = app.secret_key = old
    assert client.get("/profile/").status_code == 200  # verified by the fallback key


def _request():
    """The request object itself (open_session takes it, not the proxy)."""
    return request._get_current_object()


def test_a_session_cookie_is_verified_once_per_worker(app, auth, client, monkeypatch):
    auth.login()
    serializer = app.session_interface.get_signing_serializer(app)
    verified = []
    loads = serializer.loads
    monkeypatch.setattr(serializer, "loads", lambda *a, **k: verified.append(1) or loads(*a, **k))
    client.get("/profile/")  # the first page puts the CSRF secret in the session: a new cookie
    assert verified  # the cookies so far were checked
    verified.clear()
    for _ in range(3):
        assert client.get("/profile/").status_code == 200
    assert client.get_cookie("session") is not None
    assert verified == [1]  # the new cookie was checked once; the next pages knew it


def test_a_known_session_cookie_still_expires(app, auth, client, monkeypatch):
    auth.login()
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(minutes=10)
    assert client.get("/profile/").status_code == 200
    later = time.time() + 11 * 60
    monkeypatch.setattr(time, "time", lambda: later)
    assert client.get("/profile/").status_code == 302  # signed in 11 minutes ago: expired


def test_a_changed_or_forged_cookie_is_verified_again(app, auth, client):
    auth.login()
    assert client.get("/profile/").status_code == 200
    cookie = client.get_cookie("session").value
    client.set_cookie("session", cookie[:-2] + ("AA" if cookie[-2:] != "AA" else "BB"))
    assert client.get("/profile/").status_code == 302


def test_what_one_request_does_to_its_session_never_reaches_the_next(app):
    serializer = app.session_interface.get_signing_serializer(app)
    plain = serializer.dumps({"_user_id": "7", "_fresh": True})
    flashed = serializer.dumps({"_user_id": "7", "_flashes": [["message", "Saved."]]})
    for cookie in (plain, flashed):
        with app.test_request_context(headers={"Cookie": f"session={cookie}"}):
            first = app.session_interface.open_session(app, _request())
            first["_user_id"] = "8"
            first.setdefault("_flashes", []).append(["message", "Another."])
        with app.test_request_context(headers={"Cookie": f"session={cookie}"}):
            again = app.session_interface.open_session(app, _request())
            assert again["_user_id"] == "7"
            assert again.get("_flashes", []) in ([], [["message", "Saved."]])


def test_headers_a_view_sets_itself_are_kept(app, client):
    @app.route("/_custom-headers")
    def custom():
        response = make_response("ok")
        response.headers["Content-Security-Policy"] = "default-src 'none'"
        response.headers["Cache-Control"] = "max-age=60"
        response.headers["Cross-Origin-Opener-Policy"] = ""
        return response

    response = client.get("/_custom-headers")
    assert response.headers.getlist("Content-Security-Policy") == ["default-src 'none'"]
    assert response.headers.getlist("Cache-Control") == ["max-age=60"]
    assert "Cross-Origin-Opener-Policy" not in response.headers
    assert response.headers["X-Frame-Options"] == "DENY"


def test_the_csp_follows_the_configured_authority(app, client):
    app.config["MICROSOFT_AUTHORITY"] = "https://login.example.net/"
    csp = client.get("/login").headers["Content-Security-Policy"]
    assert "form-action 'self' https://login.example.net" in csp


def test_cached_links_follow_the_script_root(auth, client):
    auth.login()
    page = client.get("/profile/", base_url="http://localhost/crm").get_data(as_text=True)
    assert 'href="/crm/profile/"' in page and 'href="/crm/static/css/app.css"' in page
    page = client.get("/profile/").get_data(as_text=True)
    assert 'href="/profile/"' in page and 'href="/static/css/app.css"' in page
    assert 'action="/logout"' in page


def test_flask_asks_once_per_function_whether_to_wrap_it_for_async(app, monkeypatch):
    asked = []
    real = flask.app.iscoroutinefunction
    monkeypatch.setattr(flask.app, "iscoroutinefunction", lambda f: asked.append(f) or real(f))

    def view():
        return "ok"

    async def coroutine():
        return "ok"

    assert app.ensure_sync(view) is view
    assert app.ensure_sync(view) is view
    assert asked == [view]
    try:
        wrapped = app.ensure_sync(coroutine)
    except RuntimeError as error:  # Flask's own answer when its async extra is not installed
        assert "async" in str(error)
    else:
        assert wrapped is not coroutine
