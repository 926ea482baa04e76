"""Run the stand-in: ``python -m standin --port 8765 [--client ID:SECRET:REDIRECT_URI ...]
[--smtp-port N] [--imap-port N [--mail-dir DIR]]``."""

from __future__ import annotations

import argparse

from .mail_servers import MailServers
from .server import serve
from .store import DEFAULT_ACCESS_TOKEN_LIFETIME, DEFAULT_REFRESH_TOKEN_LIFETIME, STORE


def parse_client(value: str) -> tuple[str, str | None, str]:
    """Parse ``CLIENT_ID:SECRET:REDIRECT_URI`` (an empty SECRET means a public client)."""
    parts = value.split(":", 2)
    if len(parts) != 3 or not parts[0] or not parts[2]:
        raise argparse.ArgumentTypeError("expected CLIENT_ID:SECRET:REDIRECT_URI")
    return parts[0], parts[1] or None, parts[2]


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, configure the store and serve."""
    parser = argparse.ArgumentParser(prog="python -m standin", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--port", type=int, default=8765, help="0 picks a free port (printed when ready)"
    )
    parser.add_argument(
        "--client",
        type=parse_client,
        action="append",
        default=[],
        metavar="ID:SECRET:REDIRECT_URI",
        help="register a client; repeat to add clients or more redirect URIs",
    )
    parser.add_argument(
        "--access-token-lifetime",
        type=int,
        default=DEFAULT_ACCESS_TOKEN_LIFETIME,
        metavar="SECONDS",
    )
    parser.add_argument(
        "--refresh-token-lifetime",
        type=int,
        default=DEFAULT_REFRESH_TOKEN_LIFETIME,
        metavar="SECONDS",
    )
    parser.add_argument("--base-url", help="public base URL to use instead of each request's host")
    parser.add_argument(
        "--smtp-port", type=int, metavar="N", help="also serve SMTP (XOAUTH2); 0 picks a port"
    )
    parser.add_argument(
        "--imap-port", type=int, metavar="N", help="also run Dovecot for IMAP; 0 picks a port"
    )
    parser.add_argument(
        "--mail-dir", metavar="DIR", help="Dovecot's config and mailboxes (default: a temp dir)"
    )
    args = parser.parse_args(argv)
    for client_id, secret, redirect_uri in args.client:
        STORE.add_client_redirect(client_id, secret, redirect_uri)
    STORE.configure(
        access_token_lifetime=args.access_token_lifetime,
        refresh_token_lifetime=args.refresh_token_lifetime,
    )
    mail = MailServers(args.host, args.smtp_port, args.imap_port, args.mail_dir)
    try:
        serve(args.host, args.port, args.base_url, on_ready=mail.start)
    finally:
        mail.stop()


if __name__ == "__main__":
    main()
