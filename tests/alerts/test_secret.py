"""The connector's client secret: warnings 30, 7 and 1 day(s) before it expires (and once it
expired) by email and on every Admin page, and Microsoft refusing it alerts the admins at once."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from app.alerts import service
from app.connect import connectors
from app.connect.models import CONNECTED, ExternalAccount
from app.extensions import db
from tests.alerts.conftest import alerts, expire, parsed, send
from tests.connect.conftest import CLIENT_ID, CLIENT_SECRET, connect

ADMIN_PAGES = (
    "/admin/",
    "/admin/users",
    "/admin/audit",
    "/admin/connections",
    "/admin/connectors",
    "/admin/connectors/microsoft",
    "/admin/email/system",
    "/admin/email/inbound",
)
JSON = {"Accept": "application/json"}


def _today() -> date:
    return datetime.now(UTC).date()


def _expires_on(day: date | None) -> None:
    connector = connectors.get("microsoft")
    connector.secret_expires_on = day
    db.session.commit()


def _new_secret(secret: str) -> None:
    connectors.save(
        None,
        "microsoft",
        client_id=CLIENT_ID,
        client_secret=secret,
        single_tenant=False,
        tenant="",
        enabled=True,
    )
    db.session.commit()


def test_a_secret_7_days_from_expiry_warns_the_admins(
    system_mail, auth, client, runner, mailctl, make_user, app
):
    make_user("ada2", admin=True, first_name="Ada", last_name="Two")
    day = _today() + timedelta(days=7)
    _expires_on(day)
    result = send(runner)
    assert result.exit_code == 0, result.output
    assert "Sent 2 alert emails." in result.output
    sent = mailctl.outbox()
    assert sorted(r for m in sent for r in m["rcpt_tos"]) == [
        "ada2@crm.example",
        "admin@crm.example",
    ]  # the admins, not sally
    message = parsed(sent[0])
    words = f"The client secret of the Microsoft connector expires in 7 days (on {day})"
    assert str(message["Subject"]).strip() == words
    body = message.get_body().get_content()
    assert f"{app.config['PUBLIC_BASE_URL']}/admin/connectors/microsoft" in body
    assert {a.event for a in alerts()} == {f"connector.secret_expires:microsoft:{day}:7"}
    assert "Sent 0 alert emails." in send(runner).output and len(mailctl.outbox()) == 2

    auth.login("admin", "admin-password")
    for path in ADMIN_PAGES:
        page = client.get(path).get_data(as_text=True)
        assert f"{words}.</strong>" in page, path
        assert '<a href="/admin/connectors/microsoft">Enter a new client secret</a>' in page
    assert words not in client.get("/home").get_data(as_text=True)  # Admin pages only
    auth.logout()
    auth.login()
    assert words not in client.get("/home").get_data(as_text=True)
    refused = client.get("/admin/")
    assert refused.status_code == 403 and words not in refused.get_data(as_text=True)


@pytest.mark.parametrize(
    ("days_left", "threshold"),
    [(45, None), (30, 30), (29, 30), (8, 30), (7, 7), (5, 7), (2, 7), (1, 1), (0, 0), (-3, 0)],
)
def test_only_the_nearest_warning_reached_is_due(days_left, threshold):
    today = date(2027, 1, 10)
    assert service.expiry_threshold(today + timedelta(days=days_left), today) == threshold


def test_each_warning_is_raised_once_as_the_day_comes_near(auth, configured):
    today = _today()
    day = today + timedelta(days=5)  # entered 5 days ahead: the 7-day warning, not all three
    _expires_on(day)
    for _ in range(2):
        assert service.due_secret_alerts(today) == 1
        db.session.commit()
    assert [a.event for a in alerts()] == [f"connector.secret_expires:microsoft:{day}:7"]
    service.due_secret_alerts(today + timedelta(days=4))  # 1 day left
    service.due_secret_alerts(today + timedelta(days=6))  # a day after
    db.session.commit()
    rows = alerts()
    assert [a.event.rsplit(":", 1)[1] for a in rows] == ["7", "1", "0"]
    assert rows[-1].kind == "secret_expired"
    assert rows[-1].subject == f"The client secret of the Microsoft connector expired on {day}"
    assert {a.recipient.username for a in rows} == {"admin"}


def test_expired_and_refused_secrets_warn_on_admin_pages(auth, client, configured):
    auth.login("admin", "admin-password")
    _expires_on(_today() + timedelta(days=31))
    assert "client secret" not in client.get("/admin/").get_data(as_text=True)
    _expires_on(_today() - timedelta(days=1))
    page = client.get("/admin/users").get_data(as_text=True)
    assert f"Microsoft connector expired on {_today() - timedelta(days=1)}." in page
    _expires_on(None)
    connector = connectors.get("microsoft")
    connector.secret_refused_at = datetime.now(UTC)
    db.session.commit()
    page = client.get("/admin/audit").get_data(as_text=True)
    assert "Microsoft refused the client secret of the Microsoft connector." in page
    # A new secret saved clears it.
    _new_secret("new-secret-value")
    assert "client secret" not in client.get("/admin/").get_data(as_text=True)


def _refused_by_a_refresh(client, ms):
    connect(client)
    account = db.session.scalar(select(ExternalAccount))
    ms.fault("token", "aadsts", code=7000215, count=1)
    expire(account)
    check = client.get(f"/profile/external-accounts/{account.id}/check", headers=JSON)
    assert check.status_code == 502
    db.session.expire_all()
    assert account.status == CONNECTED  # the grant is fine; the secret is not


def _refused_at_sign_in(client, ms):
    ms.fault("token", "aadsts", code=7000215, count=1)
    flow = connect(client)
    status = client.get(flow.start["status_url"]).get_json()
    assert status["status"] == "error"


def _refused_by_test_connection(client, ms):
    ms.control(
        "POST",
        "/clients",
        {
            "client_id": CLIENT_ID,
            "client_secret": "the-secret-azure-has-now",
            "redirect_uris": [connectors.redirect_uri("microsoft")],
        },
    )
    client.post("/logout")
    client.post("/login", data={"username": "admin", "password": "admin-password"})
    page = client.post("/admin/connectors/microsoft/test", follow_redirects=True)
    assert "Test failed" in page.get_data(as_text=True)


@pytest.mark.parametrize(
    "refuse",
    [_refused_by_a_refresh, _refused_at_sign_in, _refused_by_test_connection],
    ids=["token refresh", "sign-in", "test connection"],
)
def test_an_invalid_secret_answer_alerts_at_once(auth, client, configured, ms, make_user, refuse):
    make_user("ada2", admin=True)
    auth.login()
    refuse(client, ms)
    # At once: the rows exist and the Admin pages warn, before any cron run.
    rows = alerts(kind="secret_refused")
    assert sorted(a.recipient.username for a in rows) == ["ada2", "admin"]
    assert rows[0].link == "/admin/connectors/microsoft" and rows[0].emailed_at is None
    assert "Microsoft refused the client secret of the Microsoft connector" in rows[0].subject
    assert connectors.get("microsoft").secret_refused_at is not None
    client.post("/logout")
    auth.login("ada2", "sally-password")
    page = client.get("/admin/connections").get_data(as_text=True)
    assert "Microsoft refused the client secret of the Microsoft connector." in page


def test_a_new_secret_refused_again_is_a_new_event(auth, client, configured, ms):
    auth.login()
    for _ in range(2):
        ms.fault("token", "aadsts", code=7000215, count=1)
        connect(client)
    assert len(alerts(kind="secret_refused")) == 1  # the same secret refused twice: one alert
    _new_secret(CLIENT_SECRET)
    assert connectors.get("microsoft").secret_refused_at is None
    ms.fault("token", "aadsts", code=7000222, count=1)  # an expired secret says so too
    connect(client)
    assert len(alerts(kind="secret_refused")) == 2


def test_other_token_errors_raise_no_secret_alert(auth, client, configured, ms):
    auth.login()
    ms.fault("token", "aadsts", code=65001, count=1)  # no consent: the user's matter
    connect(client)
    assert alerts() == [] and connectors.get("microsoft").secret_refused_at is None
