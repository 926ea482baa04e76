"""Exchange Online's IMAP, played by Debian's Dovecot: a ``checkpassword`` passdb (the XOAUTH2
mechanism hands it the bearer token as the password) asks the stand-in's introspection endpoint
whether the token is an active Outlook-audience token carrying ``IMAP.AccessAsUser.All`` whose
owner may open the mailbox named by ``user=``: their own, or a shared mailbox they have Full
Access to (see ``delegation``), with IMAP on. A refusal is answered with Exchange Online's words,
``NO [CONTACTADMIN] AUTHENTICATE failed.`` (Dovecot adds the response code). Failed sign-ins are
not delayed (no auth penalty), so tests of rejected tokens stay fast.

Dovecot runs as its own process (``dovecot -F -c CONF``) from a config written into a folder
that also holds the mailboxes (Maildir, one folder per mailbox address), all stored as one
system user (``mail`` when run as root, else the current user). Seeding writes Maildir files
directly; ``doveadm mailbox update`` changes a mailbox's UIDVALIDITY.
"""

from __future__ import annotations

import grp
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from .tls import Certificates

CONFIG = """\
base_dir = {folder}/run
state_dir = {folder}/state
instance_name = standin-imap-{port}
log_path = {folder}/dovecot.log
protocols = imap
listen = {host}
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = xoauth2 oauthbearer
auth_failure_delay = 0
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
first_valid_uid = 1
mail_location = maildir:{folder}/mail/%u/Maildir
mail_max_lock_timeout = 10 secs
service imap-login {{
  inet_listener imap {{
    address = {host}
    port = {port}
  }}
  inet_listener imaps {{
    address = {host}
    port = {ssl_port}
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
protocol imap {{
  mail_max_userip_connections = 200
}}
passdb {{
  driver = checkpassword
  mechanisms = xoauth2 oauthbearer
  args = {folder}/checkpassword.py
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={folder}/mail/%u allow_all_users=yes
}}
"""

# Run by Dovecot's auth process (as its own user, so the system's Python, standard library
# only): reads "user NUL token NUL" from fd 3, asks the stand-in, and executes the reply program
# (argv[1]) for a sign-in, with nologin and Exchange's words for a refusal the stand-in words.
CHECKPASSWORD = """\
#!{python} -IS
import json, os, sys, urllib.parse, urllib.request
with os.fdopen(3, "rb") as secrets:
    user, token = (p.decode("utf-8", "replace") for p in secrets.read(65536).split(b"\\0")[:2])
body = urllib.parse.urlencode({{"token": token, "user": user}}).encode()
try:
    with urllib.request.urlopen({introspection_url!r}, body, timeout=10) as answer:
        verdict = json.load(answer)
except (OSError, ValueError) as error:
    print(f"introspection failed: {{error}}", file=sys.stderr)
    sys.exit(111)
if verdict.get("active") is True and str(verdict.get("email", "")).lower() == user.lower():
    os.environ["USER"] = user
    os.execv(sys.argv[1], [sys.argv[1]])
if verdict.get("reason"):
    os.environ.update(USER=user, nologin="y", reason=str(verdict["reason"]))
    os.environ["EXTRA"] = "nologin reason"
    os.execv(sys.argv[1], [sys.argv[1]])
sys.exit(1)
"""


def _system_python() -> str:
    """A Python every user may run (Dovecot's auth user cannot reach a venv under /root)."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.access(candidate, os.X_OK):
            return candidate
    return sys.executable


class DovecotError(RuntimeError):
    """Dovecot could not be started or driven."""


def available() -> bool:
    """Whether Dovecot is installed (``apt-get install dovecot-imapd``)."""
    return shutil.which("dovecot") is not None and shutil.which("doveadm") is not None


class Dovecot:
    """One Dovecot instance on loopback and its Maildir mailboxes."""

    def __init__(
        self,
        folder: Path,
        host: str,
        port: int,
        introspection_url: str,
        certificates: Certificates,
        ssl_port: int,
    ) -> None:
        self.folder = folder
        self.host = host
        self.port = port
        self.ssl_port = ssl_port  # IMAPS (TLS from the first byte); `port` offers STARTTLS
        self.certificates = certificates
        self.introspection_url = introspection_url
        self.process: subprocess.Popen | None = None
        self._names = itertools.count(1)
        self._lock = threading.Lock()
        if os.geteuid() == 0:
            self.uid, self.gid = pwd.getpwnam("mail").pw_uid, grp.getgrnam("mail").gr_gid
            self.users = ("dovecot", "dovecot", "dovenull")
        else:
            self.uid, self.gid = os.getuid(), os.getgid()
            me = pwd.getpwuid(self.uid).pw_name
            self.users = (me, grp.getgrgid(self.gid).gr_name, me)

    @property
    def config_path(self) -> Path:
        """The dovecot.conf of this instance."""
        return self.folder / "dovecot.conf"

    def start(self, timeout: float = 20.0) -> None:
        """Write the config and run ``dovecot -F -c CONF`` until it greets on its port."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o755)  # Dovecot's unprivileged processes walk into it
        closed = [p for p in self.folder.parents if not p.stat().st_mode & 0o001]
        if closed and os.geteuid() == 0:
            raise DovecotError(
                f"{closed[0]} is closed to other users; Dovecot's mail user cannot reach "
                f"{self.folder}. Choose a --mail-dir under /tmp or another open folder."
            )
        (self.folder / "mail").mkdir(exist_ok=True)
        os.chown(self.folder / "mail", self.uid, self.gid)
        internal_user, internal_group, login_user = self.users
        self.config_path.write_text(
            CONFIG.format(
                folder=self.folder,
                host=self.host,
                port=self.port,
                ssl_port=self.ssl_port,
                cert=self.certificates.cert,
                key=self.certificates.key,
                uid=self.uid,
                gid=self.gid,
                internal_user=internal_user,
                internal_group=internal_group,
                login_user=login_user,
            )
        )
        checkpassword = self.folder / "checkpassword.py"
        checkpassword.write_text(
            CHECKPASSWORD.format(python=_system_python(), introspection_url=self.introspection_url)
        )
        checkpassword.chmod(0o755)
        self.process = subprocess.Popen(  # noqa: S603
            ["dovecot", "-F", "-c", str(self.config_path)],  # noqa: S607
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_for_greeting(timeout)

    def _wait_for_greeting(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise DovecotError(f"dovecot exited with {self.process.returncode}: {self.log()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=2) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise DovecotError(f"dovecot did not greet within {timeout} s: {self.log()}")

    def log(self) -> str:
        """The tail of Dovecot's log."""
        path = self.folder / "dovecot.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        """Stop Dovecot and reap it."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    # -- mailboxes ----------------------------------------------------------------------------
    def _home(self, mailbox: str) -> Path:
        return self.folder / "mail" / mailbox

    def _maildir(self, mailbox: str) -> Path:
        maildir = self._home(mailbox) / "Maildir"
        if not (maildir / "new").is_dir():
            for part in ("", "Maildir", "Maildir/cur", "Maildir/new", "Maildir/tmp"):
                path = self._home(mailbox) / part
                path.mkdir(mode=0o700, exist_ok=True)
                os.chown(path, self.uid, self.gid)
        return maildir

    def deliver(self, mailbox: str, messages: list[bytes], folder: str = "INBOX") -> int:
        """Put messages into a mailbox's INBOX (Maildir ``new/``, as a delivery agent does), or
        into another folder by its name (any characters), created when missing."""
        if folder.upper() != "INBOX":
            return self._save(mailbox, folder, messages)
        maildir = self._maildir(mailbox)
        now = int(time.time())
        with self._lock:
            for raw in messages:
                seq = next(self._names)
                name = f"{now}.M{seq:07d}P{os.getpid()}.standin,S={len(raw)},W={len(raw)}"
                temporary = maildir / "tmp" / name
                temporary.write_bytes(raw)
                os.chown(temporary, self.uid, self.gid)
                temporary.rename(maildir / "new" / name)
        return len(messages)

    def _save(self, mailbox: str, folder: str, messages: list[bytes]) -> int:
        """Messages into a named folder through doveadm, which takes the name as UTF-8 and
        stores it as Dovecot does (IMAP clients see it in modified UTF-7)."""
        self._maildir(mailbox)
        try:
            self._doveadm("mailbox", "create", "-u", mailbox, folder)
        except DovecotError as error:
            if "exists" not in str(error).lower():
                raise
        for raw in messages:
            self._doveadm("save", "-u", mailbox, "-m", folder, stdin=raw)
        return len(messages)

    def count(self, mailbox: str) -> int:
        """How many messages a mailbox's INBOX holds on disk."""
        maildir = self._home(mailbox) / "Maildir"
        return sum(
            1
            for part in ("new", "cur")
            if (maildir / part).is_dir()
            for _ in (maildir / part).iterdir()
        )

    def wipe(self, mailbox: str | None = None) -> None:
        """Delete one mailbox (or all) with its indexes; the next login starts it afresh."""
        targets = [self._home(mailbox)] if mailbox else list((self.folder / "mail").iterdir())
        for target in targets:
            shutil.rmtree(target, ignore_errors=True)

    def set_uidvalidity(self, mailbox: str, value: int) -> None:
        """Give a mailbox's INBOX a new UIDVALIDITY (its messages get new UIDs from 1)."""
        self._maildir(mailbox)
        self._doveadm("mailbox", "update", "-u", mailbox, "--uid-validity", str(value), "INBOX")

    def status(self, mailbox: str) -> dict[str, int]:
        """UIDVALIDITY, UIDNEXT and message count of a mailbox's INBOX."""
        self._maildir(mailbox)
        out = self._doveadm(
            "-f",
            "flow",
            "mailbox",
            "status",
            "-u",
            mailbox,
            "uidvalidity uidnext messages",
            "INBOX",
        )
        fields = dict(part.split("=", 1) for part in out.split() if "=" in part)
        return {key: int(value) for key, value in fields.items() if value.isdigit()}

    def _doveadm(self, *args: str, stdin: bytes = b"") -> str:
        result = subprocess.run(  # noqa: S603
            ["doveadm", "-c", str(self.config_path), *args],  # noqa: S607
            input=stdin,
            capture_output=True,
            timeout=30,
            check=False,
        )
        if result.returncode != 0:
            error = result.stderr.decode("utf-8", "replace").strip()
            raise DovecotError(f"doveadm {' '.join(args)}: {error}")
        return result.stdout.decode("utf-8", "replace")
