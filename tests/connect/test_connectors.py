"""Admin > Connectors: the form, the write-only secret, Test connection, the CLI."""

import re

from sqlalchemy import select

from app.connect import connectors
from app.connect.models import Connector
from app.core import crypto
from app.extensions import db
from app.users.models import AuditEvent
from tests.connect.conftest import CLIENT_ID, CLIENT_SECRET


def _form(**overrides):
    data = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "tenant": "", "enabled": "y"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_connectors_are_admin_only(auth, client):
    auth.login()
    assert client.get("/admin/connectors").status_code == 403
    assert client.post("/admin/connectors/microsoft", data=_form()).status_code == 403
    assert db.session.scalar(select(Connector)) is None


def test_admin_configures_microsoft_and_the_secret_is_write_only(auth, client, app):
    auth.login("admin", "admin-password")
    page = client.get("/admin/connectors/microsoft").get_data(as_text=True)
    assert "http://127.0.0.1:5000/oauth/microsoft/callback" in page and "Copy" in page
    assert client.post("/admin/connectors/microsoft", data=_form()).status_code == 302
    connector = db.session.scalar(select(Connector))
    assert connector.is_ready and connector.client_id == CLIENT_ID
    assert CLIENT_SECRET not in connector.client_secret_encrypted
    assert crypto.decrypt(connector.client_secret_encrypted) == CLIENT_SECRET
    page = client.get("/admin/connectors/microsoft").get_data(as_text=True)
    assert CLIENT_SECRET not in page and "Set on" in page and "Replace" in page
    # Saving without a new secret keeps the old one.
    client.post("/admin/connectors/microsoft", data=_form(client_secret=""))
    db.session.expire_all()
    assert connectors.client_secret(db.session.scalar(select(Connector))) == CLIENT_SECRET
    details = [
        e.detail
        for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "connector.updated")
        )
    ]
    assert details and "client_secret" in details[0]
    assert all(CLIENT_SECRET not in d for d in details)
    listing = client.get("/admin/connectors").get_data(as_text=True)
    assert "Ready" in listing


def test_single_tenant_needs_a_valid_tenant(auth, client):
    auth.login("admin", "admin-password")
    for tenant, ok in (
        ("", False),
        ("not a tenant!", False),
        ("contoso.example", True),
        ("C0FFEE00-0000-4000-8000-00000000C0DE", True),
    ):
        response = client.post(
            "/admin/connectors/microsoft", data=_form(single_tenant="y", tenant=tenant)
        )
        assert (response.status_code == 302) is ok, tenant
    assert db.session.scalar(select(Connector)).tenant == "c0ffee00-0000-4000-8000-00000000c0de"


def test_missing_client_id_or_secret_is_a_form_error(auth, client):
    auth.login("admin", "admin-password")
    assert client.post("/admin/connectors/microsoft", data=_form(client_id="")).status_code == 400
    response = client.post("/admin/connectors/microsoft", data=_form(client_secret=""))
    assert response.status_code == 400 and "Client Secret" in response.get_data(as_text=True)
    assert db.session.scalar(select(Connector)) is None


def test_test_connection_success_and_failures(auth, client, configured, ms):
    auth.login("admin", "admin-password")
    page = client.post("/admin/connectors/microsoft/test", follow_redirects=True)
    assert "Connection works" in page.get_data(as_text=True)

    connectors.save(
        None,
        "microsoft",
        client_id=CLIENT_ID,
        client_secret="wrong-secret",
        single_tenant=False,
        tenant="",
        enabled=True,
    )
    db.session.commit()
    page = client.post("/admin/connectors/microsoft/test", follow_redirects=True)
    assert "refused the client secret" in page.get_data(as_text=True)

    connectors.save(
        None,
        "microsoft",
        client_id="99999999-9999-4999-8999-999999999999",
        client_secret=CLIENT_SECRET,
        single_tenant=False,
        tenant="",
        enabled=True,
    )
    db.session.commit()
    page = client.post("/admin/connectors/microsoft/test", follow_redirects=True)
    assert "does not know the Client ID in that tenant" in page.get_data(as_text=True)

    connectors.save(
        None,
        "microsoft",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        single_tenant=True,
        tenant="nowhere.example",
        enabled=True,
    )
    db.session.commit()
    page = client.post("/admin/connectors/microsoft/test", follow_redirects=True)
    assert "does not know the tenant" in page.get_data(as_text=True)

    connectors.save(
        None,
        "microsoft",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        single_tenant=True,
        tenant="contoso.example",
        enabled=True,
    )
    db.session.commit()
    page = client.post("/admin/connectors/microsoft/test", follow_redirects=True)
    assert "Connection works" in page.get_data(as_text=True)


def test_disabled_connector_is_not_offered(auth, client, configured):
    connectors.save(
        None,
        "microsoft",
        client_id=CLIENT_ID,
        client_secret=None,
        single_tenant=False,
        tenant="",
        enabled=False,
    )
    db.session.commit()
    auth.login()
    page = client.get("/profile/external-accounts/new").get_data(as_text=True)
    assert '<option value="microsoft"' not in page and "Admin &gt; Connectors" in page


def test_cli_set_and_show_masks_the_secret(runner):
    result = runner.invoke(
        args=[
            "connector",
            "set",
            "microsoft",
            "--client-id",
            CLIENT_ID,
            "--client-secret",
            CLIENT_SECRET,
            "--tenant",
            "contoso.example",
        ]
    )
    assert result.exit_code == 0, result.output
    shown = runner.invoke(args=["connector", "show", "microsoft"]).output
    assert CLIENT_ID in shown and "********" in shown and CLIENT_SECRET not in shown
    assert "tenant:        contoso.example" in shown
    result = runner.invoke(
        args=["connector", "set", "microsoft", "--client-id", CLIENT_ID, "--disable"]
    )
    assert result.exit_code == 0
    assert "ready:         no" in runner.invoke(args=["connector", "show", "microsoft"]).output
    assert runner.invoke(args=["connector", "show", "google"]).exit_code == 1


def test_cli_takes_the_secret_from_the_environment_or_a_prompt(runner):
    result = runner.invoke(
        args=["connector", "set", "microsoft", "--client-id", CLIENT_ID],
        env={"CONNECTOR_CLIENT_SECRET": CLIENT_SECRET},
    )
    assert result.exit_code == 0, result.output
    assert connectors.client_secret(db.session.scalar(select(Connector))) == CLIENT_SECRET
    result = runner.invoke(
        args=["connector", "set", "microsoft", "--client-id", CLIENT_ID, "--prompt-secret"],
        input="prompted-secret\n",
    )
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert connectors.client_secret(db.session.scalar(select(Connector))) == "prompted-secret"


def _audit_details() -> list[str]:
    events = select(AuditEvent).where(AuditEvent.action == "connector.updated")
    return [e.detail for e in db.session.scalars(events.order_by(AuditEvent.id))]


def test_admin_allows_anonymous_links_and_the_audit_log_says_so(auth, client):
    auth.login("admin", "admin-password")
    page = client.get("/admin/connectors/microsoft").get_data(as_text=True)
    assert "Users may create links that anyone can open (Anyone with the link)" in page
    assert client.post("/admin/connectors/microsoft", data=_form()).status_code == 302
    assert db.session.scalar(select(Connector)).allow_anonymous_links is False
    response = client.post(
        "/admin/connectors/microsoft", data=_form(client_secret="", allow_anonymous_links="y")
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(Connector)).allow_anonymous_links is True
    assert _audit_details()[-1] == "microsoft: allow_anonymous_links"
    page = client.get("/admin/connectors/microsoft").get_data(as_text=True)
    assert re.search(r'<input checked id="allow_anonymous_links"', page)
    client.post("/admin/connectors/microsoft", data=_form(client_secret=""))  # unticked
    db.session.expire_all()
    assert db.session.scalar(select(Connector)).allow_anonymous_links is False
    assert _audit_details()[-1] == "microsoft: allow_anonymous_links"


def test_saving_without_the_setting_keeps_it(app):
    save = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "single_tenant": False,
        "tenant": "",
        "enabled": True,
    }
    connectors.save(None, "microsoft", **save, allow_anonymous_links=True)
    db.session.commit()
    assert connectors.save(None, "microsoft", **save) == ["client_secret"]
    assert connectors.get("microsoft").allow_anonymous_links is True


def test_cli_sets_anonymous_links_and_keeps_them_when_omitted(runner):
    base = ["connector", "set", "microsoft", "--client-id", CLIENT_ID]
    show = ["connector", "show", "microsoft"]
    result = runner.invoke(args=[*base, "--client-secret", CLIENT_SECRET])
    assert result.exit_code == 0, result.output
    assert "anyone links:  not allowed" in runner.invoke(args=show).output
    result = runner.invoke(args=[*base, "--allow-anonymous-links"])
    assert result.exit_code == 0 and "allow_anonymous_links" in result.output
    result = runner.invoke(args=base)
    assert result.exit_code == 0 and "nothing changed" in result.output
    assert "anyone links:  allowed" in runner.invoke(args=show).output
    assert runner.invoke(args=[*base, "--no-anonymous-links"]).exit_code == 0
    db.session.expire_all()
    assert connectors.get("microsoft").allow_anonymous_links is False
    assert _audit_details()[-1] == "microsoft: allow_anonymous_links"
