"""The app wired to the running stand-in, and a driver that walks the connect flow over HTTP."""

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests
from sqlalchemy import select

from app.connect import connectors
from app.connect.models import ExternalAccount
from app.extensions import db

CLIENT_ID = "11111111-2222-4333-8444-555555555555"
CLIENT_SECRET = "connector-secret-value-0123456789"
ADELE = "a11ce000-0000-4000-8000-00000000ade1"
MEGAN = "a11ce000-0000-4000-8000-00000000e6a0"
ALEX = "a11ce000-0000-4000-8000-0000000a1e00"
CONTOSO = "c0ffee00-0000-4000-8000-00000000c0de"
TIMEOUT = 10


class Standin:
    """Control API of the running stand-in."""

    def __init__(self, base: str):
        self.base = base

    def control(self, method: str, path: str, body: dict | None = None) -> dict:
        response = requests.request(
            method, f"{self.base}/_standin{path}", json=body, timeout=TIMEOUT
        )
        assert response.ok, response.text
        return response.json()

    def fault(self, area: str, mode: str, **options) -> None:
        self.control("POST", "/faults", {"area": area, "mode": mode, **options})

    def stats(self) -> dict:
        return self.control("GET", "/stats")

    def register(self, redirect_uri: str) -> None:
        self.control(
            "POST",
            "/clients",
            {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": [redirect_uri],
            },
        )


@pytest.fixture
def ms(standin) -> Standin:
    """The stand-in, reset, with the test client registered."""
    stand = Standin(standin)
    stand.control("POST", "/reset")
    stand.control("DELETE", "/faults")
    return stand


@pytest.fixture
def configured(app, ms):
    """The app pointed at the stand-in, with the Microsoft connector configured."""
    app.config.update(MICROSOFT_AUTHORITY=ms.base, MICROSOFT_GRAPH_URL=f"{ms.base}/v1.0")
    ms.register(connectors.redirect_uri("microsoft"))
    connectors.spec("microsoft").forget()
    connectors.save(
        None,
        "microsoft",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        single_tenant=False,
        tenant="",
        enabled=True,
    )
    db.session.commit()
    yield app
    connectors.spec("microsoft").forget()


@dataclass
class Flow:
    """What the browser would have seen along the way."""

    start: dict
    authorize_url: str
    callback_url: str
    callback: object  # the app's response to the callback

    @property
    def params(self) -> dict:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.callback_url).query).items()}


def _pending(html: str) -> str:
    match = re.search(r'name="pending" value="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1)


def drop_scope(authorize_url: str, scope: str) -> str:
    """The authorize URL without `scope` in its scope parameter: a sign-in as an older version
    of the app asked for it (a grant that lacks a permission added since)."""
    parts = urlsplit(authorize_url)
    query = [
        (key, " ".join(s for s in value.split() if s != scope) if key == "scope" else value)
        for key, value in parse_qsl(parts.query)
    ]
    return urlunsplit(parts._replace(query=urlencode(query)))


def sign_in_at_standin(authorize_url: str, oid: str, decision: str = "accept") -> str:
    """Pick the account and Accept (or Cancel) like a person; return the redirect back."""
    picker = requests.get(authorize_url, timeout=TIMEOUT, allow_redirects=False)
    if picker.status_code == 302:  # an authorize-area fault answers at once
        return picker.headers["Location"]
    assert picker.status_code == 200, picker.text[:500]
    base = f"{urlsplit(authorize_url).scheme}://{urlsplit(authorize_url).netloc}"
    consent = requests.post(
        f"{base}/login/pick", data={"pending": _pending(picker.text), "oid": oid}, timeout=TIMEOUT
    )
    assert consent.status_code == 200, consent.text[:500]
    back = requests.post(
        f"{base}/login/consent",
        allow_redirects=False,
        timeout=TIMEOUT,
        data={"pending": _pending(consent.text), "decision": decision},
    )
    assert back.status_code == 302, back.text[:500]
    return back.headers["Location"]


def app_path(url: str) -> str:
    """The path and query of an app URL, for the test client."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def start_connect(client, path="/profile/external-accounts/new", data=None) -> dict:
    """Press Connect as the page's script does: a JSON POST, then the pop-up's go URL."""
    response = client.post(
        path,
        data=data or {"application": "microsoft", "mode": "popup"},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def connect(
    client,
    oid=ADELE,
    decision="accept",
    path="/profile/external-accounts/new",
    data=None,
    before_callback=None,
) -> Flow:
    """The whole pop-up flow over HTTP: start, go, sign in at the stand-in, callback."""
    start = start_connect(client, path, data)
    go = client.get(start["go_url"])
    assert go.status_code == 302
    authorize_url = go.headers["Location"]
    callback_url = sign_in_at_standin(authorize_url, oid, decision)
    if before_callback:
        callback_url = before_callback(callback_url) or callback_url
    callback = client.get(app_path(callback_url))
    return Flow(start, authorize_url, callback_url, callback)


@pytest.fixture
def account(auth, configured, client):
    """Sally's Microsoft account, connected through the real flow."""
    auth.login()
    connect(client)
    return db.session.scalar(select(ExternalAccount))
