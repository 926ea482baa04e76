"""Mailbox import against a raw full FETCH of the same messages: time, bytes moved, the second
sync, peak memory; on a link shaped like Exchange Online's and on loopback.

Run from the project root:
    .venv/bin/python benchmarks/bench_mail.py [--messages 10000] [--corpus outlook|small]

1. The stand-in runs as its own process with Dovecot (`--imap-port 0`, Debian's dovecot-imapd);
   the corpus is delivered into one mailbox. "outlook" (the default, the issue's corpus) is mail
   as Outlook sends it: multipart/alternative with a ~2 KB text part beside a ~12 KB HTML part,
   and every 4th message (25%) with one attachment of 50 KB, 130 KB, 330 KB, 800 KB or 2 MB in
   turn (a PDF, base64 on the wire). "small" is the importer's worst case: text and HTML only,
   no attachment, so the import moves nearly what the raw FETCH does.
2. A temporary SQLite database gets a group mailbox pointed at Dovecot, with an Outlook-audience
   token issued by the stand-in (IMAP.AccessAsUser.All), as an authorization would leave it.
3. On each link — loopback, and a WAN like the one to Exchange Online (25 MB/s down, 20 ms added
   to each client send, played by a relay in this process that also counts the bytes the server
   sends):
   - warm-up: one login, EXAMINE and size listing (Dovecot indexes the new Maildir files);
   - import: `mail_import.check_now` — BODYSTRUCTURE and header fields, then only the text and
     HTML parts, parsed and committed batch by batch; its peak RSS growth is measured on loopback;
   - second sync: must fetch 0 messages;
   - raw: imaplib, AUTHENTICATE XOAUTH2, EXAMINE, `UID FETCH a:b (UID RFC822.SIZE BODY.PEEK[])`
     over every message, 250 at a time (memory stays bounded; on the WAN that is 40 more round
     trips of 20 ms for 10,000 messages), the bytes only, nothing parsed or stored.
   Targets: import / raw ≥ 1.0 on the WAN, ≥ 0.25 on loopback; the import's bytes ≤ 0.35 of the
   raw FETCH's (counted on the WAN relay: the same commands cross both links); second sync 0.

With 10,000 "outlook" messages (about 2.3 GB in the mailbox) a run takes about 7 minutes on a
2-core VM: seeding ~1.5 min, the WAN raw FETCH ~1.5 min (2.3 GB at 25 MB/s), the rest
under a minute each. Every process and temporary file is cleaned up.
"""

import argparse
import imaplib
import resource
import socket
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import Row, report, start_standin  # noqa: E402

sys.path.insert(0, str(ROOT))

MAILBOX = "adele@contoso.example"
ADELE = "a11ce000-0000-4000-8000-00000000ade1"
HTTP_TIMEOUT = (3, 300)
WAN_TARGET, LOOPBACK_TARGET, BYTES_TARGET = 1.0, 0.25, 0.35
RAW_BATCH = 250
# Memory is bounded by batches, not by the mailbox: one batch's text parts at a time, with its
# parsed fields and SQL parameters, and what the allocator keeps of the batches before it.
RSS_BATCHES = 8

OUTLOOK_HTML_ROW = (
    '<tr><td style="padding:4px 8px;border:1px solid #d7dde4;font-family:Calibri,sans-serif;'
    'font-size:11pt;color:#1f1f1f">Region {i}</td><td style="padding:4px 8px;border:1px solid '
    '#d7dde4;text-align:right;font-family:Calibri,sans-serif;font-size:11pt">{i}4,210</td></tr>'
)
ATTACHMENT_SIZES = (50_000, 130_000, 330_000, 800_000, 2_000_000)
CORPORA = {
    # Outlook's mail: text + HTML, every 4th message with an attachment of a size in turn.
    "outlook": {"rows": 50, "every": 4, "sizes": ATTACHMENT_SIZES},
    # The importer's worst case: nothing to leave out.
    "small": {"rows": 0, "every": 0, "sizes": ()},
}


def _deliver(base: str, body: dict) -> None:
    response = requests.post(
        f"{base}/_standin/mail/mailboxes/{MAILBOX}/messages", json=body, timeout=HTTP_TIMEOUT
    )
    response.raise_for_status()


def seed(base: str, count: int, corpus: str) -> float:
    """Deliver `count` messages of the corpus; returns the seconds taken."""
    shape = CORPORA[corpus]
    started = time.perf_counter()
    html = "<html><head><style>p{margin:0}</style></head><body><p>Hello Adele,</p>"
    html += "<table>" + "".join(OUTLOOK_HTML_ROW.format(i=i) for i in range(shape["rows"]))
    template = {
        "from": "Megan Bowen <megan@contoso.example>",
        "to": MAILBOX,
        "subject": "Monthly report {n}",
        "text": "Hello Adele,\n\nthe figures are below.\n\n" + "Line of the report.\n" * 100,
        "html": html + "</table></body></html>",
    }
    attached = [
        {**template, "attachments": [{"name": f"report-{size}.pdf", "size": size}]}
        for size in shape["sizes"]
    ]
    with_file = count // shape["every"] if shape["every"] else 0
    done = 0
    for number, (size, spec) in enumerate(zip(shape["sizes"], attached, strict=True)):
        share = with_file // len(attached) + (1 if number < with_file % len(attached) else 0)
        per_request = max(1, min(500, 60_000_000 // size))  # the stand-in builds them in memory
        for start in range(0, share, per_request):
            step = min(per_request, share - start)
            _deliver(base, {"count": step, "start": done, "template": spec})
            done += step
    while done < count:
        step = min(2000, count - done)
        _deliver(base, {"count": step, "start": done, "template": template})
        done += step
    return time.perf_counter() - started


def issue_token(base: str) -> str:
    """An Outlook-audience token for IMAP, as the authorization flow would have stored."""
    response = requests.post(
        f"{base}/_standin/tokens",
        json={
            "oid": ADELE,
            "audience": "outlook",
            "scopes": ["IMAP.AccessAsUser.All"],
            "lifetime": 7200,
        },
        timeout=HTTP_TIMEOUT,
    )
    response.raise_for_status()
    return response.json()["access_token"]


def _signed_in(port: int, token: str) -> imaplib.IMAP4:
    connection = imaplib.IMAP4("127.0.0.1", port, timeout=300)
    connection.authenticate(
        "XOAUTH2", lambda _: f"user={MAILBOX}\x01auth=Bearer {token}\x01\x01".encode()
    )
    status, data = connection.select("INBOX", readonly=True)
    if status != "OK":
        raise SystemExit(f"EXAMINE INBOX failed: {data}")
    return connection


def raw_fetch(port: int, token: str, uids: int) -> tuple[float, int, int]:
    """imaplib alone: sign in, EXAMINE, fetch every message's bytes, RAW_BATCH at a time,
    keeping none. (seconds, messages, bytes of messages)"""
    started = time.perf_counter()
    connection = _signed_in(port, token)
    count = size = 0
    for first in range(1, uids + 1, RAW_BATCH):
        last = min(uids, first + RAW_BATCH - 1)
        status, data = connection.uid("FETCH", f"{first}:{last}", "(UID RFC822.SIZE BODY.PEEK[])")
        assert status == "OK", data
        literals = [entry[1] for entry in data if isinstance(entry, tuple)]
        count, size = count + len(literals), size + sum(len(m) for m in literals)
        data = literals = None  # this batch's bytes go before the next arrive
    connection.logout()
    return time.perf_counter() - started, count, size


class ShapedRelay:
    """A TCP relay in front of Dovecot: downstream bandwidth `rate` bytes/s and `delay` seconds
    added to every client→server send (None: neither, a counting relay only); it counts the
    bytes the server sends."""

    def __init__(self, target_port: int, rate: float | None, delay: float):
        self.target_port, self.rate, self.delay = target_port, rate, delay
        self.received = 0
        self._lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port), timeout=300)
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, downstream: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if downstream:
                    with self._lock:
                        self.received += len(chunk)
                    if self.rate:
                        time.sleep(len(chunk) / self.rate)
                elif self.delay:
                    time.sleep(self.delay)
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            source.close()

    def close(self) -> None:
        """Stop accepting."""
        self.listener.close()


def make_app(workdir: Path, base: str, imap_port: int, token: str):
    """The app on a fresh SQLite database (in `workdir`) with a group mailbox at that port."""
    from app import create_app
    from app.connect import tokens
    from app.connect.models import CONNECTED
    from app.extensions import db
    from app.mail import settings
    from config import TestConfig

    app = create_app(
        TestConfig,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{workdir / 'bench.db'}",
        INSTANCE_PATH=str(workdir),
        MICROSOFT_AUTHORITY=base,
        MAIL_TIMEOUT=300,
        MAIL_ALLOWED_HOSTS=f"127.0.0.1:{imap_port}",  # the stand-in's Dovecot (or its relay)
    )
    with app.app_context():
        db.create_all()
        account = settings.new_account("group")
        account.imap_host, account.imap_port, account.imap_security = "127.0.0.1", imap_port, "none"
        account.status, account.authorized_email = CONNECTED, MAILBOX
        account.import_enabled = True
        db.session.add(account)
        tokens.store(
            account,
            "mail",
            {
                "access_token": token,
                "refresh_token": "unused-in-this-benchmark",
                "expires_in": 7200,
                "scope": "https://outlook.office.com/IMAP.AccessAsUser.All",
            },
        )
        db.session.commit()
    return app


def import_run(app) -> tuple[float, object]:
    """`mail_import.check_now` on the group mailbox: (seconds, result)."""
    from app.extensions import db
    from app.mail import importing as mail_import
    from app.mail.models import MailAccount

    with app.app_context():
        account = db.session.query(MailAccount).one()
        started = time.perf_counter()
        result = mail_import.check_now(account)
        return time.perf_counter() - started, result


def count_stored(app) -> int:
    """Messages in the database."""
    from sqlalchemy import func, select

    from app.extensions import db
    from app.mail.models import MailMessage

    with app.app_context():
        return db.session.scalar(select(func.count(MailMessage.id)))


LINKS = {"loopback": None, "WAN 25 MB/s, 20 ms": (25e6, 0.020)}


def warm_up(port: int, token: str) -> None:
    """One login, EXAMINE and size listing: Dovecot indexes the new Maildir files."""
    connection = _signed_in(port, token)
    connection.uid("FETCH", "1:*", "(UID RFC822.SIZE)")
    connection.logout()


def measure(workdir: Path, base: str, port: int, token: str, relay, count: int) -> dict:
    """The import into a fresh database (its memory growth and bytes), the second sync (its
    bytes), then the raw FETCH of the same messages (its bytes)."""
    warm_up(port, token)
    workdir.mkdir()
    app = make_app(workdir, base, port, token)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start_bytes = relay.received if relay else 0
    seconds, first = import_run(app)
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    import_bytes = (relay.received if relay else 0) - start_bytes
    again, second = import_run(app)
    second_bytes = (relay.received if relay else 0) - start_bytes - import_bytes
    before_raw = relay.received if relay else 0
    raw = raw_fetch(port, token, count)
    return {
        "raw": raw,
        "raw_bytes": (relay.received if relay else 0) - before_raw,
        "seconds": seconds,
        "first": first,
        "import_bytes": import_bytes,
        "again": again,
        "second": second,
        "second_bytes": second_bytes,
        "stored": count_stored(app),
        "rss_growth": rss_peak - rss_before,
        "rss_peak": rss_peak,
        "config": app.config,
    }


def detail_rows(link: str, m: dict) -> list[tuple]:
    """The per-link detail: time, speed and bytes of each run."""
    raw_seconds, raw_count, raw_size = m["raw"]
    wire = (lambda b: f"{b / 1e6:.1f} MB on the wire") if m["raw_bytes"] else (lambda b: "")
    return [
        (
            f"{link}: raw imaplib FETCH",
            f"{raw_seconds:.2f} s",
            f"{raw_count / raw_seconds:.0f} msg/s",
            wire(m["raw_bytes"]) or f"{raw_size / 1e6:.0f} MB of messages",
        ),
        (
            f"{link}: import",
            f"{m['seconds']:.2f} s",
            f"{m['first'].imported / m['seconds']:.0f} msg/s",
            wire(m["import_bytes"]) or f"{m['first'].imported} stored",
        ),
        (
            f"{link}: second sync",
            f"{m['again']:.2f} s",
            f"{m['second'].found} fetched",
            wire(m["second_bytes"]),
        ),
    ]


def report_rows(link: str, m: dict, target: float) -> list[Row]:
    """The rows `make bench` gathers for one link: both speeds, their ratio, the second sync,
    and where the relay counted them, the bytes."""
    raw_seconds, raw_count, _raw_size = m["raw"]
    raw_rate, import_rate = raw_count / raw_seconds, m["first"].imported / m["seconds"]
    ratio = import_rate / raw_rate
    complete = m["stored"] == raw_count == m["first"].imported
    second = m["second"]
    rows = [
        Row(f"mail {link}: raw FETCH (BODY.PEEK[]), msg/s", f"{raw_rate:.0f}", "baseline"),
        Row(
            f"mail {link}: import, msg/s",
            f"{import_rate:.0f}",
            f"all {raw_count} stored",
            complete,
        ),
        Row(f"mail {link}: import / raw", f"{ratio:.2f}", f">= {target}", ratio >= target),
        Row(
            f"mail {link}: second sync, messages fetched",
            str(second.found),
            "0",
            second.found == 0 and second.imported == 0,
        ),
    ]
    if m["raw_bytes"]:
        share = m["import_bytes"] / m["raw_bytes"]
        rows.append(
            Row(
                f"mail {link}: import bytes / raw FETCH bytes",
                f"{share:.3f}",
                f"<= {BYTES_TARGET}",
                share <= BYTES_TARGET,
            )
        )
    return rows


def main() -> int:
    """Set up, measure on each link, report, clean up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--corpus", choices=sorted(CORPORA), default="outlook")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="crm-bench-mail-") as folder, ExitStack() as stack:
        workdir = Path(folder)
        base = start_standin(stack, workdir / "standin.log", "--smtp-port", "0", "--imap-port", "0")
        servers = requests.get(f"{base}/_standin/mail/servers", timeout=HTTP_TIMEOUT).json()
        if not servers["imap"]:
            raise SystemExit("Dovecot is not installed: apt-get install -y dovecot-imapd")
        seconds = seed(base, args.messages, args.corpus)
        print(f"seeded {args.messages} {args.corpus} messages in {seconds:.1f} s", flush=True)
        token = issue_token(base)
        for number, (link, shape) in enumerate(LINKS.items()):
            relay = ShapedRelay(servers["imap"]["port"], *shape) if shape else None
            port = relay.port if relay else servers["imap"]["port"]
            results[link] = measure(
                workdir / f"db{number}", base, port, token, relay, args.messages
            )
            print(f"measured {link}", flush=True)
            if relay:
                relay.close()
    details = [row for link, m in results.items() for row in detail_rows(link, m)]
    width = max(len(r[0]) for r in details) + 2
    print(f"{'':{width}}{'time':>10}{'speed':>14}{'':>22}")
    for name, *cells in details:
        print(f"{name:{width}}{cells[0]:>10}{cells[1]:>14}{cells[2]:>22}")
    print()
    loopback, wan = results["loopback"], results["WAN 25 MB/s, 20 ms"]
    config = loopback["config"]
    batch_mib = config["MAIL_FETCH_BATCH_BYTES"] / 1048576
    rows = report_rows("loopback", loopback, LOOPBACK_TARGET)
    rows += report_rows("WAN 25 MB/s, 20 ms", wan, WAN_TARGET)
    growth = loopback["rss_growth"] / 1024
    rows.append(
        Row(
            "mail loopback: peak RSS growth of the import, MiB",
            f"{growth:.0f}",
            f"<= {RSS_BATCHES} batches ({RSS_BATCHES * batch_mib:.0f})",
            growth <= RSS_BATCHES * batch_mib,
        )
    )
    rows.append(
        Row(
            "mail: peak RSS of the benchmark after the import, MiB",
            f"{loopback['rss_peak'] / 1024:.0f}",
        )
    )
    return 0 if report("mail", rows) else 1


if __name__ == "__main__":
    sys.exit(main())
