"""Secret scan: one full scenario through the app against the stand-in (configure the connector,
connect, refresh, browse and upload to the drive, authorize mail, send, import, rotate keys),
then no access token, refresh token, client secret or authorization code may appear in plain
text in the database, the logs, any response (body, header, Location) or an error page."""

import logging
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import String, Text, select

from app.connect import connectors, oidc
from app.connect.models import Credential, ExternalAccount
from app.connect.provider import get as provider
from app.core import crypto
from app.core.db import utcnow
from app.extensions import db
from tests.connect.conftest import ADELE, connect
from tests.mail.conftest import (  # noqa: F401  (fixtures: the stand-in with SMTP and IMAP)
    ADELE_MAIL,
    MEGAN_MAIL,
    MailControl,
    app_path,
    imap_settings,
    mail_servers,
    mail_standin_process,
    ms,
    sign_in_at_standin,
    smtp_settings,
    standin,
)

CLIENT_ID = "33333333-4444-4555-8666-777777777777"
CLIENT_SECRET = "scan-client-secret-value-4f1c2a9e7d"  # noqa: S105


class Recorder:
    """Every request the browser made to the app and every answer it saw."""

    def __init__(self):
        self.requests: list[str] = []
        self.responses: list[tuple[str, object]] = []

    def wrap(self, client):
        original = client.open

        def open_and_record(*args, **kwargs):
            response = original(*args, **kwargs)
            path = args[0] if args and isinstance(args[0], str) else kwargs.get("path", "")
            self.requests.append(path)
            response.get_data()  # read streamed bodies (downloads) once, while they can be
            self.responses.append((f"{kwargs.get('method', 'GET')} {path}", response))
            return response

        client.open = open_and_record
        return client


def _ok(response, *statuses):
    assert response.status_code in statuses, (
        response.status_code,
        response.get_data(as_text=True)[:1000],
    )
    return response


def _authorize_mail(client):
    """Authorize (mail) like the page's script, signing in at the stand-in as Adele."""
    start = _ok(
        client.post(
            "/emails/settings/authorize/mail",
            data={"mode": "popup"},
            headers={"Accept": "application/json"},
        ),
        200,
    )
    go = _ok(client.get(start.get_json()["go_url"]), 302)
    callback = sign_in_at_standin(go.headers["Location"], ADELE)
    _ok(client.get(app_path(callback)), 200)


@pytest.fixture
def scan_app(app, ms, mail_servers, caplog):  # noqa: F811
    """The app pointed at the stand-in with our Azure app registered there (not yet saved in
    the CRM: the admin does that through the form), its mail servers listed in
    MAIL_ALLOWED_HOSTS; logs captured at DEBUG."""
    caplog.set_level(logging.DEBUG)
    app.config.update(
        MICROSOFT_AUTHORITY=ms.base,
        MICROSOFT_GRAPH_URL=f"{ms.base}/v1.0",
        MAIL_TIMEOUT=5,
        MAIL_ALLOWED_HOSTS=mail_servers.allowed,
    )
    ms.control(
        "POST",
        "/clients",
        {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uris": [connectors.redirect_uri("microsoft")],
        },
    )
    provider("microsoft").forget()
    yield app
    provider("microsoft").forget()


def test_no_secret_in_plain_text_anywhere(
    scan_app,
    auth,
    ms,  # noqa: F811
    mail_servers,  # noqa: F811
    caplog,
    monkeypatch,
):
    app = scan_app
    recorder = Recorder()
    issued = _capture_issued_tokens(monkeypatch)

    admin = recorder.wrap(app.test_client())
    _configure_connector(admin)
    sally = recorder.wrap(app.test_client())
    account_id = _connect_and_refresh(sally)
    _use_drive(sally)
    _use_mail(sally, ms, mail_servers)
    for path in ("/admin/connections", "/admin/audit", "/admin/users"):
        _ok(admin.get(path), 200)
    cli_output = _rotate_keys(app, sally, account_id)

    secrets, codes = _gather(issued, recorder)
    assert codes, "no authorization code was seen"
    assert len(issued) >= 4, issued  # connect, refreshes, mail: several tokens were issued
    assert len(recorder.responses) > 30

    leaks = _scan_database(secrets)
    log_text = "\n".join(
        f"{r.name} {r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records
    )
    leaks += [f"log {_hint(s)}" for s in secrets if s in log_text]
    leaks += [f"cli output {_hint(s)}" for s in secrets if s in cli_output]
    leaks += _scan_responses(secrets, recorder)
    assert not leaks, "\n".join(leaks)


def _capture_issued_tokens(monkeypatch) -> list[str]:
    """Every token the stand-in's token endpoint hands to the app, as it arrives."""
    issued: list[str] = []
    original_request = oidc._Session.request

    def capture(session, method, url, *args, **kwargs):
        response = original_request(session, method, url, *args, **kwargs)
        if urlsplit(url).path.endswith("/token"):
            try:
                body = response.json()
            except ValueError:
                body = {}
            if isinstance(body, dict):
                issued.extend(
                    str(body[k]) for k in ("access_token", "refresh_token") if body.get(k)
                )
        return response

    monkeypatch.setattr(oidc._Session, "request", capture)
    return issued


def _configure_connector(admin) -> None:
    """The admin saves the connector through the form, and tests the connection."""
    _ok(admin.post("/login", data={"username": "admin", "password": "admin-password"}), 302)
    _ok(admin.get("/admin/connectors/microsoft"), 200)
    _ok(
        admin.post(
            "/admin/connectors/microsoft",
            data={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "enabled": "y"},
        ),
        302,
    )
    _ok(admin.get("/admin/connectors/microsoft"), 200)
    _ok(admin.post("/admin/connectors/microsoft/test"), 302)
    _ok(admin.get("/admin/connectors/microsoft"), 200)


def _connect_and_refresh(sally) -> int:
    """Sally connects in External Accounts; the code is replayed; the token is refreshed."""
    _ok(sally.post("/login", data={"username": "sally", "password": "sally-password"}), 302)
    flow = connect(sally)
    assert flow.callback.status_code == 200, flow.callback.get_data(as_text=True)[:1000]
    account = db.session.scalar(select(ExternalAccount))
    assert account is not None and account.status == "connected"
    _ok(sally.get("/profile/edit/external-accounts"), 200)
    _ok(sally.get(f"/profile/external-accounts/{account.id}"), 200)
    replay = sally.get(app_path(flow.callback_url))  # the same code again: an error page
    assert replay.status_code < 500
    _expire_credentials()
    _ok(sally.get(f"/profile/external-accounts/{account.id}/check"), 200, 302)
    _ok(sally.get("/profile/"), 200)
    return account.id


def _use_drive(sally) -> None:
    """Browse, upload, download, copy a link; refresh inside a Graph call."""
    _ok(sally.get("/home"), 200)
    _ok(sally.get("/drive/"), 200)
    _ok(sally.get("/drive/api/children"), 200)
    upload = sally.put("/drive/api/files?name=secret-scan.txt", data=b"hello from the scan")
    row = _ok(upload, 201).get_json()["row"]
    item = {"drive": row["drive"], "item": row["id"]}
    _ok(sally.get("/drive/download", query_string=item), 200)
    sally.post("/drive/api/links", json=item)
    _expire_credentials()
    _ok(sally.get("/drive/api/children"), 200)


def _use_mail(sally, ms, mail_servers) -> None:  # noqa: F811
    """Authorize, send (also after a refresh), import (only with Dovecot)."""
    _ok(sally.post("/emails/settings/outbound", data=smtp_settings(mail_servers.smtp_port)), 302)
    if mail_servers.imap_port is not None:  # before authorizing: another server drops tokens
        _ok(sally.post("/emails/settings/inbound", data=imap_settings(mail_servers.imap_port)), 302)
    _authorize_mail(sally)
    _ok(sally.get("/emails/settings"), 200)
    sent = sally.post(
        "/emails/compose", data={"to": MEGAN_MAIL, "subject": "Scan", "body": "Hello Megan"}
    )
    _ok(sent, 302)
    _ok(sally.get(sent.headers["Location"]), 200)
    _expire_credentials()
    _ok(sally.post("/emails/settings/test-email"), 302)
    if mail_servers.imap_port is not None:
        MailControl(ms).seed(ADELE_MAIL, count=2)
        _ok(sally.post("/emails/settings/check"), 302)
        _ok(sally.get("/emails/settings"), 200)
        _ok(sally.get("/emails/"), 200)


def _rotate_keys(app, sally, account_id: int) -> str:
    """`flask keys rotate` with a new key first; the old one still decrypts; then a refresh."""
    old = app.config["TOKEN_ENCRYPTION_KEYS"]
    app.config["TOKEN_ENCRYPTION_KEYS"] = f"{Fernet.generate_key().decode()},{old}"
    rotated = app.test_cli_runner().invoke(args=["keys", "rotate"])
    assert rotated.exit_code == 0, rotated.output
    _expire_credentials()
    _ok(sally.get(f"/profile/external-accounts/{account_id}/check"), 200, 302)
    return rotated.output


def _gather(issued: list[str], recorder: Recorder) -> tuple[set[str], set[str]]:
    """The client secret, every issued and every stored token, every authorization code."""
    db.session.expire_all()
    secrets = {CLIENT_SECRET, *issued}
    for credential in db.session.scalars(select(Credential)):
        for ciphertext in (credential.access_token_encrypted, credential.refresh_token_encrypted):
            if ciphertext:
                secrets.add(crypto.decrypt(ciphertext))
    codes = {
        parse_qs(urlsplit(path).query).get("code", [""])[0]
        for path in recorder.requests
        if "/oauth/microsoft/callback" in path
    } - {""}
    return {s for s in secrets | codes if len(s) >= 12}, codes


def _scan_database(secrets: set[str]) -> list[str]:
    """Every text column of every row of every table."""
    leaks = []
    for table in db.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, String | Text)]
        if not columns:
            continue
        for row in db.session.execute(select(*columns)):
            for column, value in zip(columns, row, strict=True):
                leaks += [
                    f"db {table.name}.{column.name} {_hint(s)}"
                    for s in secrets
                    if value and s in value
                ]
    db.session.rollback()
    return leaks


def _scan_responses(secrets: set[str], recorder: Recorder) -> list[str]:
    """Every body, header and Location the browser saw, error pages included."""
    leaks = []
    for label, response in recorder.responses:
        body = response.get_data().decode("utf-8", "replace")
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        for secret in secrets:
            if secret in body:
                leaks.append(f"body of {label} ({response.status_code}) {_hint(secret)}")
            if secret in headers:
                leaks.append(f"headers of {label} ({response.status_code}) {_hint(secret)}")
    return leaks


def _hint(secret: str) -> str:
    return f"[{secret[:6]}…]"


def _expire_credentials() -> None:
    """Every stored access token is past its expiry: the next use must refresh."""
    db.session.expire_all()
    for credential in db.session.scalars(select(Credential)):
        credential.expires_at = utcnow() - timedelta(minutes=5)
    db.session.commit()
