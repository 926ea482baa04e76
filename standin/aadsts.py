"""Catalogue of the AADSTS error texts the stand-in answers with (worded like Microsoft's), and
which OAuth error each code travels with when a test injects it by code."""

from __future__ import annotations

from dataclasses import dataclass

_MESSAGES = {
    28000: (
        "Provided value for the input parameter scope is not valid because it contains more than "
        "one resource. Scope {scope} is not valid."
    ),
    50000: "There was an error issuing a token or an issue with our sign-in service.",
    50011: (
        "The redirect URI '{redirect_uri}' specified in the request does not match the redirect "
        "URIs configured for the application '{client_id}'. Make sure the redirect URI sent in the "
        "request matches one added to your application in the Azure portal."
    ),
    50020: (
        "User account '{user}' does not exist in tenant '{tenant}' and cannot access the "
        "application in that tenant."
    ),
    50058: "A silent sign-in request was sent but no user is signed in.",
    50059: (
        "No tenant-identifying information found in either the request or implied by any "
        "provided credentials."
    ),
    50079: (
        "Due to a configuration change made by your administrator, or because you moved to a new "
        "location, you must enroll in multi-factor authentication to access '{resource}'."
    ),
    50105: (
        "Your administrator has configured the application {client_id} ('{client_id}') to block "
        "users unless they are specifically granted ('assigned') access to the application. The "
        "signed in user '{user}' is blocked because they are not a direct member of a group with "
        "access, nor had access directly assigned by an administrator. Please contact your "
        "administrator to assign access to this application."
    ),
    53003: (
        "Access has been blocked by Conditional Access policies. The access policy does not allow "
        "token issuance."
    ),
    50076: (
        "Due to a configuration change made by your administrator, or because you moved to a new "
        "location, you must use multi-factor authentication to access the application."
    ),
    50196: (
        "The server terminated an operation because it encountered a client request loop. "
        "Please contact your app vendor."
    ),
    54005: (
        "OAuth2 Authorization code was already redeemed, please retry with a new valid code or "
        "use an existing refresh token."
    ),
    65001: (
        "The user or administrator has not consented to use the application with ID "
        "'{client_id}'. Send an interactive authorization request for this user and resource."
    ),
    65004: "User declined to consent to access the app.",
    70000: "Provided grant is invalid or malformed.",
    70003: "The app requested an unsupported grant type '{grant_type}'.",
    70008: (
        "The provided authorization code or refresh token has expired due to inactivity. "
        "Send a new interactive authorization request for this user and resource."
    ),
    70011: "The provided value for the input parameter '{parameter}' is not valid.",
    90002: (
        "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are "
        "signing into the correct cloud. Check with your subscription administrator, this may "
        "happen if there are no active subscriptions for the tenant."
    ),
    90033: "A transient error has occurred. Please try again.",
    90093: (
        "This operation can only be performed by an administrator. Sign out and sign in as an "
        "administrator or contact one of your organization's administrators."
    ),
    90094: "The grant requires admin permission.",
    90095: (
        "Admin consent is required for the permissions requested by this application. An admin "
        "consent request may be sent to the admin."
    ),
    500011: (
        "The resource principal named {resource} was not found in the tenant. This can happen if "
        "the application has not been installed by the administrator of the tenant or consented "
        "to by any user in the tenant."
    ),
    500112: (
        "The reply address '{redirect_uri}' does not match the reply address '{expected}' "
        "provided when requesting Authorization code."
    ),
    501481: (
        "The Code_Verifier does not match the code_challenge supplied in the authorization request."
    ),
    501491: "Invalid size of Code_Challenge parameter.",
    530003: "Your device is required to be managed to access this resource.",
    700016: (
        "Application with identifier '{client_id}' was not found in the directory '{tenant}'. "
        "This can happen if the application has not been installed by the administrator of the "
        "tenant or consented to by any user in the tenant. You may have sent your authentication "
        "request to the wrong tenant."
    ),
    700025: (
        "Client is public so neither 'client_assertion' nor 'client_secret' should be presented."
    ),
    700054: "response_type '{response_type}' is not enabled for the application.",
    700082: (
        "The refresh token has expired due to inactivity. Send a new interactive authorization "
        "request for this user and resource."
    ),
    900023: "The client_id in the request body and in the Authorization header differ.",
    900144: "The request body must contain the following parameter: '{parameter}'.",
    1002012: (
        "The provided value for scope {scope} is not valid. Client credential flows must have a "
        "scope value with /.default suffixed to the resource identifier (application ID URI)."
    ),
    7000215: (
        "Invalid client secret provided. Ensure the secret being sent in the request is the "
        "client secret value, not the client secret ID, for a secret added to app '{client_id}'."
    ),
    7000218: (
        "The request body must contain the following parameter: 'client_assertion' or "
        "'client_secret'."
    ),
    7000222: (
        "The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal "
        "to create new keys for your app: https://aka.ms/NewClientSecret, or consider using "
        "certificate credentials for added security: https://aka.ms/certCreds."
    ),
    9002313: "Invalid request. Request is malformed or invalid.",
}


def message(code: int, **fields: object) -> str:
    """Return ``AADSTS<code>: <text>`` with the named fields filled in."""
    return f"AADSTS{code}: " + _MESSAGES[code].format(**fields)


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def fault_message(code: int, **fields: object) -> str:
    """Like :func:`message`, for a code a test chose: unknown fields are blank, unknown codes
    get a plain sentence that says the stand-in has no text for them."""
    text = _MESSAGES.get(code, "The stand-in has no text for this code (injected error).")
    return f"AADSTS{code}: " + text.format_map(_Blank(fields))


@dataclass(frozen=True)
class Answer:
    """How Microsoft sends one AADSTS code: the OAuth error at authorize (None: never there),
    at the token endpoint, the token endpoint's status and its ``suberror``."""

    authorize: str | None
    token: str
    status: int = 400
    suberror: str | None = None
    subcode: str | None = None  # error_subcode at authorize


ANSWERS = {
    65001: Answer("consent_required", "invalid_grant", suberror="consent_required"),
    65004: Answer("access_denied", "access_denied", subcode="cancel"),
    90094: Answer("access_denied", "access_denied"),
    90095: Answer("access_denied", "access_denied"),
    53003: Answer("access_denied", "invalid_grant"),
    50076: Answer("interaction_required", "invalid_grant", suberror="basic_action"),
    50079: Answer("interaction_required", "invalid_grant", suberror="basic_action"),
    50105: Answer("access_denied", "access_denied"),
    50020: Answer("access_denied", "invalid_grant"),
    530003: Answer("access_denied", "invalid_grant"),
    700016: Answer("unauthorized_client", "unauthorized_client"),
    70008: Answer(None, "invalid_grant"),
    700082: Answer(None, "invalid_grant"),
    7000215: Answer(None, "invalid_client", status=401),
    7000222: Answer(None, "invalid_client", status=401),
}
OTHER = Answer("invalid_request", "invalid_request")


def answer_for(code: int) -> Answer:
    """The error names a code travels with (``invalid_request``, 400 for codes not listed)."""
    return ANSWERS.get(code, OTHER)
