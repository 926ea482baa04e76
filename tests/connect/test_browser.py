"""External Accounts in a real Chromium: the pop-up connect, cancel, a blocked pop-up,
Reauthenticate (same and another account), Delete, no connector, another user's account, the
opener's origin check, and no token or client secret anywhere the browser or the log could see.

One gunicorn app wired to the stand-in serves the whole module (starting one costs ~15 s on a
busy machine); every test signs in as its own user, so the tests do not share accounts."""

import itertools
import json
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.connect.models import Credential, ExternalAccount, OAuthFlow
from app.core import crypto
from app.extensions import db
from app.users import directory as users
from app.users.models import User
from tests.conftest import STANDIN_CLIENT, app_on_standin, browser_login, csrf_token, popup_of

pytestmark = pytest.mark.browser

PASSWORD = "browser-test-password"
ADELE, MEGAN = "adele@contoso.example", "megan@contoso.example"
_numbers = itertools.count(1)


class Server:
    """The module's live app: its URL, the stand-in, an in-process app for setup and checks."""

    def __init__(self, live, standin, folder):
        self.url = live.url
        self.standin = standin
        self.folder = folder
        self.flask = live.app()

    def context(self):
        return self.flask.app_context()


@pytest.fixture(scope="module")
def server(standin, tmp_path_factory):
    """Like `live_ms`, but once for the module: gunicorn (2 workers) on the stand-in, the
    Microsoft connector configured, the app registered at the stand-in."""
    folder = tmp_path_factory.mktemp("live_ms")
    with app_on_standin(folder, standin) as live:
        srv = Server(live, standin, folder)
        yield srv
        with srv.context():
            db.engine.dispose()


@pytest.fixture
def me(server, page):
    """A fresh user of my own, signed in in `page`; returns the username. The login form is
    posted by the context's request API (same cookies as the page): quicker than typing. The
    user is deleted afterwards: a Microsoft identity belongs to one CRM user at a time."""
    username = f"user{next(_numbers)}"
    with server.context():
        users.create_user(None, username, f"{username}@crm.example", PASSWORD)
        db.session.commit()
    token = csrf_token(page.request.get(f"{server.url}/login").text())
    answer = page.request.post(
        f"{server.url}/login",
        form={"csrf_token": token, "username": username, "password": PASSWORD},
        max_redirects=0,
    )
    assert answer.status == 302 and answer.headers["location"].endswith("/home")
    yield username
    with server.context():
        user = db.session.scalar(select(User).where(User.username == username))
        db.session.delete(user)
        db.session.commit()
        db.session.remove()


# --- helpers -----------------------------------------------------------------------------------


def account_row(server, username):
    """(status, authorized_email, authorized_name, id) of the user's Microsoft account, or None."""
    with server.context():
        user = db.session.scalar(select(User).where(User.username == username))
        account = db.session.scalar(
            select(ExternalAccount).where(ExternalAccount.user_id == user.id)
        )
        db.session.remove()
        if account is None:
            return None
        return account.status, account.authorized_email, account.authorized_name, account.id


def stored_tokens(server, username):
    """The decrypted (access, refresh) tokens of the user's Microsoft account."""
    with server.context():
        credential = db.session.scalar(
            select(Credential)
            .join(ExternalAccount)
            .join(User, User.id == ExternalAccount.user_id)
            .where(User.username == username)
        )
        tokens = (
            crypto.decrypt(credential.access_token_encrypted),
            crypto.decrypt(credential.refresh_token_encrypted),
        )
        db.session.remove()
        return tokens


def flow_modes(server, username):
    """The mode of each sign-in flow the user started: "popup" or "redirect"."""
    with server.context():
        modes = db.session.scalars(
            select(OAuthFlow.mode)
            .join(User, User.id == OAuthFlow.actor_id)
            .where(User.username == username)
        ).all()
        db.session.remove()
        return modes


def open_create(page, server):
    page.goto(f"{server.url}/profile/edit/external-accounts")
    page.get_by_role("link", name="Create").click()
    page.wait_for_url("**/profile/external-accounts/new")  # loaded: no load event still to come
    page.get_by_label("Application").select_option("microsoft")


def sign_in_popup(page, button, account="Adele Vance", decision="Accept"):
    """Click `button` (Connect / Reauthenticate) and go through the stand-in in the pop-up;
    return the pop-up, which the bridge page closes."""
    with popup_of(page) as popup_info:
        page.get_by_role("button", name=button).click()
    popup = popup_info.value
    popup.get_by_role("button", name=account).click()
    with popup.expect_event("close"):
        popup.get_by_role("button", name=decision).click()
    return popup


def connect(page, server, account="Adele Vance"):
    """Create > Microsoft > Connect > account > Accept; the opener lands on the list."""
    open_create(page, server)
    sign_in_popup(page, "Connect", account)
    page.wait_for_url("**/profile/edit/external-accounts?flow=*")
    assert page.locator(".flash-success", has_text="account").is_visible(), page.content()


def list_row(page):
    return page.locator("table.list tbody tr")


def reauthenticate(page, account, decision="Accept"):
    page.get_by_role("link", name="Microsoft", exact=True).click()
    page.wait_for_url("**/profile/external-accounts/*")
    sign_in_popup(page, "Reauthenticate", account, decision)


# --- tests -------------------------------------------------------------------------------------


def test_popup_connect_lists_account_without_reload(server, me, page):
    loads = []
    page.on("load", lambda _: loads.append(page.url))
    open_create(page, server)
    loads.clear()
    popup = sign_in_popup(page, "Connect", "Adele Vance")
    assert popup.is_closed()
    page.wait_for_url("**/profile/edit/external-accounts?flow=*")
    # The pop-up closed itself and connect.js took the opener straight to the result: the
    # test (the user) did nothing after Accept, and no other page was loaded on the way.
    assert all("?flow=" in url for url in loads), loads
    expect(page.get_by_text(f"Microsoft account {ADELE} is connected.")).to_be_visible()
    assert list_row(page).count() == 1
    row = list_row(page).first
    assert row.locator(".status").inner_text() == "Connected"
    assert ADELE in row.inner_text() and "Adele Vance" in row.inner_text()
    status, username, _name, _id = account_row(server, me)
    assert (status, username) == ("connected", ADELE)
    access, refresh = stored_tokens(server, me)
    assert access and refresh
    assert flow_modes(server, me) == ["popup"]  # connect.js asked for one


def test_a_click_before_the_scripts_run_connects_in_this_window(server, me, page):
    """Connect clicked before the page's deferred scripts have run (a slow network) is a plain
    form post: the sign-in happens in this tab and the account is connected all the same."""
    held = []
    page.route("**/static/js/app.js*", lambda route: held.append(route))  # still loading
    page.goto(f"{server.url}/profile/external-accounts/new", wait_until="commit")
    page.get_by_label("Application").select_option("microsoft")
    page.get_by_role("button", name="Connect").click()
    page.wait_for_url(f"{server.standin}/**")  # the sign-in, in this very tab
    assert held and len(page.context.pages) == 1
    page.unroute("**/static/js/app.js*")  # the navigation ended the held request
    page.get_by_role("button", name="Adele Vance").click()
    page.get_by_role("button", name="Accept").click()
    page.wait_for_url(f"{server.url}/profile/edit/external-accounts?flow=*")
    expect(page.get_by_text(f"Microsoft account {ADELE} is connected.")).to_be_visible()
    assert account_row(server, me)[:2] == ("connected", ADELE)
    assert flow_modes(server, me) == ["redirect"]


def test_the_result_shown_in_place_is_what_a_page_load_shows(server, me, page):
    loads = []
    page.on("load", lambda _: loads.append(page.url))
    open_create(page, server)
    loads.clear()
    sign_in_popup(page, "Connect", "Adele Vance")
    page.wait_for_url("**/profile/edit/external-accounts?flow=*")
    assert loads == []  # connect.js put the result page's content in place
    shown = (page.title(), page.locator("main").inner_text())
    assert page.evaluate("document.activeElement === document.querySelector('main')")
    page.reload()  # the plain way: load the same URL
    assert (page.title(), page.locator("main").inner_text()) == shown
    assert f"Microsoft account {ADELE} is connected." in shown[1]


def test_the_result_is_loaded_when_it_cannot_be_shown_in_place(server, me, page):
    def refuse_fetch(route):
        if route.request.resource_type == "fetch":
            route.fulfill(status=503, body="busy")
        else:
            route.continue_()

    page.route("**/profile/edit/external-accounts?flow=*", refuse_fetch)
    loads = []
    page.on("load", lambda _: loads.append(page.url))
    open_create(page, server)
    loads.clear()
    sign_in_popup(page, "Connect", "Adele Vance")
    page.wait_for_url("**/profile/edit/external-accounts?flow=*")
    page.wait_for_load_state()
    assert len(loads) == 1 and "?flow=" in loads[0]  # the fallback: a page load
    expect(page.get_by_text(f"Microsoft account {ADELE} is connected.")).to_be_visible()


def test_cancel_at_consent_tells_the_opener(server, me, page):
    open_create(page, server)
    sign_in_popup(page, "Connect", "Adele Vance", decision="Cancel")
    page.wait_for_url("**/profile/edit/external-accounts?flow=*")
    assert page.locator(
        ".flash-error", has_text="You cancelled the connection to Microsoft."
    ).is_visible()
    assert list_row(page).first.locator(".status").inner_text() == "Not connected"
    status, username, _name, _id = account_row(server, me)
    assert (status, username) == ("not_connected", "")


def test_blocked_popup_continues_in_this_window(server, me, page):
    page.context.add_init_script("window.open = () => null")
    open_create(page, server)
    blocked = page.locator("[data-oauth-blocked]")
    assert blocked.is_hidden()
    page.get_by_role("button", name="Connect").click()
    expect(blocked).to_be_visible()
    assert "Your browser blocked the pop-up window" in blocked.inner_text()
    assert len(page.context.pages) == 1
    page.get_by_role("button", name="Continue in this window").click()
    page.wait_for_url(f"{server.standin}/**")  # the sign-in, in this very tab
    page.get_by_role("button", name="Adele Vance").click()
    page.get_by_role("button", name="Accept").click()
    page.wait_for_url(f"{server.url}/profile/edit/external-accounts?flow=*")
    expect(page.get_by_text(f"Microsoft account {ADELE} is connected.")).to_be_visible()
    assert list_row(page).first.locator(".status").inner_text() == "Connected"
    assert len(page.context.pages) == 1
    assert account_row(server, me)[:2] == ("connected", ADELE)
    assert flow_modes(server, me) == ["redirect"]


def test_reauthenticate_same_account(server, me, page):
    connect(page, server)
    before = stored_tokens(server, me)
    reauthenticate(page, "Adele Vance")
    page.wait_for_url("**/profile/edit/external-accounts?flow=*")
    expect(page.get_by_text(f"Microsoft account {ADELE} is connected.")).to_be_visible()
    assert list_row(page).count() == 1
    assert list_row(page).first.locator(".status").inner_text() == "Connected"
    assert account_row(server, me)[:2] == ("connected", ADELE)
    after = stored_tokens(server, me)
    assert after[0] != before[0] and after[1] != before[1]  # new tokens were stored


def test_reauthenticate_with_another_account_keep_then_replace(server, me, page):
    connect(page, server)
    adele_tokens = stored_tokens(server, me)
    account_id = account_row(server, me)[3]

    reauthenticate(page, "Megan Bowen")
    page.wait_for_url("**/oauth/flows/*/confirm")
    expect(page.get_by_role("heading", name="Another account signed in")).to_be_visible()
    assert ADELE in page.content() and MEGAN in page.content()
    page.get_by_role("button", name="Keep the connected account").click()
    page.wait_for_url("**/profile/edit/external-accounts")
    expect(page.get_by_text(f"Kept {ADELE}; nothing was changed.")).to_be_visible()
    assert ADELE in list_row(page).first.inner_text()
    assert account_row(server, me)[:2] == ("connected", ADELE)
    assert stored_tokens(server, me) == adele_tokens

    page.goto(f"{server.url}/profile/external-accounts/{account_id}")
    sign_in_popup(page, "Reauthenticate", "Megan Bowen")
    page.wait_for_url("**/oauth/flows/*/confirm")
    page.get_by_role("button", name="Replace").click()
    page.wait_for_url("**/profile/edit/external-accounts")
    expect(page.get_by_text(f"Microsoft account {MEGAN} is connected.")).to_be_visible()
    row = list_row(page).first.inner_text()
    assert MEGAN in row and ADELE not in row
    assert account_row(server, me)[:3] == ("connected", MEGAN, "Megan Bowen")
    assert stored_tokens(server, me)[0] != adele_tokens[0]


def test_delete_with_confirmation(server, me, page):
    connect(page, server)
    account_id = account_row(server, me)[3]
    page.get_by_role("link", name="Microsoft", exact=True).click()
    page.get_by_role("link", name="Delete").click()
    page.wait_for_url(f"**/profile/external-accounts/{account_id}/delete")
    expect(page.get_by_role("heading", name="Delete the Microsoft account?")).to_be_visible()
    assert account_row(server, me) is not None  # nothing deleted before confirming
    page.get_by_role("button", name="Delete").click()
    page.wait_for_url("**/profile/edit/external-accounts")
    assert page.get_by_text(
        "The Microsoft account was deleted and its tokens removed."
    ).is_visible()
    assert list_row(page).count() == 0
    expect(page.get_by_text("No external accounts yet.")).to_be_visible()
    assert account_row(server, me) is None
    with server.context():
        assert (
            db.session.scalar(select(Credential).where(Credential.account_id == account_id)) is None
        )
        db.session.remove()


def test_microsoft_not_offered_without_connector(live_server, page):
    with live_server.app().app_context():
        users.create_user(None, "nobody", "nobody@crm.example", PASSWORD)
        db.session.commit()
        db.engine.dispose()
    browser_login(page, live_server.url, "nobody", PASSWORD)
    page.goto(f"{live_server.url}/profile/edit/external-accounts")
    page.get_by_role("link", name="Create").click()
    page.wait_for_url("**/profile/external-accounts/new")
    expect(page.get_by_text("ask your administrator to check Admin > Connectors")).to_be_visible()
    assert page.get_by_label("Application").count() == 0
    assert page.get_by_role("button", name="Connect").count() == 0
    assert page.locator("option[value=microsoft]").count() == 0


def test_another_users_account_is_404(server, me, page):
    with server.context():
        other = users.create_user(None, f"{me}-other", f"{me}-other@crm.example", PASSWORD)
        db.session.commit()
        mine_user = db.session.scalar(select(User).where(User.username == me))
        theirs = ExternalAccount(
            user_id=other.id, provider="microsoft", status="connected",
            authorized_name="Their Name", authorized_email="theirs@contoso.example",
        )  # fmt: skip
        mine = ExternalAccount(user_id=mine_user.id, provider="microsoft", status="not_connected")
        db.session.add_all([theirs, mine])
        db.session.commit()
        theirs_id, mine_id = theirs.id, mine.id
        db.session.remove()
    base = f"{server.url}/profile/external-accounts"
    # My own account answers 200, so the 404s below are about ownership, not the URL.
    assert page.goto(f"{base}/{mine_id}").status == 200
    token = csrf_token(page.content())
    assert page.goto(f"{base}/{theirs_id}").status == 404
    assert "theirs@contoso.example" not in page.content()
    assert page.goto(f"{base}/{theirs_id}/delete").status == 404
    for action in ("delete", "connect"):
        answer = page.request.post(
            f"{base}/{theirs_id}/{action}",
            form={"csrf_token": token, "mode": "redirect"},
            max_redirects=0,
        )
        assert answer.status == 404, action
    page.goto(f"{server.url}/profile/edit/external-accounts")
    assert list_row(page).count() == 1
    assert "theirs@contoso.example" not in page.content()
    assert account_row(server, f"{me}-other")[:2] == ("connected", "theirs@contoso.example")


def test_message_from_another_origin_is_ignored(server, me, page):
    open_create(page, server)
    with page.expect_response(
        lambda r: r.url.endswith("/profile/external-accounts/new") and r.request.method == "POST"
    ) as started:
        with popup_of(page) as popup_info:
            page.get_by_role("button", name="Connect").click()
    body = started.value.json()
    assert "flow" in body, body
    flow = body["flow"]
    popup = popup_info.value
    popup.get_by_role("button", name="Adele Vance").wait_for()  # the flow is pending
    status_box = page.locator("[data-oauth-status]")
    waiting = "Waiting for you to sign in with Microsoft in the pop-up window"
    assert waiting in status_box.inner_text()
    url_before = page.url
    for status in ("done", "error", "confirm"):
        page.evaluate(
            """([flow, status]) => window.dispatchEvent(new MessageEvent("message", {
                   origin: "https://evil.example", data: {type: "oauth-flow", status, flow}}))""",
            [flow, status],
        )
    page.wait_for_timeout(1500)  # longer than a poll of connect.js
    assert page.url == url_before
    assert waiting in status_box.inner_text()  # the watcher did not react nor give up
    # The real result still arrives and is acted on.
    popup.get_by_role("button", name="Adele Vance").click()
    popup.get_by_role("button", name="Accept").click()
    page.wait_for_url(f"**/profile/edit/external-accounts?flow={flow}")
    expect(page.get_by_text(f"Microsoft account {ADELE} is connected.")).to_be_visible()


def test_tokens_and_secret_never_reach_browser_or_log(server, browser, tmp_path):
    # A HAR of the whole context (opener and pop-ups) holds every request and response the
    # browser saw: URLs, headers, redirects, bodies, even of pop-ups closed meanwhile. A HAR
    # may miss the body of a fetch() (the opener's status reads, the result page it fetches),
    # so fetch/XHR responses are also read by a route before the page gets them.
    har = tmp_path / "connect.har"
    fetched = {}  # url -> bodies of fetch/XHR responses

    def read_fetches(route):
        if route.request.resource_type not in ("fetch", "xhr"):
            route.continue_()
            return
        response = route.fetch(max_redirects=0)
        fetched.setdefault(route.request.url, []).append(response.text())
        route.fulfill(response=response)

    context = browser.new_context(record_har_path=str(har), record_har_content="embed")
    context.set_default_timeout(15000)
    context.route("**/*", read_fetches)
    try:
        page = context.new_page()
        username = f"user{next(_numbers)}"
        with server.context():
            users.create_user(None, username, f"{username}@crm.example", PASSWORD)
            db.session.commit()
        browser_login(page, server.url, username, PASSWORD)
        connect(page, server)
        # Reauthenticate too: a second code redemption stores fresh tokens.
        reauthenticate(page, "Adele Vance")
        page.wait_for_url("**/profile/edit/external-accounts?flow=*")
    finally:
        context.close()  # writes the HAR
    access, refresh = stored_tokens(server, username)
    secret = STANDIN_CLIENT[1]
    assert len(access) > 20 and len(refresh) > 20 and access != refresh

    entries = json.loads(har.read_text())["log"]["entries"]
    urls = [e["request"]["url"] for e in entries]
    assert any("/oauth/microsoft/callback?code=" in u for u in urls)  # the pop-up's pages
    bridge = [e for e in entries if "/oauth/microsoft/callback?" in e["request"]["url"]]
    assert bridge and all(
        'id="oauth-result"' in e["response"]["content"].get("text", "") for e in bridge
    )  # bodies of closed pop-ups were recorded
    # The opener heard each result and fetched the page it leads to (connect.js showResult).
    results = [u for u in fetched if "/profile/edit/external-accounts?flow=" in u]
    assert len(results) == 2 and all("is connected" in b for u in results for b in fetched[u])
    # Every body the browser received was seen: in the HAR, or read by the route.
    unseen = [
        e["request"]["url"]
        for e in entries
        if not 300 <= e["response"]["status"] < 400
        and e["response"]["status"] > 0
        and "text" not in e["response"]["content"]
        and e["request"]["url"] not in fetched
    ]
    assert not unseen, f"bodies not recorded: {unseen}"
    texts = [(e["request"]["url"], json.dumps(e)) for e in entries]
    texts += [(u, b) for u, bodies in fetched.items() for b in bodies]
    for name, value in (
        ("access token", access),
        ("refresh token", refresh),
        ("client secret", secret),
    ):
        leaks = [url for url, text in texts if value in text]
        assert not leaks, f"the {name} reached the browser: {leaks}"

    log = (server.folder / "gunicorn.log").read_text()
    assert "Booting worker" in log  # the right log file
    for name, value in (
        ("access token", access),
        ("refresh token", refresh),
        ("client secret", secret),
    ):
        assert value not in log, f"the {name} is in the gunicorn log"
    assert not re.search(r"eyJ[\w-]{10,}\.[\w-]{10,}\.", log), "a JWT is in the gunicorn log"
