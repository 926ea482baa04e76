"""The authorize endpoint: validation, account picker, consent, redirects back."""

import pytest

from .driver import (
    ADELE,
    ALEX,
    CLIENT_ID,
    ISAIAH,
    MEGAN,
    NESTOR,
    NORTHWIND_TID,
    PAT,
    REDIRECT_URI,
    account_buttons,
    query,
)


def test_unregistered_redirect_uri_gets_an_error_page_and_no_redirect(ms):
    response = ms.authorize(redirect_uri="https://evil.example/cb")
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "AADSTS50011" in response.text
    assert "https://evil.example/cb" in response.text
    assert "Local Microsoft stand-in" in response.text


def test_unknown_client_gets_an_error_page(ms):
    response = ms.authorize(client_id="no-such-app")
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "AADSTS700016" in response.text


def test_picker_lists_every_account_for_common_with_the_hint_first(ms):
    page = ms.authorize(login_hint="megan@contoso.example")
    assert page.status_code == 200
    assert "<title>Sign in to your account</title>" in page.text
    assert "Pick an account" in page.text
    assert account_buttons(page.text) == [MEGAN, ADELE, ALEX, PAT, NESTOR, ISAIAH]
    assert 'class="account hint"' in page.text


@pytest.mark.parametrize(
    ("tenant", "expected"),
    [
        ("organizations", {ADELE, MEGAN, ALEX, NESTOR, ISAIAH}),
        ("consumers", {PAT}),
        ("contoso.example", {ADELE, MEGAN}),
        ("c0ffee00-0000-4000-8000-0000000fab00", {ALEX}),
        ("northwind.example", {NESTOR, ISAIAH}),
        (NORTHWIND_TID, {NESTOR, ISAIAH}),
    ],
)
def test_picker_offers_only_the_tenants_accounts(ms, tenant, expected):
    page = ms.authorize(tenant=tenant)
    assert set(account_buttons(page.text)) == expected


def test_picking_an_account_from_another_tenant_is_refused(ms):
    page = ms.authorize(tenant="organizations")
    assert ms.pick(page.text, PAT).status_code == 400


def test_consent_lists_scopes_in_plain_words(ms):
    consent = ms.pick(ms.authorize().text, ADELE)
    assert "Permissions requested" in consent.text
    assert "Have full access to all files you have access to" in consent.text
    assert "Maintain access to data you have given it access to" in consent.text
    assert ">Accept</button>" in consent.text and ">Cancel</button>" in consent.text


def test_accept_redirects_with_code_and_verbatim_state(ms):
    state = "a b&c=d/é?+%"
    result = ms.sign_in(state=state)
    assert result.location.startswith(REDIRECT_URI + "?")
    assert result.params["state"] == state
    assert result.params["code"]
    assert "iss" not in result.params


def test_send_iss_adds_the_issuer(ms):
    ms.control("POST", "/settings", {"send_iss": True})
    result = ms.sign_in(oid=ALEX)
    assert result.params["iss"] == f"{ms.base}/c0ffee00-0000-4000-8000-0000000fab00/v2.0"


def test_cancel_redirects_with_access_denied(ms):
    result = ms.sign_in(decision="cancel")
    assert result.params["error"] == "access_denied"
    assert result.params["error_subcode"] == "cancel"
    assert result.params["error_description"].startswith("AADSTS65004: User declined")
    assert result.params["state"] == "state-123"
    assert "code" not in result.params


def test_a_pending_request_is_used_once(ms):
    consent = ms.pick(ms.authorize().text, ADELE)
    assert ms.decide(consent.text, "accept").status_code == 302
    assert ms.decide(consent.text, "accept").status_code == 400


def test_two_resources_in_one_request_are_refused(ms):
    scope = "openid User.Read https://outlook.office.com/SMTP.Send"
    response = ms.authorize(scope=scope)
    assert response.status_code == 302
    params = query(response.headers["Location"])
    assert params["error"] == "invalid_request"
    assert params["error_description"].startswith("AADSTS28000: ")
    assert params["state"] == "state-123"


@pytest.mark.parametrize(
    ("params", "error", "code"),
    [
        ({"response_type": "token"}, "unsupported_response_type", "AADSTS700054"),
        ({"scope": None}, "invalid_request", "AADSTS900144"),
        ({"code_challenge": "short", "code_challenge_method": "S256"}, "invalid_request", "501491"),
        ({"prompt": "none"}, "login_required", "AADSTS50058"),
        ({"scope": "api://other-app/read"}, "invalid_resource", "AADSTS500011"),
    ],
)
def test_bad_requests_go_back_to_the_client(ms, params, error, code):
    response = ms.authorize(**params)
    assert response.status_code == 302
    back = query(response.headers["Location"])
    assert back["error"] == error
    assert code in back["error_description"]


def test_client_registered_at_runtime(ms):
    uri = "http://127.0.0.1:9999/cb?x=1"
    ms.control(
        "POST",
        "/clients",
        {"client_id": "runtime-app", "client_secret": "pw", "redirect_uris": [uri]},
    )
    page = ms.authorize(client_id="runtime-app", redirect_uri=uri)
    consent = ms.pick(page.text, ADELE)
    location = ms.decide(consent.text, "accept").headers["Location"]
    assert location.startswith("http://127.0.0.1:9999/cb?x=1&code=")
    assert CLIENT_ID not in location


def test_fragment_and_form_post_response_modes(ms):
    fragment = ms.sign_in(response_mode="fragment")
    assert fragment.location.startswith(REDIRECT_URI + "#code=")
    page = ms.pick(ms.authorize(response_mode="form_post").text, ADELE)
    posted = ms.decide(page.text, "accept")
    assert posted.status_code == 200
    assert f'action="{REDIRECT_URI}"' in posted.text
    assert 'name="code"' in posted.text and 'value="state-123"' in posted.text


def test_logout_returns_only_to_a_registered_origin(ms):
    back = "http://localhost:5000/signed-out"
    response = ms.get("/common/oauth2/v2.0/logout", params={"post_logout_redirect_uri": back})
    assert response.status_code == 302 and response.headers["Location"] == back
    elsewhere = {"post_logout_redirect_uri": "https://evil.example/"}
    response = ms.get("/common/oauth2/v2.0/logout", params=elsewhere)
    assert response.status_code == 200 and "Location" not in response.headers
