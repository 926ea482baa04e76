"""Microsoft's identity platform (Entra ID, v2.0) as a provider: the OpenID Connect client of
`app.connect.oidc` with Microsoft's tenants, its issuer template, the scopes of each purpose,
the account picker, and the meaning of AADSTS error codes."""

import re
from dataclasses import dataclass
from urllib.parse import urlencode

from flask import current_app

from app.connect.oidc import Discovery, OpenIDProvider
from app.connect.provider import Client, ProviderError, SignInRefused
from app.microsoft import graph

NAME = "microsoft"
LABEL = "Microsoft"
TENANTS_WITHOUT_ID = ("common", "organizations", "consumers")
GRAPH_DEFAULT_SCOPE = "https://graph.microsoft.com/.default"
# What the Cloud Drive's Sites view needs beyond OneDrive's own scopes; an account connected
# before it was asked for keeps its OneDrive, and Sites offers Reauthenticate.
SITES_SCOPE = "Sites.Read.All"
# Graph sendMail (and drafts) of /users/{shared}: a shared mailbox the signed-in person has
# Send As (and Full Access) on.
SHARED_MAIL_SCOPES = ("Mail.Send.Shared", "Mail.ReadWrite.Shared")

CONNECTOR_PAGE = "Admin > Connectors > Microsoft"


@dataclass(frozen=True)
class Advice:
    """What an AADSTS answer means for the person in front of the screen: what happened and who
    can fix it; `admin` is for a CRM administrator when they can do more than a user."""

    user: str
    admin: str = ""


NEEDS_ADMIN_APPROVAL = Advice(
    "Your organization requires an administrator to approve this CRM before you can connect "
    "your Microsoft account. Ask your CRM administrator to grant admin consent, then connect "
    "again.",
    "Your organization requires an administrator to approve this CRM's permissions. Use "
    f"“Grant admin consent for your organization” on {CONNECTOR_PAGE}, then connect again.",
)
SECRET_REFUSED = Advice(
    "The CRM's connection to Microsoft is misconfigured: Microsoft refused its client secret. "
    "Your administrator has been alerted; please try again later.",
    "Microsoft refused the client secret (invalid or expired). Create a new client secret in "
    "the Azure portal (App registrations > your app > Certificates & secrets) and enter it, "
    f"with its expiry date, on {CONNECTOR_PAGE}.",
)
MFA_REQUIRED = Advice(
    "Your organization requires multi-factor authentication for this sign-in. Connect again "
    "and complete the verification; if you have no verification method yet, set one up at "
    "https://aka.ms/mfasetup first."
)
ADVICE = {
    90094: NEEDS_ADMIN_APPROVAL,
    90095: NEEDS_ADMIN_APPROVAL,
    65004: Advice(
        "You declined the permissions the CRM asked for, so nothing was connected. Connect "
        "again and select Accept to use this connection."
    ),
    53003: Advice(
        "Your organization's Conditional Access policies blocked this sign-in (for example "
        "because of where you are, or the device or app you use). Ask your IT administrator; "
        "the Entra sign-in logs say which policy applied.",
        "Your organization's Conditional Access policies blocked this sign-in. The Entra admin "
        "center's sign-in logs say which policy applied; allow this CRM's app there if it "
        "should work.",
    ),
    50076: MFA_REQUIRED,
    50079: MFA_REQUIRED,
    50105: Advice(
        "Your Microsoft account is not assigned to this CRM's app in your organization. Ask "
        "your IT administrator to assign you to it.",
        "This Microsoft account is not assigned to the CRM's app. Assign the user (or a group "
        "of theirs) in the Entra admin center: Enterprise applications > your app > Users and "
        "groups.",
    ),
    700016: Advice(
        "Microsoft does not know this CRM's app in your organization. Ask your CRM "
        "administrator to check the Microsoft connector.",
        "Microsoft does not know the Client ID in that tenant. Check the Client ID and the "
        f"tenant on {CONNECTOR_PAGE}, and that the app registration was not deleted.",
    ),
    7000215: SECRET_REFUSED,
    7000222: SECRET_REFUSED,
    70002: SECRET_REFUSED,
    50020: Advice(
        "That Microsoft account belongs to another organization than the one this CRM works "
        "with. Connect again and pick your work account.",
        "That Microsoft account belongs to another tenant than the connector's. Pick an "
        f"account of your organization, or make the app multi-tenant on {CONNECTOR_PAGE} and "
        "in Azure if other organizations should connect.",
    ),
    530003: Advice(
        "Your organization lets only managed devices use this app. Connect from a device your "
        "organization manages, or ask your IT administrator."
    ),
    50011: Advice(
        "Microsoft refused the CRM's redirect address. Ask your CRM administrator to check the "
        "Microsoft connector.",
        "The redirect URI registered in Azure does not match this CRM's: register exactly the "
        f"Redirect URI shown on {CONNECTOR_PAGE}.",
    ),
    54005: Advice("This sign-in was already used. Please connect again."),
    65001: Advice("Consent was not granted for this app. Please connect again and accept."),
    90002: Advice("Microsoft does not know that tenant."),
}
SECRET_CODES = {7000215, 7000222, 70002}
ADMIN_APPROVAL_CODES = {90094, 90095}
AADSTS_CODE = re.compile(r"AADSTS(\d+)")
SCOPE_WORDS = {
    "openid": "Sign you in",
    "profile": "Read your name",
    "email": "Read your email address",
    "offline_access": "Keep access while you are away (refresh)",
    "User.Read": "Read your profile",
    "Files.ReadWrite.All": "Read and write all files you can access in OneDrive",
    "Files.Read.All": "Read all files you can access in OneDrive",
    "Sites.Read.All": "Read items in all site collections",
    "Mail.Send": "Send mail as you (Microsoft Graph)",
    "Mail.Send.Shared": "Send mail as a shared mailbox you may send as (Microsoft Graph)",
    "Mail.ReadWrite.Shared": "Read and write mail of mailboxes shared with you (Microsoft Graph)",
    "Mail.ReadWrite": "Read and write your mail, to send large attachments (Microsoft Graph)",
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
            # Sites.Read.All: the Cloud Drive's Sites (SharePoint sites and their libraries).
            "onedrive": ("User.Read", "Files.ReadWrite.All", SITES_SCOPE),
            "mail": (f"{outlook}/SMTP.Send", f"{outlook}/IMAP.AccessAsUser.All"),
            # Mail.ReadWrite: attachments of 3 MB or more go through a draft and upload sessions.
            "graph_mail": ("User.Read", "Mail.Send", "Mail.ReadWrite"),
        }
        # Sending as a shared mailbox (/users/{shared}/...): the same, on mailboxes shared with
        # the signed-in person. Asked only of an account that has a shared address.
        own["graph_mail_shared"] = (*own["graph_mail"], *SHARED_MAIL_SCOPES)
        return ("openid", "profile", "email", "offline_access") + own[purpose]

    def purposes(self) -> tuple[str, ...]:
        """What the CRM asks Microsoft for: OneDrive, mail over SMTP/IMAP, mail through Graph
        (as oneself, or as a shared mailbox)."""
        return ("onedrive", "mail", "graph_mail", "graph_mail_shared")

    def scope_words(self, scopes: str) -> list[str]:
        """Granted scopes in plain words, for the account page."""
        return [SCOPE_WORDS.get(s.rsplit("/", 1)[-1], s.rsplit("/", 1)[-1]) for s in scopes.split()]

    def admin_consent_url(self, client: Client, *, redirect_uri: str, state: str) -> str:
        """Microsoft's admin-consent endpoint, `{authority}/{tenant}/v2.0/adminconsent`, for
        every permission of every purpose (Graph's by their short names, Outlook's in full)."""
        authority = current_app.config["MICROSOFT_AUTHORITY"]
        scopes = dict.fromkeys(s for p in self.purposes() for s in self.scopes(p))
        query = urlencode(
            {
                "client_id": client.client_id,
                "scope": " ".join(scopes),
                "redirect_uri": redirect_uri,
                "state": state,
            }
        )
        return f"{authority}/{client.tenant}/v2.0/adminconsent?{query}"

    def admin_consent_result(self, params: dict) -> str:
        """`admin_consent=True` with the tenant, or the error in words (for an admin)."""
        if params.get("error"):
            error, description = params["error"], params.get("error_description", "")
            codes = _codes_in(description)
            if _cancelled(params, codes):
                raise SignInRefused(
                    "You cancelled the admin consent; nothing changed.", error=error
                )
            advice = advice_for(codes)
            raise SignInRefused(
                (advice.admin or advice.user)
                if advice
                else f"Microsoft did not grant the consent: {_first_line(description) or error}",
                error=error,
                codes=codes,
            )
        if str(params.get("admin_consent", "")).lower() != "true":
            raise SignInRefused("Microsoft did not say that the consent was granted.")
        return str(params.get("tenant", ""))

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
        """AADSTS codes in words. Any invalid_grant is a dead grant, whatever its code (expired,
        revoked, password changed, Conditional Access, user disabled...): the refresh token will
        not work again and only an interactive sign-in helps, which is how MSAL reads it too.
        Microsoft says not to depend on the codes; they only choose the words."""
        codes = tuple(int(c) for c in body.get("error_codes", []) if str(c).isdigit())
        codes = codes or _codes_in(description)
        advice = advice_for(codes)
        dead = error in {"invalid_grant", "interaction_required", "consent_required"}
        return ProviderError(
            advice.user if advice else _first_line(description) or error,
            error=error,
            codes=codes,
            transient=error in {"temporarily_unavailable", "server_error"},
            dead_grant=dead,
            admin_message=advice.admin if advice else "",
            secret_refused=bool(SECRET_CODES & set(codes)),
        )

    def authorize_error(self, params: dict) -> SignInRefused:
        """What to tell the person when Microsoft sent `error=` to the redirect URI: the AADSTS
        code in words; a plain cancel (`error_subcode=cancel`, or access_denied with no code
        that says more) stays "You cancelled"."""
        error, description = params.get("error", ""), params.get("error_description", "")
        codes = _codes_in(description)
        if _cancelled(params, codes):
            return SignInRefused("You cancelled the connection to Microsoft.", error=error)
        advice = advice_for(codes)
        if advice is None:
            reason = _first_line(description) or error
            return SignInRefused(
                f"Microsoft could not complete the sign-in: {reason}", error=error, codes=codes
            )
        return SignInRefused(
            advice.user,
            error=error,
            codes=codes,
            admin_message=advice.admin,
            secret_refused=bool(SECRET_CODES & set(codes)),
        )

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


def advice_for(codes: tuple[int, ...]) -> Advice | None:
    """The advice for the first AADSTS code that has one."""
    return next((ADVICE[code] for code in codes if code in ADVICE), None)


def _cancelled(params: dict, codes: tuple[int, ...]) -> bool:
    """The person cancelled (Microsoft's `error_subcode=cancel`, or access_denied with no code
    that says more); at a "Need admin approval" page that is still a need for approval."""
    cancelled = params.get("error_subcode") == "cancel" or (
        params.get("error") == "access_denied" and not codes
    )
    return cancelled and not ADMIN_APPROVAL_CODES & set(codes)


def _codes_in(description: str) -> tuple[int, ...]:
    """The AADSTS codes an error description names ("AADSTS90094: ...")."""
    return tuple(int(code) for code in AADSTS_CODE.findall(description or ""))


def _first_line(description: str) -> str:
    """An AADSTS description without its trace and correlation ids."""
    return description.split("\r\n")[0].split(" Trace ID")[0].strip()
