"""Admin > Connectors > Microsoft: the permissions each purpose asks for, the client secret's
expiry, and Grant admin consent for your organization — its request to Microsoft's
admin-consent endpoint and every answer it can get back (here made by hand, as Microsoft sends
them; tests/connect/test_consent_browser.py walks the whole thing against the stand-in)."""

from datetime import date
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from app.connect import connectors
from app.connect.models import Connector, OAuthFlow
from app.core.db import utcnow
from app.extensions import db
from app.users.models import AuditEvent, User
from tests.connect.conftest import CLIENT_ID

NORTHWIND = "4e07a1d0-0000-4000-8000-00000000ad01"
PAGE = "/admin/connectors/microsoft"


def _admin(auth, configured):
    auth.login("admin", "admin-password")


def _start(client) -> dict:
    response = client.post(f"{PAGE}/admin-consent")
    assert response.status_code == 302
    url = response.headers["Location"]
    return {"url": url, **{k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}}


def _answer(client, **params):
    return client.get("/oauth/microsoft/callback", query_string=params)


def _connector() -> Connector:
    db.session.expire_all()
    return db.session.scalar(select(Connector))


def test_the_page_lists_each_purposes_permissions_in_words_and_scope_names(
    auth, client, configured
):
    _admin(auth, configured)
    page = client.get(PAGE).get_data(as_text=True)
    for heading in (
        "OneDrive and the Cloud Drive",
        "Email over SMTP and IMAP",
        "Email through Microsoft Graph",
        "Email through Microsoft Graph as a shared mailbox",
    ):
        assert f"<h3>{heading}</h3>" in page
    assert (
        "Read and write all files you can access in OneDrive <code>Files.ReadWrite.All</code>"
        in page
    )
    assert "Read items in all site collections <code>Sites.Read.All</code>" in page  # Sites
    assert "<code>https://outlook.office.com/IMAP.AccessAsUser.All</code>" in page
    assert "Send mail as you (Microsoft Graph) <code>Mail.Send</code>" in page
    assert "<code>Mail.Send.Shared</code>" in page  # a shared mailbox's Send As through Graph
    assert "Certificates &amp; secrets" in page  # where to find the secret's expiry


def test_the_secret_expiry_is_saved_and_a_new_secret_is_no_longer_refused(auth, client, configured):
    _admin(auth, configured)
    form = {"client_id": CLIENT_ID, "tenant": "", "enabled": "y"}
    assert client.post(PAGE, data={**form, "secret_expires_on": "2027-06-30"}).status_code == 302
    assert _connector().secret_expires_on == date(2027, 6, 30)
    assert 'value="2027-06-30"' in client.get(PAGE).get_data(as_text=True)
    response = client.post(PAGE, data={**form, "secret_expires_on": "30/06/2027"})
    assert response.status_code == 400 and _connector().secret_expires_on == date(2027, 6, 30)

    connector = _connector()
    connector.secret_refused_at = utcnow()
    db.session.commit()
    assert "Microsoft refused this client secret" in client.get(PAGE).get_data(as_text=True)
    client.post(PAGE, data={**form, "secret_expires_on": "2027-06-30", "client_secret": "new-one"})
    assert _connector().secret_refused_at is None
    assert "Microsoft refused this client secret" not in client.get(PAGE).get_data(as_text=True)


def test_grant_admin_consent_asks_for_every_permission_and_records_the_grant(
    auth, client, configured, ms
):
    _admin(auth, configured)
    request = _start(client)
    assert request["url"].startswith(f"{ms.base}/common/v2.0/adminconsent?")
    assert request["client_id"] == CLIENT_ID
    assert request["redirect_uri"] == connectors.redirect_uri("microsoft")
    scopes = request["scope"].split()
    for scope in (
        "openid",
        "offline_access",
        "User.Read",
        "Files.ReadWrite.All",
        "Sites.Read.All",
        "Mail.Send",
        "Mail.Send.Shared",
        "https://outlook.office.com/SMTP.Send",
        "https://outlook.office.com/IMAP.AccessAsUser.All",
    ):
        assert scope in scopes
    assert len(scopes) == len(set(scopes))

    answer = _answer(client, admin_consent="True", tenant=NORTHWIND, state=request["state"])
    assert answer.status_code == 302 and answer.headers["Location"].startswith(f"{PAGE}?flow=")
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Admin consent was granted for your organization" in page
    assert f"Granted for tenant {NORTHWIND}" in page and "by Ada Admin" in page
    connector = _connector()
    assert connector.admin_consent_tenant == NORTHWIND and connector.admin_consent_at
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action.like("connector.admin%")))
    assert (event.action, event.actor_name) == ("connector.admin_consent", "admin")
    assert NORTHWIND in event.detail

    # The state is spent: the same answer again changes nothing.
    again = _answer(client, admin_consent="True", tenant="another", state=request["state"])
    assert "already used" in again.get_data(as_text=True)
    assert _connector().admin_consent_tenant == NORTHWIND


def test_a_refused_consent_is_shown_with_its_reason(auth, client, configured):
    _admin(auth, configured)
    request = _start(client)
    answer = _answer(
        client,
        error="access_denied",
        error_description="AADSTS90093: This operation can only be performed by an administrator.",
        state=request["state"],
    )
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Admin consent was not granted" in page and "AADSTS90093" in page
    assert _connector().admin_consent_tenant == "" and _connector().admin_consent_at
    assert db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "connector.admin_consent_refused")
    )

    request = _start(client)
    answer = _answer(client, error="access_denied", error_subcode="cancel", state=request["state"])
    assert "You cancelled the admin consent" in client.get(answer.headers["Location"]).get_data(
        as_text=True
    )


def test_an_admin_demoted_meanwhile_records_nothing(auth, client, configured):
    _admin(auth, configured)
    request = _start(client)
    admin = db.session.scalar(select(User).where(User.username == "admin"))
    admin.is_admin = False
    db.session.commit()
    answer = _answer(client, admin_consent="True", tenant=NORTHWIND, state=request["state"])
    assert answer.status_code == 302
    assert _connector().admin_consent_at is None
    flow = db.session.scalar(select(OAuthFlow).where(OAuthFlow.purpose == "admin_consent"))
    assert flow.status == "error" and "no longer an administrator" in flow.message


def test_users_cannot_grant_admin_consent(auth, client, configured):
    auth.login()
    assert client.post(f"{PAGE}/admin-consent").status_code == 403
    assert db.session.scalar(select(OAuthFlow)) is None


def test_without_a_client_id_there_is_nothing_to_consent_to(auth, client, app):
    auth.login("admin", "admin-password")
    response = client.post(f"{PAGE}/admin-consent", follow_redirects=True)
    assert "Save the connector&#39;s Client ID first." in response.get_data(as_text=True)
    assert db.session.scalar(select(OAuthFlow)) is None
