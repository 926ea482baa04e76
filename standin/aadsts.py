"""Catalogue of the AADSTS error texts the stand-in answers with (worded like Microsoft's)."""

from __future__ import annotations

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
    9002313: "Invalid request. Request is malformed or invalid.",
}


def message(code: int, **fields: object) -> str:
    """Return ``AADSTS<code>: <text>`` with the named fields filled in."""
    return f"AADSTS{code}: " + _MESSAGES[code].format(**fields)
