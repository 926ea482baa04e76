"""Access-control matrix: every route, every method, as anonymous, sally (the owner), max (another
user, on sally's objects) and admin, compared with the policy table below.

A new route fails `test_every_route_is_classified` (and its own matrix case) until someone adds its
endpoint to POLICIES. Runs on SQLite and PostgreSQL, with a fresh database per route and method;
HEAD and OPTIONS of every route, and ids too large for the database, are tried in one sweep."""

import tempfile
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from werkzeug.routing import IntegerConverter

from app import create_app
from app.connect.models import ExternalAccount
from app.extensions import db
from app.mail import settings as mail_settings
from app.mail.models import FAILED, OUTBOUND, MailAttachment, MailMessage
from app.users.models import User
from config import TestConfig
from tests.connect.conftest import (  # noqa: F401  (fixtures reused: the wired stand-in)
    configured,
    connect,
    ms,
    start_connect,
)

# --- the table -------------------------------------------------------------------------------
# public: anyone gets an answer (no sign-in needed).
# user:   anonymous is sent to /login (or 401); any signed-in user is served.
# owner:  anonymous to /login; sally is served on her object; max and admin get 404.
# admin:  anonymous to /login; sally and max get 403; admin is served.
# logout: anonymous to /login; a signed-in user is signed out and sent to /login.
PUBLIC, USER, OWNER, ADMIN, LOGOUT = "public", "user", "owner", "admin", "logout"

POLICIES = {
    # main, auth
    "main.index": USER,  # sends anonymous visitors to /login
    "main.healthz": PUBLIC,
    "auth.login": PUBLIC,
    "auth.logout": LOGOUT,
    "main.home": USER,
    # profile
    "profile.view": USER,
    "profile.edit_default": USER,
    "profile.edit": USER,
    # External Accounts (sally's account)
    "accounts.new": USER,
    "accounts.detail": OWNER,
    "accounts.check": OWNER,
    "accounts.reconnect": OWNER,
    "accounts.delete": OWNER,
    # OAuth (sally's pending flow)
    "oauth.callback": USER,
    "oauth.status": OWNER,
    "oauth.confirm": OWNER,
    "oauth.go": OWNER,
    # Cloud Drive (each user's own drive)
    "drive.index": USER,
    "drive.api_children": USER,
    "drive.api_upload_small": USER,
    "drive.api_new_folder": USER,
    "drive.api_delete": USER,
    "drive.api_copy_link": USER,
    "drive.api_more": USER,
    "drive.api_start_upload": USER,
    "drive.api_upload_part": USER,
    "drive.api_cancel_upload": USER,
    "drive.download": USER,
    "drive.api_search": USER,
    "drive.api_open": USER,
    "drive.api_rename": USER,
    "drive.api_move": USER,
    "drive.thumbnail": USER,
    "drive.api_preview_text": USER,
    # Emails (sally's message; each user's own settings)
    "emails.index": USER,
    "emails.detail": OWNER,
    "emails.attachment": OWNER,  # the message page's rule; sally's kept attachment
    "emails.retry": OWNER,
    "emails.compose": USER,
    "emails.settings": USER,
    "emails.settings_authorize": USER,
    "emails.settings_check": USER,
    "emails.settings_deauthorize": USER,
    "emails.settings_inbound": USER,
    "emails.settings_outbound": USER,
    "emails.settings_test_email": USER,
    "emails.settings_test_inbound": USER,
    # Admin
    "admin.index": ADMIN,
    "admin.audit_log": ADMIN,
    "admin.connections": ADMIN,
    "admin.check_mailbox": ADMIN,
    "admin.connector_list": ADMIN,
    "admin.connector_edit": ADMIN,
    "admin.connector_test": ADMIN,
    "admin.connector_admin_consent": ADMIN,
    "admin.user_list": ADMIN,
    "admin.create_user": ADMIN,
    "admin.toggle_active": ADMIN,
    "admin.delete_user": ADMIN,
    "admin.edit_user_default": ADMIN,
    "admin.edit_user": ADMIN,
    "admin.account_detail": ADMIN,
    "admin.account_check": ADMIN,
    "admin.account_reconnect": ADMIN,
    "admin.account_delete": ADMIN,
    "admin.account_new": ADMIN,
    "emails_admin.system": ADMIN,
    "emails_admin.system_authorize": ADMIN,
    "emails_admin.system_deauthorize": ADMIN,
    "emails_admin.system_outbound": ADMIN,
    "emails_admin.system_test_email": ADMIN,
    "emails_admin.inbound": ADMIN,  # Inbound Email: the list of inbound mailboxes
    "emails_admin.new_mailbox": ADMIN,
    "emails_admin.mailbox": ADMIN,  # one inbound mailbox's page (the world's "Support")
    "emails_admin.save_mailbox": ADMIN,
    "emails_admin.delete_mailbox": ADMIN,
    "emails_admin.mailbox_authorize": ADMIN,
    "emails_admin.mailbox_check": ADMIN,
    "emails_admin.mailbox_deauthorize": ADMIN,
    "emails_admin.mailbox_inbound": ADMIN,
    "emails_admin.mailbox_test_inbound": ADMIN,
    "emails_admin.user_settings": ADMIN,  # sally's Email Settings, from Admin > User Management
    "emails_admin.user_settings_authorize": ADMIN,
    "emails_admin.user_settings_check": ADMIN,
    "emails_admin.user_settings_deauthorize": ADMIN,
    "emails_admin.user_settings_inbound": ADMIN,
    "emails_admin.user_settings_outbound": ADMIN,
    "emails_admin.user_settings_test_email": ADMIN,
    "emails_admin.user_settings_test_inbound": ADMIN,
}
SKIPPED_ENDPOINTS = {"static"}
SKIPPED_METHODS = {"HEAD", "OPTIONS"}

# Roles in the order they are tried: the ones refused first, the one served last, so that a
# destructive request (delete, log out) by the served role cannot hide a refusal.
ORDER = {
    PUBLIC: ("anonymous", "sally", "max", "admin"),
    USER: ("anonymous", "sally", "max", "admin"),
    OWNER: ("anonymous", "max", "admin", "sally"),
    ADMIN: ("anonymous", "sally", "max", "admin"),
    LOGOUT: ("anonymous", "sally", "max", "admin"),
}
PASSWORDS = {"sally": "sally-password", "max": "max-password1", "admin": "admin-password"}
UNCLASSIFIED = (
    "Endpoint {endpoint!r} ({rule}) is not in POLICIES of tests/security/test_access_matrix.py: "
    "classify it as public, user, owner or admin."
)


def _routes() -> list[tuple[str, str, str]]:
    """(endpoint, rule, method) of every route of a freshly built app, for parametrization."""
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI="sqlite://", INSTANCE_PATH=folder)
        return sorted(
            (rule.endpoint, rule.rule, method)
            for rule in app.url_map.iter_rules()
            if rule.endpoint not in SKIPPED_ENDPOINTS
            for method in rule.methods - SKIPPED_METHODS
        )


ROUTES = _routes()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_route_is_classified(app):
    unclassified = [
        UNCLASSIFIED.format(endpoint=rule.endpoint, rule=rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in SKIPPED_ENDPOINTS and rule.endpoint not in POLICIES
    ]
    assert not unclassified, "\n".join(unclassified)
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    stale = sorted(set(POLICIES) - endpoints)
    assert not stale, f"POLICIES lists endpoints that no longer exist: {stale}"


@pytest.fixture
def world(app, auth, client, make_user, configured):  # noqa: F811
    """Sally with a connected Microsoft account, a pending flow and a sent message; max; admin."""
    auth.login()
    assert 'data-status="done"' in connect(client).callback.get_data(as_text=True)
    pending = start_connect(client)["flow"]
    make_user("max", PASSWORDS["max"])
    sally = db.session.scalar(select(User).where(User.username == "sally"))
    message = MailMessage(
        user_id=sally.id,
        direction=OUTBOUND,
        status=FAILED,
        status_reason="The server said no.",
        to_addresses="megan@contoso.example",
        subject="Quarterly figures",
        body_text="Hello",
    )
    message.attachments.append(
        MailAttachment(filename="figures.csv", content_type="text/csv", size=5, content=b"a,b\r\n")
    )
    db.session.add(message)
    admin = db.session.scalar(select(User).where(User.username == "admin"))
    mailbox = mail_settings.create_mailbox(admin, mail_settings.MailboxDetails(name="Support"))
    db.session.commit()
    account = db.session.scalar(select(ExternalAccount).where(ExternalAccount.user_id == sally.id))
    listing = client.get("/drive/api/children").get_json()
    file = next(row for row in listing["rows"] if not row["folder"])
    photos = client.get("/drive/api/children", query_string={"path": "Photos"}).get_json()
    image = next(row for row in photos["rows"] if "thumbnail" in row)
    return {
        "drive_item": {"drive": file["drive"], "item": file["id"]},
        "drive_image": {"drive": image["drive"], "item": image["id"]},  # one with thumbnails
        "provider": "microsoft",
        "purpose": "mail",
        "tab": "external-accounts",
        "user_id": sally.id,
        "account_id": account.id,
        "message_id": message.id,
        "attachment_id": message.attachments[0].id,
        "mailbox_id": mailbox.id,
        "flow_id": pending,
        "filename": "css/app.css",
    }


def _url(app, endpoint: str, method: str, values: dict) -> str:
    rule = next(r for r in app.url_map.iter_rules(endpoint) if method in r.methods)
    filled = {}
    for name in rule.arguments:
        plausible = 1 if isinstance(rule._converters[name], IntegerConverter) else "x"
        filled[name] = values.get(name, plausible)
    return app.url_map.bind("localhost").build(endpoint, filled, method=method)


def _payload(url: str, method: str, values: dict) -> dict:
    """Minimal input: sally's drive item for the drive calls (query or JSON), else an empty form."""
    if not url.startswith("/drive/"):
        return {"data": {}}
    if url.startswith("/drive/thumbnail"):
        return {"query_string": values["drive_image"]}
    if method in ("GET", "DELETE"):
        return {"query_string": values["drive_item"]}
    return {"json": values["drive_item"]}


def _client(app, role: str):
    client = app.test_client()
    if role != "anonymous":
        signed_in = client.post("/login", data={"username": role, "password": PASSWORDS[role]})
        assert signed_in.status_code == 302, f"{role} could not sign in"
    return client


def _to_login(response) -> bool:
    return (
        response.status_code in (301, 302, 303, 307, 308)
        and urlsplit(response.headers.get("Location", "")).path == "/login"
    )


def _served(response) -> bool:
    return (
        response.status_code < 500
        and response.status_code not in (401, 403, 404)
        and not _to_login(response)
    )


def _expected(policy: str, role: str):
    """(check, description) of the answer `role` must get under `policy`."""
    if policy == PUBLIC:
        return _served, "served"
    if role == "anonymous":
        return (lambda r: _to_login(r) or r.status_code == 401), "a redirect to /login or 401"
    if policy == LOGOUT:
        return _to_login, "signed out, to /login"
    if policy == OWNER and role != "sally":
        return (lambda r: r.status_code == 404), "404"
    if policy == ADMIN and role != "admin":
        return (lambda r: r.status_code == 403), "403"
    return _served, "served"


@pytest.mark.parametrize(
    ("endpoint", "rule", "method"), ROUTES, ids=[f"{m} {r}" for _, r, m in ROUTES]
)
def test_access_matrix(app, world, endpoint, rule, method):
    assert endpoint in POLICIES, UNCLASSIFIED.format(endpoint=endpoint, rule=rule)
    policy = POLICIES[endpoint]
    url = _url(app, endpoint, method, world)
    wrong = []
    for role in ORDER[policy]:
        client = _client(app, role)
        response = client.open(url, method=method, **_payload(url, method, world))
        where = f"{method} {url} as {role} ({policy})"
        if response.status_code >= 500:
            wrong.append(f"{where}: {response.status_code}, never a 5xx")
            continue
        check, description = _expected(policy, role)
        if not check(response):
            location = response.headers.get("Location", "")
            wrong.append(f"{where}: got {response.status_code} {location}, expected {description}")
        elif policy == LOGOUT and not _to_login(client.get("/home")):
            wrong.append(f"{where}: still signed in afterwards")
    assert not wrong, "\n".join(wrong)


def _options_expected(policy: str, role: str, response) -> bool:
    """OPTIONS never runs a view: admin URLs still refuse who may not see them (401 anonymous,
    403 non-admins); elsewhere any 2xx or 4xx answer."""
    if policy == ADMIN and role != "admin":
        return response.status_code == (401 if role == "anonymous" else 403)
    return response.status_code < 300 or 400 <= response.status_code < 500


def test_head_and_options_of_every_route(app, world):
    """HEAD answers as GET does for each role; OPTIONS answers 2xx or 4xx; never a 5xx."""
    wrong = []
    clients = {role: _client(app, role) for role in ("anonymous", "sally", "max", "admin")}
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIPPED_ENDPOINTS:
            continue
        policy = POLICIES[rule.endpoint]
        method = "GET" if "GET" in rule.methods else sorted(rule.methods - SKIPPED_METHODS)[0]
        url = _url(app, rule.endpoint, method, world)
        for role, client in clients.items():
            if policy == LOGOUT:
                continue
            options = client.open(url, method="OPTIONS")
            if options.status_code >= 500 or not _options_expected(policy, role, options):
                wrong.append(f"OPTIONS {url} as {role}: {options.status_code}")
            if "HEAD" not in rule.methods:
                continue
            head = client.open(url, method="HEAD", **_payload(url, "GET", world))
            check, description = _expected(policy, role)
            if head.status_code >= 500 or not check(head):
                wrong.append(f"HEAD {url} as {role}: {head.status_code}, expected {description}")
    assert not wrong, "\n".join(wrong)


TOO_LARGE = 99999999999999999999999


def test_ids_too_large_for_the_database_are_404(app, world):
    """Every route that takes a numeric id answers 404 to one no database column can hold."""
    wrong = []
    admin = _client(app, "admin")
    sally = _client(app, "sally")
    for rule in app.url_map.iter_rules():
        numeric = [
            name
            for name, converter in rule._converters.items()
            if isinstance(converter, IntegerConverter)
        ]
        if not numeric or rule.endpoint in SKIPPED_ENDPOINTS:
            continue
        for method in sorted(rule.methods - SKIPPED_METHODS):
            for name in numeric:
                for value in (TOO_LARGE, 2**31, 2**63):
                    path = _url(app, rule.endpoint, method, world).split("?")[0]
                    path = path.replace(f"/{world.get(name, 1)}", f"/{value}", 1)
                    for client in (admin, sally):
                        response = client.open(path, method=method, data={})
                        if response.status_code != 404:
                            wrong.append(f"{method} {path}: {response.status_code}")
    assert not wrong, "\n".join(wrong)
