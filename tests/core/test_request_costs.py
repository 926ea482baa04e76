"""What each page costs (statements, cookies), and the CSRF, secret key and header rules every
page keeps."""

import re
import time
from datetime import timedelta

from flask import make_response

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


def test_one_csrf_token_per_page_is_accepted(app, auth, client):
    auth.login()
    app.config["WTF_CSRF_ENABLED"] = True
    page = client.get("/profile/edit/user-profile").get_data(as_text=True)
    # One token per page, shared by the page's meta tag and its forms.
    first = meta_token(page)
    assert csrf_token(page) == first
    response = client.post("/logout", data={"csrf_token": first})
    assert response.status_code == 302
    assert client.get("/profile/").status_code == 302  # signed out: the token did its job


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


def test_links_follow_the_script_root(auth, client):
    auth.login()
    page = client.get("/profile/", base_url="http://localhost/crm").get_data(as_text=True)
    assert 'href="/crm/profile/"' in page and 'href="/crm/static/css/app.css"' in page
    page = client.get("/profile/").get_data(as_text=True)
    assert 'href="/profile/"' in page and 'href="/static/css/app.css"' in page
    assert 'action="/logout"' in page
