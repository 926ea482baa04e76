"""Sign-in where users may not consent (Northwind): "Need admin approval", admins, and what
a tenant-wide consent changes."""

import re
from urllib.parse import parse_qs, urlsplit

from .driver import (
    ADELE,
    CLIENT_ID,
    ISAIAH,
    MEGAN,
    NESTOR,
    NORTHWIND_TID,
    REDIRECT_URI,
    account_buttons,
    pending_id,
    query,
)


def _approval(ms, **params):
    return ms.pick(ms.authorize(tenant="northwind.example", **params).text, NESTOR)


def test_a_user_who_may_not_consent_is_told_to_ask_an_admin(ms):
    page = _approval(ms)
    assert page.status_code == 200
    assert '<html lang="en">' in page.text
    assert "<h1>Need admin approval</h1>" in page.text
    assert (
        f"{CLIENT_ID} needs permission to access resources in your organization that only an "
        "admin can grant. Please ask an admin to grant permission to this app before you can "
        "use it."
    ) in page.text
    assert ">Have an admin account? Sign in with that account</a>" in page.text
    assert ">Return to the application without granting consent</button>" in page.text
    assert "Permissions requested" not in page.text
    assert ms.control("GET", "/stats")["consent.admin_required"] == 1


def test_returning_without_consent_sends_access_denied_with_90094_and_the_state(ms):
    back = ms.leave_approval(_approval(ms, state="s/1 &x").text)
    assert back.status_code == 302
    assert back.headers["Location"].startswith(REDIRECT_URI + "?")
    params = query(back.headers["Location"])
    assert params == {
        "error": "access_denied",
        "error_subcode": "cancel",
        "error_description": "AADSTS90094: The grant requires admin permission.",
        "state": "s/1 &x",
    }


def test_the_return_button_honours_response_mode_and_send_iss(ms):
    ms.control("POST", "/settings", {"send_iss": True})
    back = ms.leave_approval(_approval(ms, response_mode="fragment").text)
    location = back.headers["Location"]
    assert location.startswith(REDIRECT_URI + "#")
    params = {k: v[0] for k, v in parse_qs(urlsplit(location).fragment).items()}
    assert params["error"] == "access_denied" and params["error_subcode"] == "cancel"
    assert params["iss"] == f"{ms.base}/{NORTHWIND_TID}/v2.0"


def test_the_admin_link_goes_back_to_the_picker_and_an_admin_gets_the_consent_page(ms):
    page = _approval(ms, login_hint="nestor@northwind.example")
    link = re.search(r'href="([^"]+)">Have an admin account', page.text).group(1)
    picker = ms.get(link.replace("&amp;", "&"))
    assert picker.status_code == 200
    assert set(account_buttons(picker.text)) == {NESTOR, ISAIAH}
    assert pending_id(picker.text) == pending_id(page.text)
    consent = ms.pick(picker.text, ISAIAH)
    assert "Permissions requested" in consent.text
    assert "Need admin approval" not in consent.text
    back = ms.decide(consent.text, "accept")
    assert query(back.headers["Location"])["code"]


def test_a_user_cannot_skip_the_approval_page_by_posting_accept(ms):
    back = ms.decide(_approval(ms).text, "accept")
    params = query(back.headers["Location"])
    assert params["error"] == "access_denied"
    assert params["error_description"].startswith("AADSTS90094: ")
    assert "code" not in params


def test_an_admin_of_the_tenant_can_consent_for_themselves(ms):
    tokens = ms.tokens(oid=ISAIAH, tenant="organizations")
    assert ms.me(tokens["access_token"]).json()["userPrincipalName"] == "isaiah@northwind.example"
    assert ms.control("GET", "/admin-consents") == {"admin_consents": []}


def test_an_admin_consenting_for_the_organization_lets_users_in_without_a_prompt(ms):
    consent = ms.pick(ms.authorize(tenant=NORTHWIND_TID).text, ISAIAH)
    assert 'id="for-organization"' in consent.text
    assert '<label for="for-organization">Consent on behalf of your organization' in consent.text
    ms.post(
        "/login/consent",
        data={"pending": pending_id(consent.text), "decision": "accept", "for_organization": "1"},
    )
    back = ms.pick(ms.authorize(tenant=NORTHWIND_TID).text, NESTOR)
    assert back.status_code == 302
    assert query(back.headers["Location"])["code"]
    assert ms.control("GET", "/stats")["consent.tenant_wide"] == 1


def test_ordinary_users_see_no_organization_checkbox(ms):
    consent = ms.pick(ms.authorize().text, ADELE)
    assert "for-organization" not in consent.text
    assert "for-organization" in ms.pick(ms.authorize().text, MEGAN).text


def test_contoso_users_may_still_consent_themselves(ms):
    assert ms.sign_in(oid=ADELE, tenant="contoso.example").params["code"]
