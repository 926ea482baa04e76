"""The v2.0 admin consent endpoint and tenant-wide consents."""

import pytest

from .driver import (
    ADELE,
    ALEX,
    CLIENT_ID,
    DEFAULT_SCOPE,
    ISAIAH,
    MEGAN,
    NESTOR,
    NORTHWIND_TID,
    PAT,
    REDIRECT_URI,
    SignIn,
    account_buttons,
    pkce_pair,
    query,
)

GRANTED = [
    "https://graph.microsoft.com/Files.ReadWrite.All",
    "https://graph.microsoft.com/User.Read",
    "https://outlook.office.com/SMTP.Send",
]


def _consent_as_isaiah(ms, **params):
    page = ms.admin_pick(ms.admin_consent(tenant=NORTHWIND_TID, **params).text, ISAIAH)
    assert page.status_code == 200, page.text
    return page


def test_the_admin_sees_a_consent_page_for_the_organization_listing_every_resource(ms):
    page = _consent_as_isaiah(ms)
    assert '<html lang="en">' in page.text
    assert "<h1>Permissions requested</h1>" in page.text
    assert "<h2>Accept for your organization</h2>" in page.text
    assert "Northwind Traders" in page.text
    for scope in GRANTED:
        assert f'title="{scope}"' in page.text
    assert "Send email from your mailbox using SMTP AUTH" in page.text
    assert ">Accept</button>" in page.text and ">Cancel</button>" in page.text


def test_accept_records_the_tenant_wide_consent_and_says_so(ms):
    back = ms.admin_decide(_consent_as_isaiah(ms, state="st&1").text, "accept")
    assert back.status_code == 302
    assert back.headers["Location"].startswith(REDIRECT_URI + "?")
    params = query(back.headers["Location"])
    assert params["admin_consent"] == "True"
    assert params["tenant"] == NORTHWIND_TID
    assert params["state"] == "st&1"
    assert params["scope"].split() == [
        "https://graph.microsoft.com/User.Read",
        "https://graph.microsoft.com/Files.ReadWrite.All",
        "https://outlook.office.com/SMTP.Send",
        "openid",
        "profile",
        "email",
        "offline_access",
    ]
    consents = ms.control("GET", "/admin-consents")["admin_consents"]
    assert consents == [{"client_id": CLIENT_ID, "tenant": NORTHWIND_TID, "scopes": GRANTED}]
    stats = ms.control("GET", "/stats")
    assert stats["adminconsent"] == 1 and stats["adminconsent.accept"] == 1


def test_after_admin_consent_a_user_gets_a_code_without_any_consent_page(ms):
    ms.admin_decide(_consent_as_isaiah(ms).text, "accept")
    for scope in (DEFAULT_SCOPE, "openid offline_access https://outlook.office.com/SMTP.Send"):
        picker = ms.authorize(tenant="organizations", scope=scope)
        back = ms.pick(picker.text, NESTOR)
        assert back.status_code == 302
        params = query(back.headers["Location"])
        assert params["code"] and params["state"] == "state-123"


def test_a_user_let_in_by_admin_consent_can_redeem_and_refresh(ms):
    ms.control(
        "POST",
        "/admin-consents",
        {
            "client_id": CLIENT_ID,
            "tenant": NORTHWIND_TID,
            "scopes": ["User.Read", "Files.ReadWrite.All", "https://outlook.office.com/SMTP.Send"],
        },
    )
    tokens = ms.redeem(_signed_in_without_prompt(ms, NESTOR)).json()
    assert ms.me(tokens["access_token"]).json()["mail"] == "nestor@northwind.example"
    smtp = ms.refresh(tokens["refresh_token"], scope="https://outlook.office.com/SMTP.Send")
    assert smtp.status_code == 200, smtp.text
    assert smtp.json()["scope"] == "https://outlook.office.com/SMTP.Send"


def _signed_in_without_prompt(ms, oid):
    verifier, challenge = pkce_pair()
    picker = ms.authorize(code_challenge=challenge, code_challenge_method="S256", nonce="n")
    back = ms.pick(picker.text, oid)
    assert back.status_code == 302, back.text
    location = back.headers["Location"]
    return SignIn(location, query(location), verifier, "n")


def test_consent_covering_fewer_scopes_still_needs_admin_approval(ms):
    body = {"client_id": CLIENT_ID, "tenant": "northwind.example", "scopes": ["User.Read"]}
    assert ms.control("POST", "/admin-consents", body)["scopes"] == [
        "https://graph.microsoft.com/User.Read"
    ]
    page = ms.pick(ms.authorize().text, NESTOR)
    assert "Need admin approval" in page.text
    assert query(ms.pick(ms.authorize(scope="openid User.Read").text, NESTOR).headers["Location"])[
        "code"
    ]


def test_prompt_consent_shows_the_page_even_with_admin_consent(ms):
    ms.control(
        "POST",
        "/admin-consents",
        {
            "client_id": CLIENT_ID,
            "tenant": "contoso.example",
            "scopes": ["User.Read", "Files.ReadWrite.All"],
        },
    )
    assert ms.pick(ms.authorize().text, ADELE).status_code == 302
    page = ms.pick(ms.authorize(prompt="consent").text, ADELE)
    assert "Permissions requested" in page.text


def test_revoking_the_consent_brings_the_approval_page_back(ms):
    body = {"client_id": CLIENT_ID, "tenant": NORTHWIND_TID, "scopes": ["User.Read"]}
    ms.control("POST", "/admin-consents", body)
    target = {"client_id": CLIENT_ID, "tenant": NORTHWIND_TID}
    assert ms.control("DELETE", "/admin-consents", target) == {"revoked": True}
    assert ms.control("DELETE", "/admin-consents", target) == {"revoked": False}
    page = ms.pick(ms.authorize(scope="openid User.Read").text, NESTOR)
    assert "Need admin approval" in page.text


def test_reset_forgets_tenant_wide_consents(ms):
    ms.admin_decide(_consent_as_isaiah(ms).text, "accept")
    ms.control("POST", "/reset")
    assert ms.control("GET", "/admin-consents") == {"admin_consents": []}


def test_someone_who_is_no_admin_is_refused(ms):
    back = ms.admin_pick(ms.admin_consent(tenant="northwind.example").text, NESTOR)
    assert back.status_code == 302
    params = query(back.headers["Location"])
    assert params["error"] == "access_denied"
    assert params["error_description"].startswith(
        "AADSTS90093: This operation can only be performed by an administrator."
    )
    assert params["state"] == "admin-state"
    assert "admin_consent" not in params
    assert ms.control("GET", "/admin-consents") == {"admin_consents": []}


def test_cancel_is_access_denied_with_subcode_cancel(ms):
    back = ms.admin_decide(_consent_as_isaiah(ms).text, "cancel")
    assert query(back.headers["Location"]) == {
        "error": "access_denied",
        "error_subcode": "cancel",
        "error_description": "AADSTS65004: User declined to consent to access the app.",
        "state": "admin-state",
    }
    assert ms.control("GET", "/admin-consents") == {"admin_consents": []}


def test_a_contoso_admin_consents_for_contoso_only(ms):
    page = ms.admin_pick(ms.admin_consent(tenant="common").text, MEGAN)
    back = query(ms.admin_decide(page.text, "accept").headers["Location"])
    assert back["tenant"] == "c0ffee00-0000-4000-8000-00000000c0de"
    assert "Need admin approval" in ms.pick(ms.authorize().text, NESTOR).text


@pytest.mark.parametrize(
    ("tenant", "expected"),
    [
        ("common", {ADELE, MEGAN, ALEX, NESTOR, ISAIAH}),
        ("organizations", {ADELE, MEGAN, ALEX, NESTOR, ISAIAH}),
        ("northwind.example", {NESTOR, ISAIAH}),
    ],
)
def test_the_picker_offers_work_accounts_of_the_tenant(ms, tenant, expected):
    page = ms.admin_consent(tenant=tenant)
    assert set(account_buttons(page.text)) == expected
    assert 'action="/login/adminconsent/pick"' in page.text


def test_an_account_of_another_tenant_cannot_be_picked(ms):
    assert ms.admin_pick(ms.admin_consent(tenant=NORTHWIND_TID).text, MEGAN).status_code == 400
    assert ms.admin_pick(ms.admin_consent(tenant="common").text, PAT).status_code == 400


@pytest.mark.parametrize(
    ("params", "tenant", "code"),
    [
        ({"redirect_uri": "https://evil.example/cb"}, "organizations", "AADSTS50011"),
        ({"client_id": "no-such-app"}, "organizations", "AADSTS700016"),
        ({}, "nowhere.example", "AADSTS90002"),
        ({"client_id": None}, "organizations", "AADSTS900144"),
    ],
)
def test_bad_client_redirect_or_tenant_get_an_error_page(ms, params, tenant, code):
    response = ms.admin_consent(tenant=tenant, **params)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert code in response.text


@pytest.mark.parametrize(
    ("scope", "error", "code"),
    [(None, "invalid_request", "AADSTS900144"), ("api://other/read", "invalid_resource", "500011")],
)
def test_a_bad_scope_goes_back_to_the_client(ms, scope, error, code):
    response = ms.admin_consent(scope=scope)
    assert response.status_code == 302
    params = query(response.headers["Location"])
    assert params["error"] == error and code in params["error_description"]
    assert params["state"] == "admin-state"


def test_a_sign_in_request_cannot_be_finished_at_the_admin_consent_pages(ms):
    picker = ms.authorize(tenant=NORTHWIND_TID)
    assert ms.admin_pick(picker.text, ISAIAH).status_code == 400
    admin_picker = ms.admin_consent(tenant=NORTHWIND_TID)
    assert ms.pick(admin_picker.text, ISAIAH).status_code == 400


@pytest.mark.parametrize(
    "body",
    [
        {"client_id": CLIENT_ID, "tenant": "nowhere.example", "scopes": []},
        {"client_id": "", "tenant": NORTHWIND_TID, "scopes": []},
        {"client_id": CLIENT_ID, "tenant": NORTHWIND_TID, "scopes": "User.Read"},
        {"client_id": CLIENT_ID, "tenant": NORTHWIND_TID, "scopes": ["api://other/x"]},
    ],
)
def test_granting_by_control_checks_its_input(ms, body):
    assert ms.post("/_standin/admin-consents", json=body).status_code == 400
    assert ms.control("GET", "/admin-consents") == {"admin_consents": []}
