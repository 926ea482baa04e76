"""SMTP and IMAP conversations with XOAUTH2 (or a password), every step under a timeout, and
every failure put into words: refused, unknown host, timeout, TLS mismatch, rejected sign-in.

Security "none" sends credentials in the clear, so it is only allowed for a server on this
machine (loopback) — the local stand-in, or a relay the operator runs beside the CRM."""

import imaplib
import ipaddress
import smtplib
import socket
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from imapclient import IMAPClient

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


def xoauth2(user: str, access_token: str) -> str:
    """The SASL XOAUTH2 initial response (the caller's library base64-encodes it)."""
    return f"user={user}\x01auth=Bearer {access_token}\x01\x01"


def _tls_context(server: Server) -> ssl.SSLContext:
    """Verified TLS: the system's authorities and MAIL_CA_FILE's, the host name checked."""
    context = ssl.create_default_context()
    return _trust_ca_file(context, server)


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
    words = exchange.imap_reply_words(str(error))
    return f"The IMAP server answered: {error}." + (f" {words}" if words else "")


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
                transient = transient or _passing_reply(cause)
                raise MailError(words(server, cause), transient=transient) from error
        raise


def _passing_reply(error: Exception) -> bool:
    """An SMTP 4xx reply: the server says try again later (RFC 5321 4.2.1)."""
    return isinstance(error, smtplib.SMTPResponseException) and 400 <= error.smtp_code < 500


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
                if error.smtp_code != 535 or exchange.smtp_auth_turned_off(reply):
                    raise  # a passing failure (4xx), or SMTP AUTH turned off: in words below
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


class _VerifiedAs(ssl.SSLContext):
    """A client TLS context that verifies the certificate for one host name, whatever address
    the socket was opened to: IMAPClient connects to the address it is given (here a checked
    address of the host) and asks the context to verify that address; this context verifies
    `server_name` instead, the way `_SMTP`/`_SMTPSSL` keep the name while using the address."""

    server_name = ""

    def wrap_socket(self, sock, *args, server_hostname=None, **kwargs):
        """Wrap as the standard context does, with the server name in place of the address."""
        return super().wrap_socket(sock, *args, server_hostname=self.server_name, **kwargs)


def _trust_ca_file(context: ssl.SSLContext, server: Server) -> ssl.SSLContext:
    """The context, also trusting MAIL_CA_FILE's authorities when one is set."""
    if server.ca_file:
        try:
            context.load_verify_locations(cafile=server.ca_file)
        except (OSError, ssl.SSLError) as error:
            raise MailError(
                f"MAIL_CA_FILE ({server.ca_file}) cannot be read as PEM certificates: "
                f"{getattr(error, 'strerror', None) or error}. Ask the operator to fix it."
            ) from error
    return context


def _imap_tls_context(server: Server) -> ssl.SSLContext:
    """Verified TLS for IMAP: the system's authorities and MAIL_CA_FILE's, `server.host`
    checked (as `_tls_context`, which builds the same verification for SMTP)."""
    context = _VerifiedAs(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname and CERT_REQUIRED
    context.server_name = server.host
    context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    return _trust_ca_file(context, server)


def _imap_connect(server: Server, context: ssl.SSLContext | None) -> IMAPClient:
    """IMAPClient connected to the first of the checked addresses that answers (TLS from the
    first byte for SSL); the timeout bounds the connection and every read."""
    failure: OSError | None = None
    for address in server.addresses or (server.host,):
        try:
            return IMAPClient(
                address,
                server.port,
                ssl=server.security == SSL,
                ssl_context=context,
                timeout=server.timeout,
            )
        except ssl.SSLError:
            raise
        except OSError as error:
            failure = error
    raise failure or OSError(f"no address to connect to on port {server.port}")


def _imap_open(server: Server) -> IMAPClient:
    context = _imap_tls_context(server) if server.security in (SSL, STARTTLS) else None
    connection = _imap_connect(server, context)
    if server.security == STARTTLS:
        try:
            if not connection.has_capability("STARTTLS"):
                raise MailError(
                    f"TLS mismatch: {server.name} does not offer STARTTLS. Check the Security "
                    "setting (SSL for port 993)."
                )
            connection.starttls(context)
        except BaseException:
            connection.shutdown()
            raise
    return connection


def imap_oauth(user: str, access_token: str) -> Callable[[IMAPClient], None]:
    """Sign in with AUTHENTICATE XOAUTH2 as `user` (a shared mailbox's address, or one's own)."""

    def sign_in(connection: IMAPClient) -> None:
        connection.oauth2_login(user, access_token)

    return sign_in


def imap_password(user: str, password: str) -> Callable[[IMAPClient], None]:
    """Sign in with LOGIN, for "Other" IMAP servers."""

    def sign_in(connection: IMAPClient) -> None:
        connection.login(user, password)

    return sign_in


@contextmanager
def imap_session(server: Server, sign_in: Callable[[IMAPClient], None]):
    """A signed-in IMAPClient connection, logged out afterwards; errors become MailError."""
    with words_for_errors(server):
        connection = _imap_open(server)
        try:
            try:
                sign_in(connection)
            except imaplib.IMAP4.abort:
                raise
            except imaplib.IMAP4.error as error:  # IMAPClient's LoginError is one
                raise AuthRejected(_imap_text(error)) from error
            yield connection
        finally:
            _quietly(connection.logout, connection.shutdown)


def _imap_text(error: Exception) -> str:
    text = str(error)
    return text[2:-1] if text.startswith("b'") else text
