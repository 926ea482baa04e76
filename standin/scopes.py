"""Parse v2.0 ``scope`` parameters the way Microsoft does: one resource per token."""

from __future__ import annotations

from dataclasses import dataclass

from .aadsts import message
from .store import GRAPH, OUTLOOK

OIDC_SCOPES = ("openid", "profile", "email", "offline_access")
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"

_PREFIXES = (
    (GRAPH + "/", GRAPH),
    (GRAPH_APP_ID + "/", GRAPH),
    (OUTLOOK + "/", OUTLOOK),
    ("https://outlook.office365.com/", OUTLOOK),
)

_WORDS = {
    "openid": "Sign you in",
    "profile": "View your basic profile",
    "email": "View your email address",
    "offline_access": "Maintain access to data you have given it access to",
    "User.Read": "Sign you in and read your profile",
    "Files.Read": "Read your files",
    "Files.Read.All": "Read all files that you have access to",
    "Files.ReadWrite": "Have full access to your files",
    "Files.ReadWrite.All": "Have full access to all files you have access to",
    "Sites.Read.All": "Read items in all site collections",
    "Mail.Send": "Send mail as you",
    "Mail.Send.Shared": "Send mail on behalf of others",
    "Mail.ReadWrite.Shared": "Read and write user and shared mail",
    "SMTP.Send": "Send email from your mailbox using SMTP AUTH",
    ".default": "All permissions the app is already configured for",
}


class ScopeError(Exception):
    """A scope parameter Microsoft would reject: the OAuth error, AADSTS code and its fields."""

    def __init__(self, error: str, code: int, **fields: str) -> None:
        super().__init__(message(code, **fields))
        self.error = error
        self.code = code
        self.fields = fields


@dataclass(frozen=True)
class ScopeRequest:
    """A parsed scope parameter: the single resource, its short scope names, and OIDC scopes."""

    resource: str | None
    scopes: tuple[str, ...]
    oidc: tuple[str, ...]


@dataclass(frozen=True)
class AdminScopeRequest:
    """A parsed admin consent scope: ``(resource, short name)`` pairs of any resources, and OIDC."""

    grants: tuple[tuple[str, str], ...]
    oidc: tuple[str, ...]


def _group(items: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Short names per resource (request order, no repeats) and the OIDC scopes."""
    resources: dict[str, list[str]] = {}
    oidc: list[str] = []
    for item in items:
        if item.lower() in OIDC_SCOPES:
            if item.lower() not in oidc:
                oidc.append(item.lower())
            continue
        resource, name = _split(item)
        names = resources.setdefault(resource, [])
        if name not in names:
            names.append(name)
    return resources, oidc


def parse_scopes(raw: str | None) -> ScopeRequest:
    """Split a scope string into resource scopes (short names) and OIDC scopes.

    Bare names mean Microsoft Graph. Raises :class:`ScopeError` for an empty
    scope, an unknown resource, or scopes of two resources in one request.
    """
    items = (raw or "").split()
    if not items:
        raise ScopeError("invalid_request", 900144, parameter="scope")
    resources, oidc = _group(items)
    if len(resources) > 1:
        raise ScopeError("invalid_request", 28000, scope=" ".join(items))
    if not resources:
        return ScopeRequest(None, (), tuple(oidc))
    ((resource, names),) = resources.items()
    return ScopeRequest(resource, tuple(names), tuple(oidc))


def parse_admin_scopes(raw: str | None) -> AdminScopeRequest:
    """Split an admin consent scope string, which may name several resources (bare names are
    Graph's). Raises :class:`ScopeError` for an empty scope or an unknown resource."""
    items = (raw or "").split()
    if not items:
        raise ScopeError("invalid_request", 900144, parameter="scope")
    resources, oidc = _group(items)
    grants = tuple((resource, name) for resource, names in resources.items() for name in names)
    return AdminScopeRequest(grants, tuple(oidc))


def resource_of(raw: str | None) -> str:
    """The resource a sign-in's scope asks for; Graph when it names none or cannot be read."""
    try:
        return parse_scopes(raw).resource or GRAPH
    except ScopeError:
        return GRAPH


def _split(item: str) -> tuple[str, str]:
    for prefix, resource in _PREFIXES:
        if item.lower().startswith(prefix.lower()):
            name = item[len(prefix) :]
            if name:
                return resource, name
    if "/" in item or ":" in item:
        raise ScopeError("invalid_resource", 500011, resource=item.rsplit("/", 1)[0])
    return GRAPH, item


def full_scope(resource: str, name: str) -> str:
    """Return the full URI form of a resource scope."""
    return f"{resource}/{name}"


def granted_scope_string(resource: str | None, scopes, oidc) -> str:
    """The ``scope`` value of a token response: Graph short names, other resources as URIs."""
    parts = [name if resource == GRAPH else full_scope(resource, name) for name in scopes]
    parts += [s for s in OIDC_SCOPES if s in oidc and s != "offline_access"]
    return " ".join(parts)


def token_scopes(scopes, oidc) -> frozenset[str]:
    """Scopes put on an access token: resource short names plus OIDC ones but offline_access."""
    return frozenset(scopes) | {s for s in oidc if s != "offline_access"}


def describe(resource: str | None, name: str) -> str:
    """Plain words for a scope on the consent page."""
    words = _WORDS.get(name)
    if words:
        return words
    owners = {GRAPH: "Microsoft Graph", OUTLOOK: "Office 365 Exchange Online"}
    owner = owners.get(resource or "", resource or "")
    return f"Use the {name} permission of {owner}"
