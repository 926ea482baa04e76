"""A second connector only adds a provider: a generic OpenID Connect provider pointed at the
stand-in (Authlib underneath, nothing Microsoft-specific) is registered on the app, connected
from External Accounts and its token refreshed, with no change to the connect code."""

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from app.connect import connectors, external_accounts, tokens
from app.connect.models import ExternalAccount
from app.connect.oidc import OpenIDProvider
from app.connect.provider import register
from app.core import crypto
from app.extensions import db
from tests.connect.conftest import CONTOSO, connect

NAME, LABEL = "standin-oidc", "Stand-in OpenID"
CLIENT = ("33333333-4444-4555-8666-777777777777", "second-provider-secret-value")


@pytest.fixture
def second(app, ms, configured):
    """The generic provider, registered on the app and configured like any connector."""
    provider = OpenIDProvider(
        NAME, LABEL, issuer=f"{ms.base}/{CONTOSO}/v2.0", purposes={"onedrive": ("User.Read",)}
    )
    register(app, provider)
    ms.control(
        "POST",
        "/clients",
        {
            "client_id": CLIENT[0],
            "client_secret": CLIENT[1],
            "redirect_uris": [connectors.redirect_uri(NAME)],
        },
    )
    connectors.save(
        None,
        NAME,
        client_id=CLIENT[0],
        client_secret=CLIENT[1],
        single_tenant=False,
        tenant="",
        enabled=True,
    )
    db.session.commit()
    return provider


def test_a_second_provider_connects_from_external_accounts_and_refreshes(auth, client, second, ms):
    auth.login()
    page = client.get("/profile/external-accounts/new").get_data(as_text=True)
    assert f'value="{NAME}"' in page and LABEL in page and 'value="microsoft"' in page

    flow = connect(client, data={"application": NAME, "mode": "popup"})
    assert 'data-status="done"' in flow.callback.get_data(as_text=True)
    query = {k: v[0] for k, v in parse_qs(urlsplit(flow.authorize_url).query).items()}
    assert query["client_id"] == CLIENT[0] and query["code_challenge_method"] == "S256"
    assert query["redirect_uri"].endswith(f"/oauth/{NAME}/callback")
    assert "prompt" not in query  # Microsoft's account picker is Microsoft's, not OpenID's

    account = db.session.scalar(select(ExternalAccount).where(ExternalAccount.provider == NAME))
    assert account.status == "connected" and account.authorized_email == "adele@contoso.example"
    assert account.tenant_id == f"{ms.base}/{CONTOSO}/v2.0" and account.object_id  # (iss, sub)
    listed = client.get("/profile/edit/external-accounts").get_data(as_text=True)
    assert LABEL in listed and "adele@contoso.example" in listed

    before = crypto.decrypt(account.credential.refresh_token_encrypted)
    refreshes = ms.stats().get("token.refresh_token", 0)
    access = tokens.refresh_now(account, external_accounts.PURPOSE)
    assert access and ms.stats()["token.refresh_token"] == refreshes + 1
    db.session.expire_all()
    stored = db.session.get(ExternalAccount, account.id).credential
    assert crypto.decrypt(stored.refresh_token_encrypted) != before  # the rotated one is kept
    assert external_accounts.check(account).startswith("The connection works: signed in as")
