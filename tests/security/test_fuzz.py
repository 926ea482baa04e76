"""Fuzzed bad input: Hypothesis drives the forms and query parameters of the app's pages with
hostile values. No answer is a 500, a rejected request changes nothing stored, and every value
echoed back is escaped. SQLite only: the fuzz is about the app, not the database."""

from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from app.extensions import db

FUZZ = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Markers that must never come back raw: if they did, the page would run the attacker's script.
MARKERS = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "<svg onload=alert(1)>",
)
HOSTILE = [
    *MARKERS,
    "' OR 1=1 --",
    "'; DROP TABLE users; --",
    "\x00",
    "a\x00b",
    "\r\nSet-Cookie: evil=1",
    "\u202egnp.exe",
    "\u0627\u0644\u0639\u0631\u0628\u064a\u0629",
    "\U0001f600" * 50,
    "\ufffd",
    "A" * 5000,
    "x" * 70_000,
    "-1",
    "0",
    "99999999999999999999999",
    "1e309",
    "NaN",
    "[]",
    "{}",
    "null",
    "true",
    "../../etc/passwd",
    "%00",
    "//evil.example/",
    "javascript:alert(1)",
    " ",
    "",
]
CONTROL = st.text(alphabet=st.characters(max_codepoint=0x1F) | st.just("\x7f"), max_size=20)
VALUE = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=200),  # any Unicode but lone surrogates (they cannot be UTF-8 encoded)
    CONTROL,
    st.integers().map(str),
    st.tuples(st.text(max_size=10), st.sampled_from(MARKERS), st.text(max_size=10)).map("".join),
)
# A value that can travel in a header at all (no line breaks).
HEADER_VALUE = VALUE.map(lambda s: s.replace("\r", "").replace("\n", "")[:2000])
# Missing, one hostile value, or the parameter duplicated.
FIELD = st.one_of(st.none(), VALUE, st.lists(VALUE, min_size=2, max_size=3))

# Tables whose rows a rejected request must leave alone (the audit log and the login throttle
# are meant to record refused requests).
VOLATILE = {"audit_events", "login_throttle"}


@pytest.fixture
def fuzz_app(app):
    """The app (SQLite, and PostgreSQL when configured), with sally and admin."""
    from app.users import directory as users

    users.create_user(None, "sally", "sally@crm.example", "sally-password", first_name="Sally")
    users.create_user(None, "admin", "admin@crm.example", "admin-password", is_admin=True)
    db.session.commit()
    return app


def signed_in(app, username: str | None):
    """A test client, signed in as `username` (anonymous for None)."""
    client = app.test_client()
    if username:
        response = client.post(
            "/login", data={"username": username, "password": f"{username}-password"}
        )
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client


def snapshot() -> dict:
    """Every row of every table a rejected request must not change."""
    rows = {}
    for table in db.metadata.sorted_tables:
        if table.name not in VOLATILE:
            rows[table.name] = sorted(
                (tuple(map(repr, row)) for row in db.session.execute(table.select())), key=str
            )
    db.session.rollback()
    return rows


def user_id(username: str) -> int:
    from app.users.models import User

    return db.session.execute(db.select(User.id).filter_by(username=username)).scalar_one()


def pairs(fields: dict) -> list[tuple[str, str]]:
    """The drawn parameters as (name, value) pairs; None drops a field, a list repeats it."""
    out = []
    for name, value in fields.items():
        if value is None:
            continue
        for one in value if isinstance(value, list) else [value]:
            out.append((name, one))
    return out


def rejected(response) -> bool:
    """A 4xx/5xx, or the form shown again with errors."""
    if response.status_code >= 400:
        return True
    body = response.get_data(as_text=True)
    return response.status_code == 200 and (
        'aria-invalid="true"' in body or 'class="errors"' in body
    )


def check(response, before: dict, label: str) -> None:
    """No 500; escaped output; nothing stored changed when the request was refused."""
    body = response.get_data(as_text=True)
    assert response.status_code < 500, f"{label}: {response.status_code}\n{body[:2000]}"
    for marker in MARKERS:
        assert marker not in body, f"{label}: {marker!r} echoed unescaped"
    for name, value in response.headers.items():
        assert "\n" not in value and "\r" not in value, f"{label}: header {name} split"
        assert "evil=1" not in value or name != "Set-Cookie", f"{label}: header injection"
    if rejected(response):
        assert snapshot() == before, (
            f"{label}: refused with {response.status_code} yet data changed"
        )


PROFILE = ["first_name", "last_name", "email", "title", "department", "phone", "time_zone"]

# (id, signed-in user, method, path (may use {sally}), parameter names)
TARGETS = [
    ("login", None, "POST", "/login", ["username", "password", "next"]),
    ("profile", "sally", "POST", "/profile/edit/user-profile", PROFILE),
    (
        "password",
        "sally",
        "POST",
        "/profile/edit/password",
        ["current_password", "new_password", "confirm_password"],
    ),
    (
        "admin-create-user",
        "admin",
        "POST",
        "/admin/users/new",
        ["username", "password", "is_admin", *PROFILE],
    ),
    (
        "admin-edit-user",
        "admin",
        "POST",
        "/admin/users/{sally}/edit/user-profile",
        ["is_admin", "active", *PROFILE],
    ),
    (
        "admin-edit-password",
        "admin",
        "POST",
        "/admin/users/{sally}/edit/password",
        ["new_password", "confirm_password"],
    ),
    ("admin-user-search", "admin", "GET", "/admin/users", ["q", "page"]),
    (
        "admin-connector",
        "admin",
        "POST",
        "/admin/connectors/microsoft",
        ["client_id", "client_secret", "single_tenant", "tenant", "enabled"],
    ),
    (
        "external-account",
        "sally",
        "POST",
        "/profile/external-accounts/new",
        ["application", "mode"],
    ),
    (
        "admin-external-account",
        "admin",
        "POST",
        "/admin/users/{sally}/external-accounts/new",
        ["application", "mode"],
    ),
    ("audit-log", "admin", "GET", "/admin/audit", ["user", "action", "page"]),
    ("connections", "admin", "GET", "/admin/connections", ["filter", "page"]),
    (
        "drive-page",
        "sally",
        "GET",
        "/drive/",
        ["path", "sort", "order", "view", "cursor", "drive", "item", "name"],
    ),
    (
        "drive-api",
        "sally",
        "GET",
        "/drive/api/children",
        ["path", "sort", "order", "view", "drive", "item"],
    ),
    ("drive-more", "sally", "GET", "/drive/api/more", ["cursor"]),
    ("drive-download", "sally", "GET", "/drive/download", ["drive", "item"]),
    ("emails-list", "sally", "GET", "/emails/", ["folder", "page"]),
    (
        "emails-outbound",
        "sally",
        "POST",
        "/emails/settings/outbound",
        [
            "email_provider",
            "from_name",
            "smtp_host",
            "smtp_port",
            "smtp_security",
            "username",
            "password",
            "send_via",
            "allow_user_fallback",
        ],
    ),
    (
        "emails-inbound",
        "sally",
        "POST",
        "/emails/settings/inbound",
        ["imap_host", "imap_port", "imap_security", "imap_folder"],
    ),
    ("emails-authorize", "sally", "POST", "/emails/settings/authorize/mail", ["mode"]),
    ("emails-compose", "sally", "POST", "/emails/compose", ["to", "cc", "subject", "body"]),
    (
        "admin-system-email",
        "admin",
        "POST",
        "/admin/email/system/outbound",
        ["email_provider", "from_name", "smtp_host", "smtp_port", "smtp_security", "send_via"],
    ),
]


@pytest.mark.parametrize(
    ("who", "method", "path", "names"), [t[1:] for t in TARGETS], ids=[t[0] for t in TARGETS]
)
@FUZZ
@given(data=st.data(), as_json=st.booleans())
def test_hostile_parameters(fuzz_app, who, method, path, names, data, as_json):
    """Every parameter of the page gets hostile, missing or duplicated values."""
    client = _client(fuzz_app, who)
    path = path.format(sally=user_id("sally"))
    fields = data.draw(st.fixed_dictionaries({name: FIELD for name in names}), label="fields")
    headers = {"Accept": "application/json"} if as_json else {}
    before = snapshot()
    if method == "GET":
        response = client.get(f"{path}?{urlencode(pairs(fields))}", headers=headers)
    else:
        response = client.post(path, data=MultiDict(pairs(fields)), headers=headers)
    check(response, before, f"{method} {path} {fields!r}"[:3000])


def _clients(app) -> dict:
    """Signed-in clients, kept on the app across one test's examples."""
    return app.extensions.setdefault("fuzz_clients", {})


def _client(app, who):
    clients = _clients(app)
    if who not in clients:
        csrf = app.config.get("WTF_CSRF_ENABLED")
        app.config["WTF_CSRF_ENABLED"] = False
        clients[who] = signed_in(app, who)
        app.config["WTF_CSRF_ENABLED"] = csrf
    return clients[who]


@FUZZ
@given(segment=VALUE)
def test_hostile_path_segments(fuzz_app, segment):
    """Hostile words in the URL's own segments (provider, tab, purpose, flow id) → 4xx."""
    admin = _client(fuzz_app, "admin")
    from urllib.parse import quote

    word = quote(segment, safe="") or "x"
    before = snapshot()
    for method, path in [
        ("GET", f"/admin/connectors/{word}"),
        ("POST", f"/admin/connectors/{word}"),
        ("GET", f"/profile/edit/{word}"),
        ("POST", f"/admin/users/{user_id('sally')}/edit/{word}"),
        ("POST", f"/emails/settings/authorize/{word}"),
        ("GET", f"/oauth/flows/{word}"),
        ("GET", f"/oauth/flows/{word}/go"),
        ("GET", f"/oauth/microsoft/callback?state={word}&code={word}"),
    ]:
        response = admin.open(path, method=method)
        check(response, before, f"{method} {path}")


VALID_POSTS = [
    ("/login", None, {"username": "sally", "password": "sally-password"}),
    ("/logout", "sally", {}),
    (
        "/profile/edit/user-profile",
        "sally",
        {"first_name": "Mallory", "email": "mallory@crm.example", "time_zone": "UTC"},
    ),
    (
        "/profile/edit/password",
        "sally",
        {
            "current_password": "sally-password",
            "new_password": "new-password-1",
            "confirm_password": "new-password-1",
        },
    ),
    (
        "/admin/users/new",
        "admin",
        {"username": "mallory", "password": "mallory-pass", "email": "m@crm.example"},
    ),
    (
        "/admin/connectors/microsoft",
        "admin",
        {"client_id": "11111111-2222-4333-8444-555555555555", "client_secret": "s", "enabled": "y"},
    ),
    (
        "/emails/settings/outbound",
        "sally",
        {
            "email_provider": "exchange_online",
            "smtp_host": "127.0.0.1",
            "smtp_port": "25",
            "smtp_security": "none",
            "send_via": "smtp",
        },
    ),
    ("/emails/compose", "sally", {"to": "x@example.com", "subject": "hi", "body": "b"}),
]


@FUZZ
@given(
    which=st.sampled_from(VALID_POSTS),
    token=st.one_of(st.none(), VALUE, st.lists(VALUE, min_size=2, max_size=2)),
    header=st.booleans(),
)
def test_wrong_or_missing_csrf_token(fuzz_app, which, token, header):
    """With CSRF on, an otherwise valid POST without the right token is refused; nothing
    changes (and a login does not sign anybody in)."""
    fuzz_app.config["WTF_CSRF_ENABLED"] = True
    path, who, form = which
    client = _client(fuzz_app, who)
    client.get("/login")  # a session with a real CSRF token exists; ours is not it
    data = MultiDict(pairs({**form, "csrf_token": None if header else token}))
    headers = {}
    if header and isinstance(token, str):
        headers["X-CSRFToken"] = token.replace("\r", "").replace("\n", "")
    before = snapshot()
    response = client.post(path, data=data, headers=headers)
    check(response, before, f"POST {path} token={token!r}")
    assert response.status_code == 400, (path, response.status_code)
    assert snapshot() == before
    if who is not None:
        assert client.get("/profile/").status_code == 200, "the session was lost"
    else:
        assert client.get("/profile/").status_code == 302, "signed in without a CSRF token"


@FUZZ
@given(body=st.binary(max_size=200), token=HEADER_VALUE)
def test_drive_api_wrong_csrf_header(fuzz_app, body, token):
    """The drive's JSON calls refuse a wrong X-CSRFToken before touching anything."""
    fuzz_app.config["WTF_CSRF_ENABLED"] = True
    client = _client(fuzz_app, "sally")
    before = snapshot()
    for method, path in [
        ("POST", "/drive/api/folders"),
        ("POST", "/drive/api/links"),
        ("DELETE", "/drive/api/items"),
        ("PUT", "/drive/api/files?name=a.txt"),
        ("POST", "/drive/api/uploads"),
    ]:
        response = client.open(
            path,
            method=method,
            data=body,
            headers={"X-CSRFToken": token, "Content-Type": "application/json"},
        )
        check(response, before, f"{method} {path}")
        assert response.status_code == 400, (method, path, response.status_code)


HUGE = 16 * 1024 * 1024 + 1024


@pytest.mark.parametrize(
    ("who", "path"),
    [
        (None, "/login"),
        ("sally", "/profile/edit/user-profile"),
        ("admin", "/admin/connectors/microsoft"),
        ("sally", "/emails/compose"),
    ],
)
def test_huge_upload_is_413(fuzz_app, who, path):
    """A body over MAX_CONTENT_LENGTH gets the 413 page, not a 500, and changes nothing."""
    client = signed_in(fuzz_app, who)
    before = snapshot()
    response = client.post(
        path,
        data=b"body=" + b"x" * HUGE,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413, response.get_data(as_text=True)[:500]
    assert "too large" in response.get_data(as_text=True)
    assert snapshot() == before


def test_huge_drive_upload_is_refused(fuzz_app):
    """Over 16 MiB to the drive: refused with a 4xx (413 or the 4 MiB rule), never a 500."""
    client = signed_in(fuzz_app, "sally")
    for method, path in [("PUT", "/drive/api/files?name=big.bin"), ("PUT", "/drive/api/uploads")]:
        response = client.open(path, method=method, data=b"\0" * HUGE)
        assert 400 <= response.status_code < 500, (path, response.status_code)


@pytest.mark.parametrize("path", ["/admin/users", "/admin/audit", "/admin/connections", "/emails/"])
@pytest.mark.parametrize("page", ["99999999999999999999999", "-5", "0", "x"])
def test_page_number_out_of_range(fuzz_app, path, page):
    """Found by the fuzz: a page number beyond SQLite's INTEGER overflowed the OFFSET (500)."""
    admin = _client(fuzz_app, "admin")
    response = admin.get(path, query_string={"page": page, "mail_page": page})
    assert response.status_code == 200
