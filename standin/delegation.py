"""Exchange Online's mailbox delegation, played by the stand-in: shared mailboxes (no sign-in of
their own), who has **Full Access** (opens it over IMAP with their own token, ``user=`` the
shared address) and **Send As** (sends with it as From, over SMTP or Graph
``/users/{shared}/sendMail``) on which, and IMAP turned on or off per mailbox (``Set-CASMailbox
-ImapEnabled``). The mail servers ask :data:`DELEGATION` and refuse the way Exchange Online does:
IMAP ``NO AUTHENTICATE failed.``, SMTP ``554 5.2.252 SendAsDenied``, Graph 403
``ErrorSendAsDenied``.

Control API (loopback only) under ``/_standin/mail/delegation``:

* ``GET`` — every shared mailbox with its Full Access and Send As holders, and the mailboxes
  with IMAP turned off
* ``POST /shared`` ``{"address", "name"}`` — a shared mailbox (in a tenant's domain)
* ``POST /grant`` / ``POST /revoke`` ``{"mailbox", "user", "right": "full_access"|"send_as"}``
* ``POST /imap`` ``{"mailbox", "enabled": bool}`` — IMAP on or off for any mailbox

Reset (``POST /_standin/reset``) brings back the seeded mailboxes: ``support@contoso.example``
(Adele Vance has Full Access and Send As) and ``sales@contoso.example`` (Megan Bowen has both).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from flask import Blueprint, Response, request

from .mail_store import mailbox_name
from .responses import json_response
from .store import ADELE, MEGAN, STORE

FULL_ACCESS, SEND_AS = "full_access", "send_as"
RIGHTS = (FULL_ACCESS, SEND_AS)
# Why IMAP refuses a mailbox to a token's owner (the server's answer is the same for each).
NO_FULL_ACCESS, IMAP_DISABLED, NOT_A_MAILBOX = "no_full_access", "imap_disabled", "not_a_mailbox"


@dataclass
class SharedMailbox:
    """A shared mailbox: its address, display name and who holds which right on it."""

    address: str
    name: str
    full_access: set[str] = field(default_factory=set)
    send_as: set[str] = field(default_factory=set)

    def holders(self, right: str) -> set[str]:
        """The addresses holding `right`."""
        return self.full_access if right == FULL_ACCESS else self.send_as

    def as_dict(self) -> dict:
        """JSON-ready."""
        return {
            "address": self.address,
            "name": self.name,
            "full_access": sorted(self.full_access),
            "send_as": sorted(self.send_as),
        }


def _seed() -> dict[str, SharedMailbox]:
    domain = ADELE.email.split("@", 1)[1]
    return {
        f"support@{domain}": SharedMailbox(
            f"support@{domain}", "Support", {ADELE.email}, {ADELE.email}
        ),
        f"sales@{domain}": SharedMailbox(f"sales@{domain}", "Sales", {MEGAN.email}, {MEGAN.email}),
    }


class Delegation:
    """Shared mailboxes, rights and IMAP switches, guarded by one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.shared: dict[str, SharedMailbox] = _seed()
        self.imap_off: set[str] = set()

    def reset(self) -> None:
        """Back to the seeded mailboxes, IMAP on everywhere."""
        with self._lock:
            self.shared = _seed()
            self.imap_off.clear()

    def imap_refusal(self, owner: str, mailbox: str) -> str | None:
        """Why the token of `owner` may not open `mailbox` over IMAP (None: it may)."""
        owner, mailbox = owner.lower(), mailbox.lower()
        with self._lock:
            shared = self.shared.get(mailbox)
            if mailbox != owner and (shared is None or owner not in shared.full_access):
                return NO_FULL_ACCESS if shared is not None else NOT_A_MAILBOX
            return IMAP_DISABLED if mailbox in self.imap_off else None

    def may_send_as(self, owner: str, address: str) -> bool:
        """Whether `owner` may send with `address` as From (their own, or Send As on it)."""
        owner, address = owner.lower(), address.lower()
        with self._lock:
            shared = self.shared.get(address)
            return address == owner or (shared is not None and owner in shared.send_as)

    def is_shared(self, address: str) -> bool:
        """Whether `address` is a shared mailbox."""
        with self._lock:
            return address.lower() in self.shared

    def snapshot(self) -> dict:
        """JSON-ready state."""
        with self._lock:
            return {
                "shared": [m.as_dict() for m in self.shared.values()],
                "imap_disabled": sorted(self.imap_off),
            }


DELEGATION = Delegation()
STORE.on_reset(DELEGATION.reset)

bp = Blueprint("mail_delegation", __name__, url_prefix="/_standin/mail/delegation")


@bp.before_request
def _loopback_only():
    from .control import _loopback_only as check

    return check()


def _fields(*names: str) -> tuple[dict, Response | None]:
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    missing = [n for n in names if not isinstance(body.get(n), str) or not body.get(n)]
    if missing:
        return body, json_response({"error": f"need {', '.join(missing)}"}, 400)
    return body, None


@bp.get("")
def state() -> Response:
    """Every shared mailbox with its rights, and where IMAP is off."""
    return json_response(DELEGATION.snapshot())


@bp.post("/shared")
def add_shared() -> Response:
    """Add a shared mailbox ``{"address", "name"}`` (nobody holds a right on it yet)."""
    body, failed = _fields("address")
    if failed is not None:
        return failed
    address = mailbox_name(body["address"])
    if address is None:
        return json_response({"error": f"not a mailbox address: {body['address']!r}"}, 400)
    if any(a.email.lower() == address for a in STORE.accounts.values()):
        return json_response({"error": f"{address} is a person's mailbox"}, 409)
    with DELEGATION._lock:
        mailbox = DELEGATION.shared.setdefault(
            address, SharedMailbox(address, str(body.get("name") or address))
        )
        return json_response(mailbox.as_dict(), 201)


def _change_right(grant: bool) -> Response:
    body, failed = _fields("mailbox", "user", "right")
    if failed is not None:
        return failed
    if body["right"] not in RIGHTS:
        return json_response({"error": f"right must be one of {', '.join(RIGHTS)}"}, 400)
    user = body["user"].strip().lower()
    if not any(a.email.lower() == user for a in STORE.accounts.values()):
        return json_response({"error": f"no such person: {user}"}, 404)
    with DELEGATION._lock:
        mailbox = DELEGATION.shared.get(body["mailbox"].strip().lower())
        if mailbox is None:
            return json_response({"error": f"no shared mailbox {body['mailbox']}"}, 404)
        holders = mailbox.holders(body["right"])
        holders.add(user) if grant else holders.discard(user)
        return json_response(mailbox.as_dict())


@bp.post("/grant")
def grant() -> Response:
    """Give a person Full Access or Send As on a shared mailbox."""
    return _change_right(True)


@bp.post("/revoke")
def revoke() -> Response:
    """Take Full Access or Send As away (effective at the next sign-in or send)."""
    return _change_right(False)


@bp.post("/imap")
def imap_switch() -> Response:
    """Turn IMAP on or off for a mailbox ``{"mailbox", "enabled"}``."""
    body, failed = _fields("mailbox")
    if failed is not None:
        return failed
    address = mailbox_name(body["mailbox"])
    if address is None or not isinstance(body.get("enabled"), bool):
        return json_response({"error": "need a mailbox address and enabled true or false"}, 400)
    with DELEGATION._lock:
        (DELEGATION.imap_off.discard if body["enabled"] else DELEGATION.imap_off.add)(address)
    return json_response({"mailbox": address, "imap_enabled": body["enabled"]})
