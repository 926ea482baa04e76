"""SMTP and IMAP conversations with XOAUTH2 (or a password), every step under a timeout, and
every failure put into words: refused, unknown host, timeout, TLS mismatch, rejected sign-in.

Security "none" sends credentials in the clear, so it is only allowed for a server on this
machine (loopback) — the local stand-in, or a relay the operator runs beside the CRM."""

import base64
import imaplib
import ipaddress
import smtplib
import socket
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from app.mail.models import NONE, SSL, STARTTLS
from app.microsoft import exchange


class MailError(Exception):
    """A mail server conversation failed; `message` says why in words a user understands.
    `retry_after`: seconds the server asked us to wait (a throttled mailbox), when it said."""

    def __init__(self, message: str, *, transient: bool = False, retry_after: int | None = None):
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.retry_after = retry_after


class AuthRejected(MailError):
    """The server refused the sign-in (SMTP 535, IMAP NO): the token may be stale."""

    def __init__(self, reply: str):
        super().__init__(f"The mail server refused the sign-in ({reply}).")
        self.reply = reply


@dataclass(frozen=True)
class Server:
    """Where a mail server listens and how the connection is secured (ssl/starttls/none)."""

    host: str
    port: int
    security: str
    timeout: float
    ca_file: str = ""  # extra certificate authorities to trust (PEM), beside the system's
    # The addresses checked for this host (mail_hosts.destination): the connection goes to
    # them, not to a second lookup of the name, while TLS still verifies `host`. Empty: the name.
    addresses: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """host:port, for messages."""
        return f"{self.host}:{self.port}"


def is_loopback(host: str) -> bool:
    """Whether a host name is this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def security_problem(host: str, security: str) -> str | None:
    """Why these settings may not be used (None when they may)."""
    if security not in (SSL, STARTTLS, NONE):
        return "Choose SSL, STARTTLS or None."
    if security == NONE and not is_loopback(host):
        return (
            "Security “None” would send the sign-in unencrypted; it is only allowed for a "
            "server on this machine (127.0.0.1). Choose SSL or STARTTLS."
        )
    return None


def imap_utf7(name: str) -> str:
    """A mailbox name as IMAP sends it (RFC 3501 5.1.3, modified UTF-7): printable ASCII as it
    is and "&" as "&-"; any other run of characters as "&", the modified base64 ("," for "/",
    no padding) of its UTF-16BE, and "-". "Entwürfe" is "Entw&APw-rfe"."""
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            encoded = base64.b64encode("".join(run).encode("utf-16-be")).decode("ascii")
            out.append("&" + encoded.rstrip("=").replace("/", ",") + "-")
            run.clear()

    for character in name:
        if " " <= character <= "~":
            flush()
            out.append("&-" if character == "&" else character)
        else:
            run.append(character)
    flush()
    return "".join(out)


def imap_quoted(name: str) -> str:
    """A mailbox name as an IMAP quoted string, in modified UTF-7."""
    return '"' + imap_utf7(name).replace("\\", "\\\\").replace('"', '\\"') + '"'


def xoauth2(user: str, access_token: str) -> str:
    """The SASL XOAUTH2 initial response (the caller's library base64-encodes it)."""
    return f"user={user}\x01auth=Bearer {access_token}\x01\x01"


def _tls_context(server: Server) -> ssl.SSLContext:
    """Verified TLS: the system's authorities and MAIL_CA_FILE's, the host name checked."""
    context = ssl.create_default_context()
    if server.ca_file:
        try:
            context.load_verify_locations(cafile=server.ca_file)
        except (OSError, ssl.SSLError) as error:
            raise MailError(
                f"MAIL_CA_FILE ({server.ca_file}) cannot be read as PEM certificates: "
                f"{getattr(error, 'strerror', None) or error}. Ask the operator to fix it."
            ) from error
    return context


def _refused(server: Server, error: Exception) -> str:
    return f"The mail server {server.name} refused the connection. Check the server and port."


def _unknown_host(server: Server, error: Exception) -> str:
    return f"The mail server name “{server.host}” could not be found. Check the server."


def _timed_out(server: Server, error: Exception) -> str:
    return (
        f"The mail server {server.name} did not answer within {server.timeout:g} "
        f"second{'' if server.timeout == 1 else 's'}. "
        "Check the server, port and security (a TLS port waits for TLS)."
    )


def _certificate(server: Server, error: Exception) -> str:
    reason = getattr(error, "verify_message", "") or str(error)
    return f"The certificate of {server.host} could not be verified: {reason}."


def _tls_mismatch(server: Server, error: Exception) -> str:
    reason = getattr(error, "reason", "") or str(error)
    return (
        f"TLS mismatch: {server.name} did not answer with TLS ({reason}). Check the Security "
        "setting: SSL for ports 465/993, STARTTLS for 587/143."
    )


def _disconnected(server: Server, error: Exception) -> str:
    return f"The mail server {server.name} closed the connection unexpectedly."


def _unreachable(server: Server, error: Exception) -> str:
    return f"The mail server {server.name} could not be reached ({error.strerror or error})."


def _smtp_reply(server: Server, error: Exception) -> str:
    code, text = getattr(error, "smtp_code", ""), _text(getattr(error, "smtp_error", b""))
    words = exchange.smtp_reply_words(text)
    return f"The mail server answered {code} {text}".strip() + (f" — {words}" if words else ".")


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _recipients(server: Server, error: Exception) -> str:
    refused = ", ".join(
        f"{address} ({code} {_text(reply)})"
        for address, (code, reply) in getattr(error, "recipients", {}).items()
    )
    return f"The mail server refused the recipients: {refused}."


def _imap_error(server: Server, error: Exception) -> str:
    return f"The IMAP server answered: {error}."


# Most specific first: SSL errors and timeouts are OSErrors; SMTP errors are OSErrors too.
TRANSLATIONS: list[tuple[type[BaseException], Callable[[Server, Exception], str], bool]] = [
    (ConnectionRefusedError, _refused, True),
    (socket.gaierror, _unknown_host, False),
    (TimeoutError, _timed_out, True),
    (ssl.SSLCertVerificationError, _certificate, False),
    (ssl.SSLError, _tls_mismatch, False),
    (smtplib.SMTPServerDisconnected, _disconnected, True),
    (smtplib.SMTPRecipientsRefused, _recipients, False),
    (smtplib.SMTPResponseException, _smtp_reply, False),
    (imaplib.IMAP4.abort, _disconnected, True),
    (imaplib.IMAP4.error, _imap_error, False),
    (ConnectionError, _disconnected, True),
    (OSError, _unreachable, True),
]


@contextmanager
def words_for_errors(server: Server) -> Iterator[None]:
    """Turn socket, TLS, SMTP and IMAP exceptions into a MailError with a clear message."""
    try:
        yield
    except MailError:
        raise
    except Exception as error:
        cause = _root(error)
        for kind, words, transient in TRANSLATIONS:
            if isinstance(cause, kind):
                raise MailError(words(server, cause), transient=transient) from error
        raise


def _root(error: Exception) -> Exception:
    """smtplib and imaplib wrap a read timeout ("Connection unexpectedly closed: timed out")."""
    inner = error.__cause__ or error.__context__
    if isinstance(inner, TimeoutError) or "timed out" in str(error):
        return inner if isinstance(inner, TimeoutError) else TimeoutError(str(error))
    return error


# --- SMTP ------------------------------------------------------------------------------------


def _connect(addresses: tuple[str, ...], port: int, timeout: float, source=None):
    """A TCP connection to the first of `addresses` that answers."""
    failure: OSError | None = None
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout, source)
        except OSError as error:
            failure = error
    raise failure or OSError(f"no address to connect to on port {port}")


class _SMTP(smtplib.SMTP):
    """smtplib's SMTP, connecting to the checked addresses (STARTTLS verifies the host name)."""

    def __init__(self, server: Server):
        self.addresses = server.addresses
        super().__init__(server.host, server.port, timeout=server.timeout)

    def _get_socket(self, host, port, timeout):
        return _connect(self.addresses or (host,), port, timeout, self.source_address)


class _SMTPSSL(smtplib.SMTP_SSL, _SMTP):
    """SMTP over TLS from the first byte, to the checked addresses (TLS verifies the name)."""

    def __init__(self, server: Server, context: ssl.SSLContext):
        self.addresses = server.addresses
        smtplib.SMTP_SSL.__init__(
            self, server.host, server.port, timeout=server.timeout, context=context
        )


def _smtp_open(server: Server) -> smtplib.SMTP:
    context = _tls_context(server) if server.security in (SSL, STARTTLS) else None
    if server.security == SSL:
        return _SMTPSSL(server, context)
    connection = _SMTP(server)
    try:
        connection.ehlo()
        if server.security == STARTTLS:
            if not connection.has_extn("starttls"):
                raise MailError(
                    f"TLS mismatch: {server.name} does not offer STARTTLS. Check the Security "
                    "setting (SSL for port 465)."
                )
            connection.starttls(context=context)
            connection.ehlo()
    except BaseException:
        connection.close()
        raise
    return connection


def smtp_oauth(user: str, access_token: str) -> Callable[[smtplib.SMTP], None]:
    """Sign in with AUTH XOAUTH2 (initial response; an error challenge gets an empty line)."""

    def sign_in(connection: smtplib.SMTP) -> None:
        connection.ehlo_or_helo_if_needed()
        if not connection.has_extn("auth"):
            raise MailError("The mail server does not offer sign-in (AUTH) on this connection.")
        connection.auth(
            "XOAUTH2",
            lambda challenge=None: xoauth2(user, access_token) if challenge is None else "",
        )

    return sign_in


def smtp_password(user: str, password: str) -> Callable[[smtplib.SMTP], None]:
    """Sign in with a username and password (AUTH PLAIN/LOGIN), for "Other" SMTP servers."""

    def sign_in(connection: smtplib.SMTP) -> None:
        connection.login(user, password)

    return sign_in


def smtp_send(
    server: Server,
    sign_in: Callable[[smtplib.SMTP], None],
    mail_from: str,
    recipients: list[str],
    message: bytes,
) -> None:
    """Connect, secure, sign in and send one message; raise AuthRejected or MailError."""
    with words_for_errors(server):
        connection = _smtp_open(server)
        try:
            try:
                sign_in(connection)
            except smtplib.SMTPAuthenticationError as error:
                reply = error.smtp_error.decode("utf-8", "replace")
                raise AuthRejected(f"{error.smtp_code} {reply}") from error
            except smtplib.SMTPNotSupportedError as error:
                raise MailError(
                    f"{server.name} does not offer sign-in on this connection; check the "
                    "Security setting (STARTTLS on port 587)."
                ) from error
            connection.sendmail(mail_from, recipients, message)
        finally:
            _quietly(connection.quit, connection.close)


def _quietly(first: Callable[[], object], fallback: Callable[[], object]) -> None:
    try:
        first()
    except (OSError, smtplib.SMTPException, imaplib.IMAP4.error):
        try:
            fallback()
        except OSError:
            pass


# --- IMAP ------------------------------------------------------------------------------------


class _IMAP4(imaplib.IMAP4):
    """imaplib's IMAP4, connecting to the checked addresses (STARTTLS verifies the host name)."""

    def __init__(self, server: Server):
        self.addresses = server.addresses
        super().__init__(server.host, server.port, timeout=server.timeout)

    def _create_socket(self, timeout):
        return _connect(self.addresses or (self.host,), self.port, timeout)


class _IMAP4SSL(imaplib.IMAP4_SSL):
    """IMAP over TLS from the first byte, to the checked addresses (TLS verifies the name)."""

    def __init__(self, server: Server, context: ssl.SSLContext):
        self.addresses = server.addresses
        super().__init__(server.host, server.port, ssl_context=context, timeout=server.timeout)

    def _create_socket(self, timeout):
        connection = _connect(self.addresses or (self.host,), self.port, timeout)
        return self.ssl_context.wrap_socket(connection, server_hostname=self.host)


def _imap_open(server: Server) -> imaplib.IMAP4:
    context = _tls_context(server) if server.security in (SSL, STARTTLS) else None
    if server.security == SSL:
        return _IMAP4SSL(server, context)
    connection = _IMAP4(server)
    if server.security == STARTTLS:
        try:
            if "STARTTLS" not in connection.capabilities:
                raise MailError(
                    f"TLS mismatch: {server.name} does not offer STARTTLS. Check the Security "
                    "setting (SSL for port 993)."
                )
            connection.starttls(ssl_context=context)
        except BaseException:
            connection.shutdown()
            raise
    return connection


def imap_oauth(user: str, access_token: str) -> Callable[[imaplib.IMAP4], None]:
    """Sign in with AUTHENTICATE XOAUTH2."""

    def sign_in(connection: imaplib.IMAP4) -> None:
        connection.authenticate("XOAUTH2", lambda _challenge: xoauth2(user, access_token).encode())

    return sign_in


def imap_password(user: str, password: str) -> Callable[[imaplib.IMAP4], None]:
    """Sign in with LOGIN, for "Other" IMAP servers."""

    def sign_in(connection: imaplib.IMAP4) -> None:
        connection.login(user, password)

    return sign_in


@contextmanager
def imap_session(server: Server, sign_in: Callable[[imaplib.IMAP4], None]):
    """A signed-in IMAP connection, logged out afterwards; errors become MailError."""
    with words_for_errors(server):
        connection = _imap_open(server)
        try:
            try:
                sign_in(connection)
            except imaplib.IMAP4.abort:
                raise
            except imaplib.IMAP4.error as error:
                raise AuthRejected(_imap_text(error)) from error
            yield connection
        finally:
            _quietly(connection.logout, connection.shutdown)


def _imap_text(error: Exception) -> str:
    text = str(error)
    return text[2:-1] if text.startswith("b'") else text
