"""Drive the stand-in over HTTP like a browser plus an app would, without a browser."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import requests

TIMEOUT = 10
CLIENT_ID = "crm-test-app"
CLIENT_SECRET = "test-secret-value"
REDIRECT_URI = "http://localhost:5000/oauth/microsoft/callback"
DEFAULT_SCOPE = "openid profile email offline_access User.Read Files.ReadWrite.All"
ADMIN_SCOPE = (
    "https://graph.microsoft.com/User.Read https://graph.microsoft.com/Files.ReadWrite.All "
    "https://outlook.office.com/SMTP.Send openid profile email offline_access"
)

CONTOSO_TID = "c0ffee00-0000-4000-8000-00000000c0de"
FABRIKAM_TID = "c0ffee00-0000-4000-8000-0000000fab00"
CONSUMER_TID = "9188040d-6c67-4c5b-b112-36a304b66dad"
NORTHWIND_TID = "c0ffee00-0000-4000-8000-00000000a0a7"
ADELE = "a11ce000-0000-4000-8000-00000000ade1"
MEGAN = "a11ce000-0000-4000-8000-00000000e6a0"
ALEX = "a11ce000-0000-4000-8000-0000000a1e00"
PAT = "00000000-0000-0000-0000-0000000ba700"
NESTOR = "a11ce000-0000-4000-8000-00000000e570"
ISAIAH = "a11ce000-0000-4000-8000-0000000a1a40"


def pkce_pair() -> tuple[str, str]:
    """A PKCE verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def pending_id(html: str) -> str:
    """The server-side pending request id carried by a picker or consent page."""
    match = re.search(r'name="pending" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def account_buttons(html: str) -> list[str]:
    """The oids offered on the account picker, in page order."""
    return re.findall(r'name="oid" value="([^"]+)"', html)


def query(location: str) -> dict[str, str]:
    """The query parameters of a redirect Location, one value each."""
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@dataclass
class SignIn:
    """The outcome of an interactive sign-in: the redirect back and the PKCE verifier used."""

    location: str
    params: dict[str, str]
    verifier: str
    nonce: str


class Standin:
    """A thin HTTP client for one running stand-in."""

    def __init__(self, base: str) -> None:
        self.base = base

    def get(self, path: str, **kwargs) -> requests.Response:
        """GET a stand-in path (no redirects followed)."""
        kwargs.setdefault("allow_redirects", False)
        return requests.get(self.base + path, timeout=TIMEOUT, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        """POST to a stand-in path (no redirects followed)."""
        kwargs.setdefault("allow_redirects", False)
        return requests.post(self.base + path, timeout=TIMEOUT, **kwargs)

    def control(self, method: str, path: str, body: dict | None = None) -> dict:
        """Call the control API and return its JSON."""
        response = requests.request(
            method, f"{self.base}/_standin{path}", json=body, timeout=TIMEOUT
        )
        assert response.ok, response.text
        return response.json()

    def fault(self, area: str, mode: str, **options) -> None:
        """Install a fault."""
        self.control("POST", "/faults", {"area": area, "mode": mode, **options})

    def authorize(self, tenant: str = "common", **params) -> requests.Response:
        """GET the authorize endpoint with sensible defaults for missing params."""
        defaults = {
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "response_type": "code",
            "scope": DEFAULT_SCOPE,
            "state": "state-123",
        }
        merged = {k: v for k, v in {**defaults, **params}.items() if v is not None}
        return self.get(f"/{tenant}/oauth2/v2.0/authorize", params=merged)

    def pick(self, picker_html: str, oid: str) -> requests.Response:
        """Choose an account on the picker page."""
        return self.post("/login/pick", data={"pending": pending_id(picker_html), "oid": oid})

    def decide(self, consent_html: str, decision: str) -> requests.Response:
        """Press Accept or Cancel on the consent page."""
        return self.post(
            "/login/consent", data={"pending": pending_id(consent_html), "decision": decision}
        )

    def admin_consent(self, tenant: str = "organizations", **params) -> requests.Response:
        """GET the v2.0 admin consent endpoint with sensible defaults for missing params."""
        defaults = {
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "scope": ADMIN_SCOPE,
            "state": "admin-state",
        }
        merged = {k: v for k, v in {**defaults, **params}.items() if v is not None}
        return self.get(f"/{tenant}/v2.0/adminconsent", params=merged)

    def admin_pick(self, picker_html: str, oid: str) -> requests.Response:
        """Choose an account on the admin consent picker."""
        return self.post(
            "/login/adminconsent/pick", data={"pending": pending_id(picker_html), "oid": oid}
        )

    def admin_decide(self, consent_html: str, decision: str) -> requests.Response:
        """Press Accept or Cancel on the admin's "Accept for your organization" page."""
        return self.post(
            "/login/adminconsent/consent",
            data={"pending": pending_id(consent_html), "decision": decision},
        )

    def leave_approval(self, approval_html: str) -> requests.Response:
        """Press "Return to the application without granting consent" on "Need admin approval"."""
        return self.post(
            "/login/approval", data={"pending": pending_id(approval_html), "decision": "return"}
        )

    def sign_in(self, *, oid: str = ADELE, decision: str = "accept", **params) -> SignIn:
        """Run authorize -> pick -> consent and return where the browser is sent back."""
        verifier, challenge = pkce_pair()
        nonce = params.pop("nonce", secrets.token_urlsafe(12))
        picker = self.authorize(
            nonce=nonce, code_challenge=challenge, code_challenge_method="S256", **params
        )
        assert picker.status_code == 200, picker.text
        consent = self.pick(picker.text, oid)
        assert consent.status_code == 200, consent.text
        back = self.decide(consent.text, decision)
        assert back.status_code == 302, back.text
        location = back.headers["Location"]
        return SignIn(location, query(location), verifier, nonce)

    def redeem(self, sign_in: SignIn, tenant: str = "common", **form) -> requests.Response:
        """Exchange the code of a sign-in at the token endpoint (client_secret_post)."""
        body = {
            "grant_type": "authorization_code",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "code": sign_in.params.get("code"),
            "redirect_uri": REDIRECT_URI,
            "code_verifier": sign_in.verifier,
            **form,
        }
        return self.post(f"/{tenant}/oauth2/v2.0/token", data=body)

    def tokens(self, **params) -> dict:
        """Sign in and redeem the code; returns the token response JSON."""
        response = self.redeem(self.sign_in(**params))
        assert response.status_code == 200, response.text
        return response.json()

    def refresh(self, refresh_token: str, **form) -> requests.Response:
        """Use a refresh token."""
        body = {
            "grant_type": "refresh_token",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "refresh_token": refresh_token,
            **form,
        }
        return self.post("/common/oauth2/v2.0/token", data=body)

    def me(self, access_token: str) -> requests.Response:
        """GET Graph /me with a bearer token."""
        return self.get("/v1.0/me", headers={"Authorization": f"Bearer {access_token}"})


def aadsts(response: requests.Response) -> tuple[str, int]:
    """The OAuth error and AADSTS code of a Microsoft-style JSON error."""
    body = response.json()
    code = body["error_codes"][0]
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    return body["error"], code
