"""Injected faults and the control API."""

import time

import pytest

from .driver import aadsts, query


def test_token_500_is_an_html_page(ms):
    ms.fault("token", "500", count=1)
    response = ms.redeem(ms.sign_in())
    assert response.status_code == 500
    assert response.headers["Content-Type"].startswith("text/html")
    assert "AADSTS50000" in response.text
    assert ms.control("GET", "/stats")["token.error"] == 1


def test_token_429_has_retry_after_and_count_runs_out(ms):
    result = ms.sign_in()
    ms.fault("token", "429", count=2, retry_after=7)
    for _ in range(2):
        response = ms.redeem(result)
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "7"
    assert ms.redeem(result).status_code == 200
    assert ms.control("GET", "/stats")["fault.token"] == 2


def test_token_503_default_retry_after(ms):
    ms.fault("token", "503")
    response = ms.redeem(ms.sign_in())
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"


def test_token_garbage_is_a_200_that_is_not_json(ms):
    ms.fault("token", "garbage", count=1)
    response = ms.redeem(ms.sign_in())
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


def test_token_slow_answers_normally_after_the_delay(ms):
    result = ms.sign_in()
    ms.fault("token", "slow", count=1, delay=0.3)
    started = time.monotonic()
    response = ms.redeem(result)
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("mode", "status", "error", "code"),
    [
        ("invalid_grant", 400, "invalid_grant", 70008),
        ("consent_required", 400, "invalid_grant", 65001),
        ("temporarily_unavailable", 503, "temporarily_unavailable", 90033),
    ],
)
def test_token_oauth_error_modes(ms, mode, status, error, code):
    ms.fault("token", mode)
    response = ms.redeem(ms.sign_in())
    assert response.status_code == status
    assert aadsts(response) == (error, code)


def test_clearing_faults(ms):
    ms.fault("token", "500")
    ms.control("DELETE", "/faults")
    assert ms.redeem(ms.sign_in()).status_code == 200


@pytest.mark.parametrize(
    ("mode", "code"),
    [
        ("server_error", "AADSTS50000"),
        ("temporarily_unavailable", "AADSTS90033"),
        ("consent_required", "AADSTS65001"),
        ("interaction_required", "AADSTS50076"),
    ],
)
def test_authorize_faults_redirect_back(ms, mode, code):
    ms.fault("authorize", mode, count=1)
    response = ms.authorize()
    assert response.status_code == 302
    params = query(response.headers["Location"])
    assert params["error"] == mode
    assert params["error_description"].startswith(code)
    assert params["state"] == "state-123"
    assert ms.authorize().status_code == 200


def test_authorize_fault_never_redirects_to_an_unregistered_uri(ms):
    ms.fault("authorize", "server_error")
    response = ms.authorize(redirect_uri="https://evil.example/cb")
    assert response.status_code == 400 and "Location" not in response.headers


def test_discovery_faults(ms):
    path = "/common/v2.0/.well-known/openid-configuration"
    ms.fault("discovery", "500", count=1)
    assert ms.get(path).status_code == 500
    ms.fault("discovery", "garbage", count=1)
    with pytest.raises(ValueError):
        ms.get(path).json()
    assert ms.get(path).json()["issuer"]


@pytest.mark.parametrize(
    ("mode", "status", "code"),
    [
        ("401", 401, "InvalidAuthenticationToken"),
        ("403", 403, "accessDenied"),
        ("404", 404, "itemNotFound"),
        ("429", 429, "activityLimitReached"),
        ("503", 503, "serviceNotAvailable"),
        ("500", 500, "generalException"),
    ],
)
def test_graph_faults(ms, mode, status, code):
    token = ms.tokens()["access_token"]
    ms.fault("graph", mode, count=1, retry_after=3)
    response = ms.me(token)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    if mode in ("429", "503"):
        assert response.headers["Retry-After"] == "3"
    assert ms.me(token).status_code == 200


def test_unknown_fault_mode_is_refused(ms):
    response = ms.post("/_standin/faults", json={"area": "graph", "mode": "garbage"})
    assert response.status_code == 400


def test_reset_forgets_tokens_faults_and_stats(ms):
    tokens = ms.tokens()
    ms.fault("graph", "500")
    ms.control("POST", "/reset")
    assert ms.control("GET", "/stats") == {}
    assert ms.me(tokens["access_token"]).status_code == 401
    assert ms.control("GET", "/health") == {"status": "ok"}


@pytest.mark.parametrize(
    ("code", "error", "text"),
    [
        (90094, "access_denied", "The grant requires admin permission."),
        (90095, "access_denied", "Admin consent is required for the permissions requested"),
        (65004, "access_denied", "User declined to consent to access the app."),
        (53003, "access_denied", "Access has been blocked by Conditional Access policies."),
        (50076, "interaction_required", "you must use multi-factor authentication"),
        (50079, "interaction_required", "you must enroll in multi-factor authentication"),
        (50105, "access_denied", "to block users unless they are specifically granted"),
        (700016, "unauthorized_client", "Application with identifier 'crm-test-app' was not"),
        (50020, "access_denied", "User account 'megan@contoso.example' does not exist"),
        (530003, "access_denied", "Your device is required to be managed"),
        (12345, "invalid_request", "AADSTS12345: "),
    ],
)
def test_authorize_aadsts_fault_by_code(ms, code, error, text):
    ms.fault("authorize", "aadsts", code=code, count=1)
    response = ms.authorize(login_hint="megan@contoso.example")
    assert response.status_code == 302
    params = query(response.headers["Location"])
    assert params["error"] == error
    assert params["error_description"].startswith(f"AADSTS{code}: ")
    assert text in params["error_description"]
    assert params["state"] == "state-123"
    assert params.get("error_subcode") == ("cancel" if code == 65004 else None)
    assert ms.authorize().status_code == 200


@pytest.mark.parametrize(
    ("code", "status", "error", "suberror"),
    [
        (90094, 400, "access_denied", None),
        (90095, 400, "access_denied", None),
        (65004, 400, "access_denied", None),
        (53003, 400, "invalid_grant", None),
        (50076, 400, "invalid_grant", "basic_action"),
        (50079, 400, "invalid_grant", "basic_action"),
        (50105, 400, "access_denied", None),
        (700016, 400, "unauthorized_client", None),
        (7000215, 401, "invalid_client", None),
        (7000222, 401, "invalid_client", None),
        (50020, 400, "invalid_grant", None),
        (530003, 400, "invalid_grant", None),
        (12345, 400, "invalid_request", None),
    ],
)
def test_token_aadsts_fault_by_code(ms, code, status, error, suberror):
    tokens = ms.tokens()
    ms.fault("token", "aadsts", code=code, count=1)
    response = ms.refresh(tokens["refresh_token"])
    assert response.status_code == status
    assert aadsts(response) == (error, code)
    assert response.json().get("suberror") == suberror
    assert ms.refresh(tokens["refresh_token"]).status_code == 200


def test_token_aadsts_text_names_the_client_and_the_user(ms):
    tokens = ms.tokens()
    ms.fault("token", "aadsts", code=7000222)
    expired = ms.refresh(tokens["refresh_token"]).json()["error_description"]
    assert expired.startswith(
        "AADSTS7000222: The provided client secret keys for app 'crm-test-app' are expired."
    )
    ms.fault("token", "aadsts", code=50105)
    assigned = ms.refresh(tokens["refresh_token"]).json()["error_description"]
    assert "The signed in user 'adele@contoso.example' is blocked" in assigned


@pytest.mark.parametrize(
    "body",
    [
        {"area": "token", "mode": "aadsts"},
        {"area": "token", "mode": "aadsts", "code": "90094"},
        {"area": "token", "mode": "aadsts", "code": True},
        {"area": "authorize", "mode": "aadsts", "code": 7000222},
        {"area": "token", "mode": "500", "code": 90094},
        {"area": "graph", "mode": "aadsts", "code": 90094},
    ],
)
def test_aadsts_faults_need_a_code_that_fits_the_area(ms, body):
    response = ms.post("/_standin/faults", json=body)
    assert response.status_code == 400
    assert ms.authorize().status_code == 200
