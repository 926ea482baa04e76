"""Start and stop the stand-in's mail servers beside its HTTP server (``--smtp-port``,
``--imap-port``): aiosmtpd in a thread of this process, Dovecot as a child process."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from . import imap, tls
from .mail import SERVERS
from .smtp import free_port, start_smtp


class MailServers:
    """The optional SMTP and IMAP servers of one stand-in process."""

    def __init__(
        self, host: str, smtp_port: int | None, imap_port: int | None, mail_dir: str | None
    ) -> None:
        self.host = host
        self.smtp_port = smtp_port
        self.imap_port = imap_port
        self.mail_dir = Path(mail_dir).resolve() if mail_dir else None
        self._controller = None
        self._temporary: Path | None = None

    def _folder(self) -> Path:
        if self.mail_dir is not None:
            return self.mail_dir
        if self._temporary is None:
            self._temporary = Path(tempfile.mkdtemp(prefix="standin-mail-"))
        return self._temporary

    def start(self, http_port: int) -> None:
        """Start what was asked for; says on stderr where each listens (stdout's first line
        stays the HTTP readiness line). Both servers offer TLS with a certificate of the
        stand-in's own CA (GET /_standin/mail/servers names its file)."""
        if self.smtp_port is None and self.imap_port is None:
            return
        SERVERS.certificates = tls.issue(self._folder() / "tls")
        if self.smtp_port is not None:
            self._controller = start_smtp(self.host, self.smtp_port, SERVERS.certificates)
            SERVERS.smtp = (self.host, self._controller.port)
            print(
                f"standin smtp on {self.host}:{self._controller.port}", file=sys.stderr, flush=True
            )
        if self.imap_port is not None:
            self._start_imap(http_port)

    def _start_imap(self, http_port: int) -> None:
        if not imap.available():
            print(
                "standin imap off: Dovecot is not installed (apt-get install dovecot-imapd)",
                file=sys.stderr,
                flush=True,
            )
            return
        folder = self._folder()
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "localhost") else self.host
        dovecot = imap.Dovecot(
            folder,
            host,
            self.imap_port or free_port(host),
            f"http://{host}:{http_port}/_standin/mail/introspect",
            SERVERS.certificates,
            free_port(host),
        )
        dovecot.start()
        SERVERS.imap = dovecot
        print(
            f"standin imap on {host}:{dovecot.port}, imaps on {dovecot.ssl_port} (Dovecot, mail"
            f" in {folder})",
            file=sys.stderr,
            flush=True,
        )

    def stop(self) -> None:
        """Stop both servers and remove a temporary mail folder."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if SERVERS.imap is not None:
            SERVERS.imap.stop()
            SERVERS.imap = None
        if self._temporary is not None:
            shutil.rmtree(self._temporary, ignore_errors=True)
            self._temporary = None
