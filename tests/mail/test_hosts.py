"""Where mail goes: an Exchange Online token only to Microsoft's mail hosts (or hosts the
operator listed), no host typed for "Other" on an internal address, mail ports only; checked
on save and again right before connecting, and changing the server drops the authorization."""

import socket
import time

import pytest
from sqlalchemy import func, select

from app.connect.models import Credential
from app.core import crypto
from app.extensions import db
from app.mail import hosts as mail_hosts
from app.mail import settings
from app.mail.hosts import HostRefused
from app.mail.models import MailAccount, MailMessage
from app.microsoft import exchange
from app.users.models import AuditEvent
from tests.mail.conftest import (
    ADELE_MAIL,
    allow_hosts,
    imap_settings,
    smtp_settings,
)

RELAY = "relay.fabrikam.example"
PUBLIC = "93.184.216.34"
UNSPECIFIED = ".".join("0" * 4)  # 0.0.0.0, which a socket would bind to every interface with


def _account() -> MailAccount:
    db.session.expire_all()
    return db.session.scalar(select(MailAccount).where(MailAccount.role == "personal"))


def _saved_accounts() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count(MailAccount.id)))


def _other(host: str = RELAY, port: int = 587, **overrides) -> dict:
    """The outbound form for an Other SMTP server."""
    fields = {
        "email_provider": "other",
        "smtp_host": host,
        "smtp_security": "starttls",
        "username": "crm@fabrikam.example",
        "password": "relay-password",
        **overrides,
    }
    return smtp_settings(port, **fields)


@pytest.fixture
def dns(monkeypatch) -> dict:
    """Names a test gives resolve to its addresses (socket.getaddrinfo stands in); other
    names resolve as usual. A list of lists answers each lookup with the next one."""
    names: dict = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in names:
            return real(host, port, *args, **kwargs)
        answer = names[host]
        if answer and isinstance(answer[0], list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        family = {True: socket.AF_INET6, False: socket.AF_INET}
        return [(family[":" in a], socket.SOCK_STREAM, 6, "", (a, port)) for a in answer]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names


@pytest.fixture
def dialed(monkeypatch) -> list:
    """Every address the mail code connects to; each connection is refused."""
    calls: list = []

    def create_connection(address, timeout=None, source_address=None):
        calls.append(address)
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(socket, "create_connection", create_connection)
    return calls


# --- the rules, in one place ---------------------------------------------------------------


def test_mail_allowed_hosts_is_read_in_one_place():
    value = " Relay.Fabrikam.Example:2526, 127.0.0.1 ,[::1]:25, ::1, bad:port, , x:1:2:y"
    assert mail_hosts.allowed_hosts(value) == {
        ("relay.fabrikam.example", 2526),
        ("127.0.0.1", None),
        ("::1", 25),
        ("::1", None),
        ("x:1:2:y", None),  # not an address; it matches no host typed in a form
    }
    assert mail_hosts.allowed_hosts("") == set()


@pytest.mark.parametrize(
    ("address", "public"),
    [
        (PUBLIC, True),
        ("2606:4700::1111", True),
        ("::ffff:93.184.216.34", True),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.10", False),
        ("100.64.0.7", False),  # shared address space (carrier NAT)
        ("127.0.0.1", False),
        ("169.254.169.254", False),  # the cloud metadata service
        (UNSPECIFIED, False),
        ("224.0.0.251", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fe80::1%eth0", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
        ("2002:7f00:1::1", False),  # 6to4 of 127.0.0.1
    ],
)
def test_only_public_unicast_addresses_count_as_public(address, public):
    assert mail_hosts.is_public(address) is public


@pytest.mark.parametrize(
    ("resource", "smtp", "imap"),
    [
        ("https://outlook.office.com", "smtp.office365.com", "outlook.office365.com"),
        ("https://outlook.office365.us", "smtp.office365.us", "outlook.office365.us"),
        ("https://partner.outlook.cn/", "smtp.partner.outlook.cn", "partner.outlook.cn"),
    ],
)
def test_microsofts_mail_hosts_follow_the_configured_cloud(app, resource, smtp, imap):
    app.config["MICROSOFT_OUTLOOK_RESOURCE"] = resource
    assert exchange.exchange_mail_hosts() == (smtp, imap)
    account = settings.new_account("system")  # the form is pre-filled for that cloud
    assert (account.smtp_host, account.smtp_port, account.smtp_security) == (
        smtp,
        587,
        "starttls",
    )
    assert (account.imap_host, account.imap_port, account.imap_security) == (imap, 993, "ssl")
    for host, port in ((smtp, 587), (imap, 993)):
        assert mail_hosts.destination(host, port, exchange=True, timeout=1) == ()
    if smtp != "smtp.office365.com":  # another cloud's host is not this cloud's
        with pytest.raises(HostRefused, match=smtp.replace(".", r"\.")):
            mail_hosts.destination("smtp.office365.com", 587, exchange=True, timeout=1)


# --- Exchange Online: Microsoft's hosts, or listed ones -------------------------------------


@pytest.mark.parametrize("host", ["smtp.fabrikam.example", "127.0.0.1", "smtp.office365.com.evil"])
def test_exchange_online_refuses_any_other_smtp_host_on_save(auth, client, app, host):
    auth.login()
    data = smtp_settings(587, smtp_host=host, smtp_security="starttls")
    response = client.post("/emails/settings/outbound", data=data)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "An Exchange Online token is only sent to Microsoft&#39;s mail servers" in page
    assert "(smtp.office365.com and outlook.office365.com)" in page
    assert 'id="smtp_host-errors"' in page and "MAIL_ALLOWED_HOSTS" in page
    assert _saved_accounts() == 0
    allow_hosts(app, host)  # the operator lists it: now it may be used
    assert client.post("/emails/settings/outbound", data=data).status_code == 302


def test_exchange_online_takes_microsofts_hosts_and_refuses_others_for_imap(auth, client, app):
    auth.login()
    outbound = smtp_settings(587, smtp_host="smtp.office365.com", smtp_security="starttls")
    assert client.post("/emails/settings/outbound", data=outbound).status_code == 302
    inbound = imap_settings(993, imap_host="imap.fabrikam.example", imap_security="ssl")
    refused = client.post("/emails/settings/inbound", data=inbound)
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    assert 'id="imap_host-errors"' in page and "only sent to Microsoft" in page
    inbound["imap_host"] = "outlook.office365.com"
    assert client.post("/emails/settings/inbound", data=inbound).status_code == 302
    assert _account().imap_host == "outlook.office365.com"


def test_a_token_never_goes_to_a_host_that_is_not_allowed_any_more(
    sally_mail, imap_port, app, mailctl, ms, dialed
):
    mailctl.seed(count=1)
    account = _account()
    account.import_enabled = True
    account.smtp_port, account.imap_port = 587, 143  # mail ports: the host is what is refused
    db.session.commit()
    app.config["MAIL_ALLOWED_HOSTS"] = ""  # the operator no longer lists the stand-in
    before = ms.stats()
    response = sally_mail.post("/emails/compose", data={"to": "a@b.example", "subject": "x"})
    assert response.status_code == 302
    message = db.session.scalar(select(MailMessage))
    assert message.status == "failed"
    assert message.status_reason.startswith(
        "An Exchange Online token is only sent to Microsoft's mail servers"
    )
    sally_mail.post("/emails/settings/test-email")
    sally_mail.post("/emails/settings/test-inbound")
    sally_mail.post("/emails/settings/check")
    page = sally_mail.get("/emails/settings").get_data(as_text=True)
    assert "Send Test Email failed: An Exchange Online token is only sent" in page
    assert "Test failed: An Exchange Online token is only sent" in page
    assert "Check failed: An Exchange Online token is only sent" in page
    assert dialed == [] and mailctl.outbox() == []
    after = ms.stats()
    for counter in ("token.refresh_token", "smtp.auth.ok", "smtp.auth.rejected"):
        assert after.get(counter) == before.get(counter), counter  # no token was even touched


def test_settings_stored_before_the_rules_are_checked_before_connecting(sally_mail, dialed):
    account = _account()
    # an Exchange Online row from before the rule
    account.smtp_host, account.smtp_port = "smtp.fabrikam.example", 587
    db.session.commit()
    sally_mail.post("/emails/compose", data={"to": "a@b.example"})
    message = db.session.scalar(select(MailMessage))
    assert message.status == "failed" and "only sent to Microsoft" in message.status_reason
    account = _account()
    account.email_provider, account.username = "other", "crm@fabrikam.example"
    account.password_encrypted = crypto.encrypt("relay-password")
    account.smtp_host, account.smtp_port = "169.254.169.254", 587  # Other, an internal address
    db.session.commit()
    response = sally_mail.post("/emails/compose", data={"to": "a@b.example"})
    assert response.status_code == 302
    message = db.session.scalars(select(MailMessage).order_by(MailMessage.id.desc())).first()
    assert message.status == "failed"
    assert "169.254.169.254 is a private or local address" in message.status_reason
    assert dialed == []


# --- changing the server drops the authorization ---------------------------------------------


def _deauthorized_because(words: str) -> None:
    account = _account()
    assert account.status == "not_connected" and account.authorized_email == ""
    assert account.credential is None
    assert db.session.scalar(select(func.count(Credential.id))) == 0
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "mail.deauthorized"))
    assert event is not None and words in event.detail and event.actor_name == "sally"


def test_another_smtp_host_removes_the_exchange_online_authorization(sally_mail, app, mail_servers):
    port = mail_servers.smtp_port
    kept = sally_mail.post("/emails/settings/outbound", data=smtp_settings(port, from_name="S."))
    assert kept.status_code == 302 and _account().is_authorized  # same host: kept
    allow_hosts(app, f"localhost:{port}")
    moved = sally_mail.post(
        "/emails/settings/outbound", data=smtp_settings(port, smtp_host="localhost")
    )
    assert moved.status_code == 302
    _deauthorized_because("the SMTP server is now localhost")
    page = sally_mail.get("/emails/settings").get_data(as_text=True)
    assert "The Exchange Online authorization was removed and its tokens deleted" in page
    assert 'data-authorization="mail">Not Authorized<' in page


def test_another_imap_host_removes_the_exchange_online_authorization(sally_mail, app):
    allow_hosts(app, "localhost")
    data = imap_settings(993, imap_host="localhost")
    assert sally_mail.post("/emails/settings/inbound", data=data).status_code == 302
    _deauthorized_because("the IMAP server is now localhost")


def test_switching_to_other_removes_the_exchange_online_authorization(sally_mail, mail_servers):
    data = smtp_settings(
        mail_servers.smtp_port, email_provider="other", username=ADELE_MAIL, password="secret"
    )
    assert sally_mail.post("/emails/settings/outbound", data=data).status_code == 302
    _deauthorized_because("the Email Provider changed to Other")
    assert _account().email_provider == "other"


# --- Other: resolved first, public addresses on mail ports only --------------------------------


@pytest.mark.parametrize(
    "addresses",
    [
        ["10.1.2.3"],
        ["169.254.169.254"],
        ["::1"],
        ["::ffff:127.0.0.1"],
        ["fe80::1"],
        ["224.0.0.251"],
        [UNSPECIFIED],
        [PUBLIC, "192.168.1.10"],  # one internal address is enough
    ],
)
def test_other_hosts_resolving_to_internal_addresses_are_refused(auth, client, app, dns, addresses):
    dns[RELAY] = addresses
    auth.login()
    response = client.post("/emails/settings/outbound", data=_other())
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert f"{RELAY} is a private or local address" in page and 'id="smtp_host-errors"' in page
    assert _saved_accounts() == 0
    allow_hosts(app, RELAY)  # a company relay the operator listed
    assert client.post("/emails/settings/outbound", data=_other()).status_code == 302


@pytest.mark.parametrize("host", ["10.0.0.5", "169.254.169.254", "localhost", "127.0.0.1"])
def test_internal_hosts_typed_for_other_are_refused_unless_listed(auth, client, app, host):
    auth.login()
    response = client.post("/emails/settings/outbound", data=_other(host))
    assert response.status_code == 400
    assert "is a private or local address" in response.get_data(as_text=True)
    allow_hosts(app, host)
    assert client.post("/emails/settings/outbound", data=_other(host)).status_code == 302


def test_a_public_relay_is_reached_at_the_address_that_was_checked(auth, client, app, dns, dialed):
    dns[RELAY] = [[PUBLIC], ["127.0.0.1"]]  # checked public, then "rebound" to loopback
    auth.login()
    assert client.post("/emails/settings/outbound", data=_other()).status_code == 302
    dns[RELAY] = [[PUBLIC], ["127.0.0.1"]]
    client.post("/emails/compose", data={"to": "a@b.example"})
    message = db.session.scalar(select(MailMessage))
    assert message.status == "failed" and "refused the connection" in message.status_reason
    assert dialed == [(PUBLIC, 587)]  # never the name, never the second answer
    dns[RELAY] = [[PUBLIC], ["127.0.0.1"]]
    inbound = imap_settings(993, imap_host=RELAY, imap_security="ssl")
    assert client.post("/emails/settings/inbound", data=inbound).status_code == 302
    dns[RELAY] = [[PUBLIC], ["127.0.0.1"]]
    client.post("/emails/settings/test-inbound")  # IMAP too
    assert dialed == [(PUBLIC, 587), (PUBLIC, 993)]


@pytest.mark.parametrize("port", [22, 80, 6379])
def test_only_mail_ports_unless_listed_with_their_host(auth, client, app, dns, port):
    dns[RELAY] = [PUBLIC]
    auth.login()
    for data in (
        _other(port=port),
        smtp_settings(port, smtp_host="smtp.office365.com", smtp_security="starttls"),
    ):
        response = client.post("/emails/settings/outbound", data=data)
        assert response.status_code == 400
        page = response.get_data(as_text=True)
        assert f"Port {port} is not a mail port." in page and 'id="smtp_port-errors"' in page
    allow_hosts(app, f"{RELAY}:{port}")
    assert client.post("/emails/settings/outbound", data=_other(port=port)).status_code == 302
    allow_hosts(app, "smtp.office365.com")  # a bare host allows the mail ports only
    refused = smtp_settings(port, smtp_host="smtp.office365.com", smtp_security="starttls")
    assert client.post("/emails/settings/outbound", data=refused).status_code == 400


@pytest.mark.parametrize("port", [25, 465, 587, 2525])
def test_the_mail_ports_are_allowed(auth, client, app, dns, port):
    dns[RELAY] = [PUBLIC]
    auth.login()
    assert client.post("/emails/settings/outbound", data=_other(port=port)).status_code == 302


def test_a_name_that_cannot_be_found_is_named_not_a_500(auth, client, app):
    auth.login()
    response = client.post("/emails/settings/outbound", data=_other("no-such-host.invalid"))
    assert response.status_code == 400
    assert "The mail server name “no-such-host.invalid” could not be found." in (
        response.get_data(as_text=True)
    )


def test_a_resolver_that_hangs_is_given_up_after_the_mail_timeout(auth, client, app, monkeypatch):
    def hangs(*args, **kwargs):
        time.sleep(1.5)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", hangs)
    app.config["MAIL_TIMEOUT"] = 0.3
    auth.login()
    started = time.monotonic()
    response = client.post("/emails/settings/outbound", data=_other())
    assert time.monotonic() - started < 1.2
    assert response.status_code == 400
    assert f"“{RELAY}” could not be looked up within 0.3 seconds" in response.get_data(as_text=True)
