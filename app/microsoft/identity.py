"""Microsoft's identity platform (Entra ID, v2.0) as a provider: the OpenID Connect client of
`app.connect.oidc` with Microsoft's tenants, its issuer template, the scopes of each purpose,
the account picker, and the meaning of AADSTS error codes."""

from flask import current_app

from app.connect.oidc import Discovery, OpenIDProvider
from app.connect.provider import Client, ProviderError, SignInRefused
from app.microsoft import graph

NAME = "microsoft"
LABEL = "Microsoft"
TENANTS_WITHOUT_ID = ("common", "organizations", "consumers")
GRAPH_DEFAULT_SCOPE = "https://graph.microsoft.com/.default"

# invalid_grant with these AADSTS codes means the grant is dead: reconnect.
DEAD_GRANT_CODES = {50173, 65001, 70000, 70008, 70043, 700082, 700084, 50076, 50079}
CODE_MESSAGES = {
    50011: "The redirect URI registered in Azure does not match this CRM's redirect URI.",
    54005: "This sign-in was already used. Please connect again.",
    65001: "Consent was not granted for this app. Please connect again and accept.",
    70002: "Microsoft rejected the client secret. Ask your administrator to check Admin > "
    "Connectors.",
    7000215: "Microsoft rejected the client secret. Ask your administrator to check Admin > "
    "Connectors.",
    700016: "Microsoft does not know this client ID in that tenant. Ask your administrator to "
    "check Admin > Connectors.",
    90002: "Microsoft does not know that tenant.",
}
SCOPE_WORDS = {
    "openid": "Sign you in",
    "profile": "Read your name",
    "email": "Read your email address",
    "offline_access": "Keep access while you are away (refresh)",
    "User.Read": "Read your profile",
    "Files.ReadWrite.All": "Read and write all files you can access in OneDrive",
    "Files.Read.All": "Read all files you can access in OneDrive",
    "Mail.Send": "Send mail as you (Microsoft Graph)",
    "SMTP.Send": "Send mail as you (SMTP)",
    "IMAP.AccessAsUser.All": "Read your mailbox (IMAP)",
}


class MicrosoftProvider(OpenIDProvider):
    """Microsoft's identity platform: one token per resource, so one purpose per resource —
    OneDrive and Graph sendMail on Graph, SMTP and IMAP on the Outlook resource."""

    authorize_params = {"response_mode": "query", "prompt": "select_account"}

    def __init__(self) -> None:
        super().__init__(NAME, LABEL, issuer="", purposes={})

    def scopes(self, purpose: str) -> tuple[str, ...]:
        """Scopes per purpose; mail scopes live on the Outlook resource, the others on Graph."""
        outlook = current_app.config["MICROSOFT_OUTLOOK_RESOURCE"]
        own = {
            "onedrive": ("User.Read", "Files.ReadWrite.All"),
            "mail": (f"{outlook}/SMTP.Send", f"{outlook}/IMAP.AccessAsUser.All"),
            "graph_mail": ("User.Read", "Mail.Send"),
        }
        return ("openid", "profile", "email", "offline_access") + own[purpose]

    def scope_words(self, scopes: str) -> list[str]:
        """Granted scopes in plain words, for the account page."""
        return [SCOPE_WORDS.get(s.rsplit("/", 1)[-1], s.rsplit("/", 1)[-1]) for s in scopes.split()]

    def discovery_url(self, client: Client) -> str:
        """`{authority}/{tenant}/v2.0/.well-known/openid-configuration`."""
        authority = current_app.config["MICROSOFT_AUTHORITY"]
        return f"{authority}/{client.tenant}/v2.0/.well-known/openid-configuration"

    def discover(self, client: Client) -> Discovery:
        """The tenant's endpoints; an unknown tenant is said in words."""
        try:
            return super().discover(client)
        except ProviderError as error:
            if 90002 in error.codes or error.error == "invalid_tenant":
                raise ProviderError(
                    f"Microsoft does not know the tenant “{client.tenant}”.",
                    error=error.error,
                    codes=error.codes,
                    status=400,
                ) from error
            raise

    def issuer_claim_option(self, discovery: Discovery) -> dict:
        """On common/organizations/consumers the issuer is the template
        `https://login.microsoftonline.com/{tenantid}/v2.0`, filled with the token's own `tid`."""
        template = discovery.issuer

        def matches(claims, iss) -> bool:
            return iss == template.replace("{tenantid}", str(claims.get("tid", "")))

        return {"essential": True, "validate": matches}

    def issuer_matches(self, discovery: Discovery, iss: str) -> bool:
        """RFC 9207's `iss` parameter against the issuer or its `{tenantid}` template."""
        template = discovery.issuer
        if "{tenantid}" not in template:
            return iss == template
        prefix, suffix = template.split("{tenantid}", 1)
        middle = iss[len(prefix) : len(iss) - len(suffix)] if iss.startswith(prefix) else ""
        return bool(middle) and iss.endswith(suffix) and "/" not in middle

    def identity(self, client: Client, claims: dict) -> tuple[str, str]:
        """(tid, oid): who signed in, in which tenant; a single-tenant app refuses others."""
        tid, oid = str(claims.get("tid", "")), str(claims.get("oid", ""))
        if not tid or not oid:
            raise SignInRefused(
                "Microsoft's sign-in token does not name the account (tid/oid). Nothing was stored."
            )
        if is_guid(client.tenant) and tid != client.tenant.lower():
            raise SignInRefused(
                "That account belongs to another Microsoft tenant than the one this CRM is "
                "configured for. Nothing was stored."
            )
        return tid, oid

    def describe(self, error: str, description: str, body: dict) -> ProviderError:
        """AADSTS codes in words; invalid_grant is a dead grant only with the codes that say so."""
        codes = tuple(int(c) for c in body.get("error_codes", []) if str(c).isdigit())
        known = next((CODE_MESSAGES[c] for c in codes if c in CODE_MESSAGES), None)
        dead = error in {"invalid_grant", "interaction_required", "consent_required"} and (
            error != "invalid_grant" or not codes or bool(DEAD_GRANT_CODES & set(codes))
        )
        return ProviderError(
            known or _first_line(description) or error,
            error=error,
            codes=codes,
            transient=error in {"temporarily_unavailable", "server_error"},
            dead_grant=dead,
        )

    def authorize_error(self, error: str, description: str) -> str:
        """What to tell the user when Microsoft sent `error=` to the callback."""
        if error == "access_denied":
            return "You cancelled the connection to Microsoft."
        return f"Microsoft could not complete the sign-in: {_first_line(description) or error}"

    def test_connection(self, client: Client) -> str:
        """In a concrete tenant an app-only Graph token proves the client ID and secret; on
        `common` (no home tenant to ask) a dummy code, refused with invalid_grant only once
        Microsoft accepted the client."""
        discovery = self.discover(client)
        if client.tenant in TENANTS_WITHOUT_ID:
            super().test_connection(client)
        else:
            self._token_request(
                client,
                discovery,
                grant_type="client_credentials",
                scope=GRAPH_DEFAULT_SCOPE,
            )
        return (
            f"Connection works: Microsoft answered for the tenant “{client.tenant}” and accepted "
            "the client ID and secret."
        )

    def whoami(self, purpose: str, access_token: str) -> str:
        """Who a Graph token belongs to, from Graph `/me`."""
        me = graph.me(access_token)
        return (
            f"The connection works: signed in as {me.get('displayName', '')} "
            f"({me.get('userPrincipalName') or me.get('mail') or ''})."
        )


def is_guid(value: str) -> bool:
    """Whether a tenant is a tenant id (a GUID) rather than a name or a domain."""
    return [len(part) for part in value.split("-")] == [8, 4, 4, 4, 12]


def _first_line(description: str) -> str:
    """An AADSTS description without its trace and correlation ids."""
    return description.split("\r\n")[0].split(" Trace ID")[0].strip()
