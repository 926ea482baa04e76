"""Every AADSTS answer the connect flow can meet, code by code against the stand-in's own
answers (a redirect with `error=` from authorize, a JSON error from the token endpoint): what the
person in front of the screen reads, a user and an admin, and that nothing is stored."""

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from app.connect.models import Credential
from app.extensions import db
from tests.connect.conftest import connect

# code -> (a phrase of the user's message, a phrase of the admin's message)
AT_AUTHORIZE = {
    90094: ("Ask your CRM administrator to grant admin consent", "Grant admin consent for your"),
    90095: ("Ask your CRM administrator to grant admin consent", "Grant admin consent for your"),
    # Microsoft's 65004 from the consent page's Cancel carries error_subcode=cancel.
    65004: ("You cancelled the connection to Microsoft.", "You cancelled the connection"),
    53003: ("Conditional Access", "Conditional Access"),
    50076: ("multi-factor authentication", "multi-factor authentication"),
    50079: ("multi-factor authentication", "multi-factor authentication"),
    50105: ("not assigned to this CRM", "Users and groups"),
    700016: ("does not know this CRM", "does not know the Client ID"),
    50020: ("belongs to another organization", "make the app multi-tenant"),
    530003: ("only managed devices", "only managed devices"),
}
AT_TOKEN = {
    7000215: ("Your administrator has been alerted", "Certificates &amp; secrets"),
    7000222: ("Your administrator has been alerted", "Certificates &amp; secrets"),
}


def _outcome(flow) -> str:
    body = flow.callback.get_data(as_text=True)
    assert flow.callback.status_code == 200 and 'data-status="error"' in body
    assert db.session.scalar(select(Credential)) is None
    return body


@pytest.mark.parametrize("role", ["user", "admin"])
@pytest.mark.parametrize("code", sorted(AT_AUTHORIZE))
def test_authorize_answers_in_words(auth, client, configured, ms, code, role):
    auth.login(*(("admin", "admin-password") if role == "admin" else ()))
    ms.fault("authorize", "aadsts", code=code, count=1)
    flow = connect(client)
    assert f"AADSTS{code}" in flow.params["error_description"]
    body = _outcome(flow)
    assert AT_AUTHORIZE[code][role == "admin"] in body
    assert ("You cancelled" in body) is (code == 65004)


@pytest.mark.parametrize("role", ["user", "admin"])
@pytest.mark.parametrize("code", sorted(AT_TOKEN))
def test_token_answers_in_words(auth, client, configured, ms, code, role):
    auth.login(*(("admin", "admin-password") if role == "admin" else ()))
    ms.fault("token", "aadsts", code=code, count=1)
    body = _outcome(connect(client))
    assert AT_TOKEN[code][role == "admin"] in body
    assert (AT_TOKEN[code][0] in body) is (role == "user")


def test_declined_without_cancelling_is_said_so(auth, client, configured):
    """65004 without Microsoft's cancel subcode: the person declined the permissions."""
    auth.login()
    start = client.post(
        "/profile/external-accounts/new",
        data={"application": "microsoft", "mode": "popup"},
        headers={"Accept": "application/json"},
    ).get_json()
    state = parse_qs(urlsplit(client.get(start["go_url"]).headers["Location"]).query)["state"][0]
    answer = client.get(
        "/oauth/microsoft/callback",
        query_string={
            "error": "access_denied",
            "error_description": "AADSTS65004: User declined to consent to access the app.",
            "state": state,
        },
    )
    assert "You declined the permissions the CRM asked for" in answer.get_data(as_text=True)


def test_cancel_stays_you_cancelled(auth, client, configured):
    auth.login()
    flow = connect(client, decision="cancel")
    assert flow.params.get("error_subcode") == "cancel"
    assert "You cancelled the connection to Microsoft." in _outcome(flow)
