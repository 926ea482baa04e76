"""An IMAP proxy in front of Dovecot for load tests and benchmarks: each command a client
sends waits ``latency`` before it reaches Dovecot (one round trip to a far server, as
Exchange Online answers), and sessions are counted per mailbox (current, peak at once,
total), the mailbox learnt from AUTHENTICATE XOAUTH2's ``user=``. It is how a test proves
that no mailbox was synced twice at once.

Control (loopback only):

* ``POST /_standin/mail/proxy`` ``{"latency_ms": N}`` — start the proxy (or change its
  latency); answers ``{"host", "port", "latency_ms"}``
* ``GET /_standin/mail/proxy`` — ``{"sessions": {mailbox: total}, "peak": {mailbox: n},
  "open": n, "latency_ms"}``; ``DELETE`` forgets the counts
* ``POST /_standin/mail/mailboxes/<address>/token`` — an Outlook access token with
  IMAP.AccessAsUser.All for any mailbox address (``{"lifetime": s}``): a load test's many
  mailboxes without a sign-in each
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import threading
import uuid
from collections import Counter

from flask import Blueprint, Response, request

from . import control
from .mail import SERVERS
from .mail_store import mailbox_name
from .responses import json_response
from .store import CONTOSO_TID, OUTLOOK, STORE, Account

bp = Blueprint("imap_proxy", __name__, url_prefix="/_standin/mail")
bp.before_request(control._loopback_only)
LINE_LIMIT = 1024 * 1024


def mailbox_of(line: bytes) -> str | None:
    """The ``user=`` of an XOAUTH2 initial response line, or None for any other line."""
    try:
        decoded = base64.b64decode(line.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    if not decoded.startswith(b"user=") or b"\x01auth=" not in decoded:
        return None
    return decoded[5 : decoded.index(b"\x01")].decode("utf-8", "replace").lower()


class Proxy:
    """The proxy's listening socket, its event loop thread and its counts."""

    def __init__(self, upstream: tuple[str, int], host: str) -> None:
        self.upstream = upstream
        self.host = host
        self.port = 0
        self.latency = 0.0
        self._lock = threading.Lock()
        self.open: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.total: Counter[str] = Counter()
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        started = threading.Event()
        threading.Thread(target=self._serve, args=(started,), daemon=True).start()
        if not started.wait(10) or not self.port:
            raise RuntimeError("the IMAP proxy did not start")

    def _serve(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, self.host, 0, limit=LINE_LIMIT)
        )
        self.port = server.sockets[0].getsockname()[1]
        started.set()
        self._loop.run_forever()

    def counts(self) -> dict:
        """Sessions per mailbox, the most open at once, and how many are open now."""
        with self._lock:
            return {
                "sessions": dict(self.total),
                "peak": dict(self.peak),
                "open": self.connections,
                "latency_ms": round(self.latency * 1000),
            }

    def forget(self) -> None:
        """Start counting afresh (open sessions still count as open)."""
        with self._lock:
            self.total.clear()
            self.peak = Counter({m: n for m, n in self.open.items() if n})

    def _began(self, mailbox: str) -> None:
        with self._lock:
            self.open[mailbox] += 1
            self.total[mailbox] += 1
            self.peak[mailbox] = max(self.peak[mailbox], self.open[mailbox])

    def _ended(self, mailbox: str | None) -> None:
        with self._lock:
            self.connections -= 1
            if mailbox is not None:
                self.open[mailbox] -= 1

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._lock:
            self.connections += 1
        mailbox: list[str] = []
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream, limit=LINE_LIMIT)
        except OSError:
            writer.close()
            self._ended(None)
            return
        pumps = [
            asyncio.ensure_future(self._commands(reader, up_writer, mailbox)),
            asyncio.ensure_future(self._answers(up_reader, writer)),
        ]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            for end in (writer, up_writer):
                end.close()
            self._ended(mailbox[0] if mailbox else None)

    async def _commands(self, reader, up_writer, mailbox: list[str]) -> None:
        while line := await reader.readline():
            if self.latency:
                await asyncio.sleep(self.latency)
            if not mailbox:
                found = mailbox_of(line)
                if found:
                    mailbox.append(found)
                    self._began(found)
            up_writer.write(line)
            await up_writer.drain()

    async def _answers(self, up_reader, writer) -> None:
        while data := await up_reader.read(65536):
            writer.write(data)
            await writer.drain()


PROXY: list[Proxy] = []


@bp.post("/proxy")
def start_proxy() -> Response:
    """Start the proxy in front of Dovecot's plain port (once), and set its latency."""
    if SERVERS.imap is None:
        return json_response({"error": "IMAP is off (start with --imap-port)"}, 409)
    body = request.get_json(silent=True) or {}
    latency = body.get("latency_ms", 0)
    if isinstance(latency, bool) or not isinstance(latency, int | float) or not 0 <= latency:
        return json_response({"error": "latency_ms must be a number of at least 0"}, 400)
    if not PROXY:
        PROXY.append(Proxy((SERVERS.imap.host, SERVERS.imap.port), SERVERS.imap.host))
    PROXY[0].latency = latency / 1000
    proxy = PROXY[0]
    return json_response({"host": proxy.host, "port": proxy.port, "latency_ms": latency}, 201)


@bp.get("/proxy")
def proxy_counts() -> Response:
    """The proxy's session counts."""
    if not PROXY:
        return json_response({"error": "the proxy is not started"}, 409)
    return json_response(PROXY[0].counts())


@bp.delete("/proxy")
def forget_counts() -> Response:
    """Forget the counts."""
    if PROXY:
        PROXY[0].forget()
    return json_response({"status": "forgotten"})


@bp.post("/mailboxes/<address>/token")
def mailbox_token(address: str) -> Response:
    """An Outlook token with IMAP.AccessAsUser.All for the mailbox `address`."""
    name = mailbox_name(address)
    if name is None:
        return json_response({"error": f"not a mailbox address: {address!r}"}, 400)
    body = request.get_json(silent=True) or {}
    lifetime = body.get("lifetime")
    if lifetime is not None and (isinstance(lifetime, bool) or not isinstance(lifetime, int)):
        return json_response({"error": "lifetime must be an integer (seconds)"}, 400)
    oid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"mailbox:{name}"))
    account = Account(oid=oid, tid=CONTOSO_TID, name=name, preferred_username=name, email=name)
    token = STORE.issue_access_token(
        audience=OUTLOOK,
        scopes=frozenset({"IMAP.AccessAsUser.All", "SMTP.Send"}),
        account=account,
        client_id=str(body.get("client_id") or "standin-control"),
        lifetime=lifetime,
    )
    return json_response(
        {"access_token": token.token, "oid": oid, "tid": CONTOSO_TID, "email": name}, 201
    )
