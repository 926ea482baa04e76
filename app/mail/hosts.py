"""Where a mail account may connect: checked when its settings are saved and again right before
every connection (stored settings may predate a rule, and configuration may change).

* An Exchange Online account's token goes only to Microsoft's mail hosts of the configured
  cloud, or to hosts the operator lists in MAIL_ALLOWED_HOSTS.
* A host typed for "Other" is resolved first: a private, loopback, link-local, multicast,
  reserved or unspecified address is refused unless the operator listed the host, and the
  connection then goes to the addresses checked, not to a second lookup of the name.
* Ports are the mail ports, or a port the operator listed with its host (`host:port`)."""

import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor

from flask import current_app

from app.mail.transport import MailError
from app.microsoft import exchange

MAIL_PORTS = frozenset({25, 465, 587, 2525, 143, 993})
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# getaddrinfo has no timeout of its own: lookups run here and are waited for at most
# MAIL_TIMEOUT; a few workers bound what a resolver that hangs can hold.
_RESOLVER = ThreadPoolExecutor(max_workers=4, thread_name_prefix="mail-dns")


class HostRefused(MailError):
    """A mail account may not connect there; `field` names what to change ("host" or "port")."""

    def __init__(self, message: str, field: str = "host", *, transient: bool = False):
        super().__init__(message, transient=transient)
        self.field = field


def allowed_hosts(value: str) -> set[tuple[str, int | None]]:
    """MAIL_ALLOWED_HOSTS as (host, port) pairs: `host` allows that host on the mail ports
    (port None), `host:port` that port too; `[v6]:port` for IPv6. Unreadable entries count not."""
    allowed: set[tuple[str, int | None]] = set()
    for entry in value.lower().split(","):
        entry = entry.strip()
        if entry.startswith("["):
            host, _, rest = entry[1:].partition("]")
            port = rest.removeprefix(":")
        elif entry.count(":") == 1:
            host, _, port = entry.partition(":")
        else:  # a name, an IPv4 address or a bare IPv6 address
            host, port = entry, ""
        if host and (port.isdigit() or not port):
            allowed.add((host, int(port) if port else None))
    return allowed


def destination(host: str, port: int, *, exchange: bool, timeout: float) -> tuple[str, ...]:
    """Check that a mail account may connect to host:port and return the addresses to connect
    to (empty when the name itself is trusted: Microsoft's or listed). Raises HostRefused."""
    host = host.strip().lower()
    allowed = allowed_hosts(current_app.config.get("MAIL_ALLOWED_HOSTS") or "")
    if (host, port) in allowed:
        return ()
    if port not in MAIL_PORTS:
        raise HostRefused(
            f"Port {port} is not a mail port. Use 587, 465, 25 or 2525 for SMTP and 993 or 143 "
            f"for IMAP, or ask the operator to allow {host}:{port} in MAIL_ALLOWED_HOSTS.",
            "port",
        )
    if (host, None) in allowed:
        return ()
    if exchange:
        return _microsoft(host)
    return _public_addresses(host, port, timeout)


def _microsoft(host: str) -> tuple[str, ...]:
    hosts = exchange.exchange_mail_hosts()
    if host in hosts:
        return ()
    known = f" ({' and '.join(hosts)})" if hosts else ""
    raise HostRefused(
        f"An Exchange Online token is only sent to Microsoft's mail servers{known}. Enter "
        f"Microsoft's server, choose Email Provider “Other” for another server, or ask the "
        f"operator to allow {host} in MAIL_ALLOWED_HOSTS."
    )


def _public_addresses(host: str, port: int, timeout: float) -> tuple[str, ...]:
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in _resolve(host, port, timeout)))
    for address in addresses:
        if not is_public(address):
            raise HostRefused(
                f"{host} is a private or local address ({address}); the CRM does not connect "
                "there. Enter the mail server's public name, or ask the operator to allow "
                f"{host} in MAIL_ALLOWED_HOSTS."
            )
    return addresses


def _resolve(host: str, port: int, timeout: float) -> list:
    lookup = _RESOLVER.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        found = lookup.result(timeout=timeout)
    except TimeoutError as error:
        lookup.cancel()
        raise HostRefused(
            f"The mail server name “{host}” could not be looked up within {timeout:g} seconds. "
            "Check the server, or try again later.",
            transient=True,
        ) from error
    except (OSError, UnicodeError, ValueError) as error:  # gaierror, a name IDNA cannot encode
        raise HostRefused(
            f"The mail server name “{host}” could not be found. Check the server."
        ) from error
    if not found:
        raise HostRefused(f"The mail server name “{host}” could not be found. Check the server.")
    return found


def is_public(address: str) -> bool:
    """Whether an IP address is a public unicast one; an IPv6 address that carries an IPv4
    one (IPv4-mapped, 6to4, NAT64) is judged by that IPv4 address."""
    ip = ipaddress.ip_address(address.partition("%")[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        else:
            ip = ip.ipv4_mapped or ip.sixtofour or ip
    local = (
        ip.is_private,
        ip.is_loopback,
        ip.is_link_local,
        ip.is_multicast,
        ip.is_reserved,
        ip.is_unspecified,
    )
    return ip.is_global and not any(local)
