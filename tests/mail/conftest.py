"""A stand-in with its mail servers (aiosmtpd SMTP in-process, Dovecot IMAP as its own process)
for the Emails tests, the app wired to it, and helpers that authorize a mailbox over HTTP."""

import os
import selectors
import socket
import subprocess
import sys
from dataclasses import dataclass

import pytest
import requests
from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.mail import importing, settings
from app.mail.models import MailAccount
from app.users.models import User
from tests.conftest import ROOT, browser_login, missing, popup_of, stop
from tests.connect.conftest import (  # noqa: F401  (fixtures reused with the mail stand-in)
    ADELE,
    ALEX,
    MEGAN,
    Standin,
    app_path,
    configured,
    drop_scope,
    ms,
    sign_in_at_standin,
)

REQUIRE_DOVECOT = os.environ.get("REQUIRE_DOVECOT") == "1"
LISTENING = "standin listening on "
TIMEOUT = 10
ADELE_MAIL = "adele@contoso.example"
SUPPORT = "support@contoso.example"  # a shared mailbox in the stand-in's Exchange
MEGAN_MAIL = "megan@contoso.example"


@dataclass
class MailServers:
    """Where the stand-in's SMTP and IMAP servers listen."""

    smtp_port: int
    imap_port: int | None
    imaps_port: int | None  # IMAP with TLS from the first byte; imap_port offers STARTTLS
    ca_file: str  # the stand-in's CA, which signed both servers' certificate
    host: str = "127.0.0.1"

    @property
    def allowed(self) -> str:
        """MAIL_ALLOWED_HOSTS for these servers, as an operator lists a local relay."""
        ports = (self.smtp_port, self.imap_port, self.imaps_port)
        return ",".join(f"{self.host}:{port}" for port in ports if port)


def allow_hosts(app, *entries: str) -> None:
    """Add `host:port` entries to the app's MAIL_ALLOWED_HOSTS."""
    listed = app.config.get("MAIL_ALLOWED_HOSTS") or ""
    app.config["MAIL_ALLOWED_HOSTS"] = ",".join(e for e in (listed, *entries) if e)


@pytest.fixture(scope="session")
def mail_standin_process(tmp_path_factory):
    """`python -m standin --smtp-port 0 --imap-port 0` as its own process, for the session."""
    log = tmp_path_factory.mktemp("mail-standin") / "standin.log"
    with log.open("wb") as err:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "standin",
                "--port",
                "0",
                "--smtp-port",
                "0",
                "--imap-port",
                "0",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        ready = selector.select(timeout=30)
    line = process.stdout.readline() if ready else ""
    if not line.startswith(LISTENING):
        stop(process)
        pytest.fail(f"the mail stand-in did not start: {line!r}\n{log.read_text()}")
    base = line[len(LISTENING) :].strip()
    servers = requests.get(f"{base}/_standin/mail/servers", timeout=TIMEOUT).json()
    yield (
        base,
        MailServers(
            servers["smtp"]["port"],
            servers["imap"]["port"] if servers["imap"] else None,
            servers["imap"]["ssl_port"] if servers["imap"] else None,
            servers["ca_file"],
        ),
    )
    stop(process)
    process.stdout.close()


@pytest.fixture(scope="session")
def standin(mail_standin_process):
    """Overrides the shared stand-in: the same stand-in, with SMTP and IMAP beside it."""
    return mail_standin_process[0]


@pytest.fixture
def mail_servers(mail_standin_process, ms) -> MailServers:  # noqa: F811
    """The mail servers, after the stand-in was reset (outbox and mailboxes emptied)."""
    return mail_standin_process[1]


@pytest.fixture
def imap_port(mail_servers) -> int:
    """Dovecot's port; skips (fails in CI) without Dovecot."""
    if mail_servers.imap_port is None:
        missing("Dovecot", "apt-get install -y dovecot-imapd", REQUIRE_DOVECOT)
    return mail_servers.imap_port


class MailControl:
    """The stand-in's mail control API."""

    def __init__(self, stand: Standin):
        self.stand = stand

    def outbox(self) -> list[dict]:
        return self.stand.control("GET", "/mail/outbox")["messages"]

    def seed(self, mailbox: str = ADELE_MAIL, **body) -> int:
        return self.stand.control("POST", f"/mail/mailboxes/{mailbox}/messages", body)["delivered"]

    def mailbox(self, mailbox: str = ADELE_MAIL) -> dict:
        return self.stand.control("GET", f"/mail/mailboxes/{mailbox}")

    def renumber(self, mailbox: str = ADELE_MAIL) -> int:
        return self.stand.control("POST", f"/mail/mailboxes/{mailbox}/uidvalidity", {})[
            "uidvalidity"
        ]

    def token(self, oid: str = ADELE, audience: str = "outlook", scopes=("SMTP.Send",)) -> str:
        body = {"oid": oid, "audience": audience, "scopes": list(scopes)}
        return self.stand.control("POST", "/tokens", body)["access_token"]


@pytest.fixture
def mailctl(ms, mail_servers) -> MailControl:  # noqa: F811
    """Control of the stand-in's outbox and mailboxes."""
    return MailControl(ms)


@pytest.fixture
def mail_app(configured, mail_standin_process):  # noqa: F811
    """The app wired to the stand-in, with short mail timeouts; the stand-in's mail servers
    are listed in MAIL_ALLOWED_HOSTS (loopback is refused otherwise)."""
    configured.config.update(MAIL_TIMEOUT=3)
    allow_hosts(configured, mail_standin_process[1].allowed)
    return configured


def authorize(client, path="/emails/settings/authorize/mail", oid=ADELE, without_scope=""):
    """Press Authorize as the page's script does, sign in at the stand-in, come back
    (`without_scope`: the grant lacks that permission, as if the user had consented to less)."""
    start = client.post(path, data={"mode": "popup"}, headers={"Accept": "application/json"})
    assert start.status_code == 200, start.get_data(as_text=True)
    go = client.get(start.get_json()["go_url"])
    assert go.status_code == 302
    authorize_url = go.headers["Location"]
    if without_scope:
        authorize_url = drop_scope(authorize_url, without_scope)
    callback = client.get(app_path(sign_in_at_standin(authorize_url, oid)))
    assert callback.status_code == 200, callback.get_data(as_text=True)[:500]
    return go.headers["Location"]


def smtp_settings(port: int, **overrides) -> dict:
    """The outbound form pointed at the stand-in's SMTP server."""
    data = {
        "email_provider": "exchange_online",
        "from_name": "Sally Bronsen",
        "smtp_host": "127.0.0.1",
        "smtp_port": str(port),
        "smtp_security": "none",
        "send_via": "smtp",
    }
    data.update(overrides)
    return data


def imap_settings(port: int, **overrides) -> dict:
    """The inbound form pointed at the stand-in's Dovecot."""
    data = {
        "imap_host": "127.0.0.1",
        "imap_port": str(port),
        "imap_security": "none",
        "imap_folder": "INBOX",
        "import_enabled": "y",
    }
    data.update(overrides)
    return data


@pytest.fixture
def support(auth, client, mail_app, imap_port):
    """An admin's inbound mailbox "Support" for support@, its IMAP on the stand-in; not
    authorized yet. Returns its page's path."""
    auth.login("admin", "admin-password")
    data = {"name": "Support", "shared_address": SUPPORT, "visibility": "all"}
    created = client.post("/admin/email/inbound/new", data=data)
    path = created.headers["Location"]
    saved = client.post(f"{path}/inbound", data=imap_settings(imap_port))
    assert saved.status_code == 302, saved.get_data(as_text=True)[:2000]
    return path


@pytest.fixture
def silent_server(app):
    """A port that accepts connections and never says a word (a server that hangs); listed
    in MAIL_ALLOWED_HOSTS."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        allow_hosts(app, f"127.0.0.1:{sock.getsockname()[1]}")
        yield sock.getsockname()[1]


@pytest.fixture
def closed_port(app) -> int:
    """A loopback port nothing listens on; listed in MAIL_ALLOWED_HOSTS."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    allow_hosts(app, f"127.0.0.1:{port}")
    return port


@pytest.fixture
def sally_mail(auth, client, mail_app, mail_servers):
    """Sally signed in, her Email Settings pointed at the stand-in (IMAP too, with Dovecot;
    Import into Emails off) and authorized as Adele."""
    auth.login()
    response = client.post("/emails/settings/outbound", data=smtp_settings(mail_servers.smtp_port))
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    if mail_servers.imap_port is not None:
        inbound = imap_settings(mail_servers.imap_port)
        del inbound["import_enabled"]
        response = client.post("/emails/settings/inbound", data=inbound)
        assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    authorize(client)
    return client


def sally_at_email_settings(server, page) -> None:
    """A new user, Sally, signed in in the browser and on Emails > Email Settings, as a person
    gets there (`server`: a live app on the stand-in)."""
    from app.extensions import db
    from app.users import directory as users

    with server.app().app_context():
        users.create_user(None, "sally", "sally@crm.example", "sally-password")
        db.session.commit()
    browser_login(page, server.url, "sally", "sally-password")
    page.get_by_role("link", name="Emails", exact=True).click()
    page.get_by_role("link", name="Email Settings").click()


def authorize_in_popup(page, button, person: str = "Adele Vance", back="**/emails/settings?flow=*"):
    """Press `button` (an Authorize), pick `person` and Accept in the stand-in's pop-up; wait
    until this page is at `back`, the result."""
    with popup_of(page) as popup_info:
        button.click()
    popup = popup_info.value
    popup.get_by_role("button", name=person).click()
    popup.get_by_role("button", name="Accept").click()
    page.wait_for_url(back)


def deleted_while_checked(monkeypatch) -> None:
    """The mailbox is deleted (as from another tab: its own session, committed) once the run
    signed in, before it stores anything."""
    app, run = current_app._get_current_object(), importing._run

    def deleting_first(account, connection, progress):
        with app.app_context():  # another session, as another request's
            admin = db.session.scalar(select(User).where(User.username == "admin"))
            settings.delete_mailbox(admin, db.session.get(MailAccount, account.id))
            db.session.commit()
        return run(account, connection, progress)

    monkeypatch.setattr(importing, "_run", deleting_first)
