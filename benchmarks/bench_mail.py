"""Mailbox import speed against a raw imaplib FETCH of the same messages; the second sync.

Run from the project root:
    .venv/bin/python benchmarks/bench_mail.py [--messages 10000] [--corpus typical|small]

1. The stand-in runs as its own process with Dovecot (`--imap-port 0`, Debian's dovecot-imapd);
   10,000 messages are delivered into one mailbox. "typical" is mail as Outlook sends it (a
   ~12 KB HTML part beside its text; every 4th with a 100 KB PDF); "small" is 2.5 KB messages
   (every 10th with a 4 KB attachment).
2. A temporary SQLite database gets a group mailbox pointed at Dovecot, with an Outlook-audience
   token issued by the stand-in (IMAP.AccessAsUser.All), as an authorization would leave it.
3. On each link — loopback, and a WAN like the one to Exchange Online (25 MB/s down, 20 ms added
   to each request, played by a relay in this process):
   - warm-up: one login, SELECT and size listing (Dovecot indexes the new Maildir files);
   - import: `mail_import.check_now` — batch after batch (bounded by count and bytes): fetched,
     parsed by the standard library's `email` (From, To, Cc, Subject, Date, text and HTML
     bodies, attachment names and sizes), de-duplicated, committed;
   - second sync: must fetch 0 messages (UIDVALIDITY unchanged, UIDNEXT not past the last UID);
   - raw: imaplib, AUTHENTICATE XOAUTH2, EXAMINE, one `UID FETCH 1:* (UID RFC822.SIZE
     BODY.PEEK[])` — the bytes only, nothing parsed or stored (best of two on loopback);
   - parse alone (loopback): `parse_message` over the messages the raw FETCH got, nothing
     fetched or stored (best of two).
   Target: the import at least 0.5 of the raw speed.

On loopback Dovecot hands out bytes at memory speed, so the raw FETCH costs next to nothing and
the ratio measures only the importer's own parse and SQLite write cost; on the WAN link that cost
comes on top of a transfer that takes longer. Both are printed; `--corpus small` is the importer's
worst case.

Every process and temporary file is cleaned up.
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
HTTP_TIMEOUT = (3, 120)
RATIO_TARGET = 0.5
# Memory is bounded by batches, not by the mailbox: one batch at a time, with its bytes, parsed
# fields and SQL parameters, and what the allocator keeps of the batches before it.
RSS_BATCHES = 8


OUTLOOK_HTML_ROW = (
    '<tr><td style="padding:4px 8px;border:1px solid #d7dde4;font-family:Calibri,sans-serif;'
    'font-size:11pt;color:#1f1f1f">Region {i}</td><td style="padding:4px 8px;border:1px solid '
    '#d7dde4;text-align:right;font-family:Calibri,sans-serif;font-size:11pt">{i}4,210</td></tr>'
)
CORPORA = {
    # Like mail from Outlook: a ~12 KB HTML part beside its text, every 4th with a 100 KB PDF.
    "typical": {"rows": 50, "text_lines": 40, "attachment": 100_000, "every": 4},
    # The worst case for an importer: 2.5 KB messages, nearly all per-message overhead.
    "small": {"rows": 0, "text_lines": 40, "attachment": 4096, "every": 10},
}


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
        "text": "Hello Adele,\n\nthe figures are below.\n\n" + "Line of the report.\n" * 40,
        "html": html + "</table></body></html>",
    }
    attached = {**template, "attachments": [{"name": "report.pdf", "size": shape["attachment"]}]}
    done = 0
    while done < count:
        step = min(2000, count - done)
        with_file = step // shape["every"]
        for body in (
            {"count": with_file, "start": done, "template": attached},
            {"count": step - with_file, "start": done + with_file, "template": template},
        ):
            response = requests.post(
                f"{base}/_standin/mail/mailboxes/{MAILBOX}/messages",
                json=body,
                timeout=HTTP_TIMEOUT,
            )
            response.raise_for_status()
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


def raw_fetch(port: int, token: str) -> tuple[float, list[bytes]]:
    """imaplib alone: sign in, EXAMINE, fetch every message's bytes. (seconds, the messages)"""
    started = time.perf_counter()
    connection = imaplib.IMAP4("127.0.0.1", port, timeout=120)
    connection.authenticate(
        "XOAUTH2", lambda _: f"user={MAILBOX}\x01auth=Bearer {token}\x01\x01".encode()
    )
    status, data = connection.select("INBOX", readonly=True)
    if status != "OK":
        raise SystemExit(f"EXAMINE INBOX failed: {data}")
    status, data = connection.uid("FETCH", "1:*", "(UID RFC822.SIZE BODY.PEEK[])")
    connection.logout()
    seconds = time.perf_counter() - started
    assert status == "OK"
    return seconds, [entry[1] for entry in data if isinstance(entry, tuple)]


def parse_alone(messages: list[bytes]) -> float:
    """Seconds `parse_message` takes for every message, nothing fetched or stored (best of two)."""
    from app.mail.parsing import parse_message

    best = float("inf")
    for _ in range(2):
        started = time.perf_counter()
        for raw in messages:
            parse_message(raw, len(raw))
        best = min(best, time.perf_counter() - started)
    return best


class ThrottledProxy:
    """A TCP relay in front of Dovecot that plays a WAN link to Exchange Online: downstream
    bandwidth `rate` bytes/s, and `delay` seconds added to every client→server send."""

    def __init__(self, target_port: int, rate: float, delay: float):
        self.target_port, self.rate, self.delay = target_port, rate, delay
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pump, args=(client, server, 0.0), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, 1.0), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, throttled: float) -> None:
        try:
            while chunk := source.recv(65536):
                time.sleep(len(chunk) / self.rate if throttled else self.delay)
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

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
        MAIL_TIMEOUT=120,
        MAIL_ALLOWED_HOSTS=f"127.0.0.1:{imap_port}",  # the stand-in's Dovecot (or its proxy)
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
    """One login, SELECT and size listing: Dovecot indexes the new Maildir files."""
    connection = imaplib.IMAP4("127.0.0.1", port, timeout=120)
    connection.authenticate(
        "XOAUTH2", lambda _: f"user={MAILBOX}\x01auth=Bearer {token}\x01\x01".encode()
    )
    connection.select("INBOX", readonly=True)
    connection.uid("FETCH", "1:*", "(UID RFC822.SIZE)")
    connection.logout()


def measure(workdir: Path, base: str, port: int, token: str, repeats: int, parse: bool) -> dict:
    """The import into a fresh database (its memory growth), the second sync, then the raw
    FETCH of the same messages (best of `repeats`) and, when `parse`, their parsing alone."""
    warm_up(port, token)
    workdir.mkdir()
    app = make_app(workdir, base, port, token)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    seconds, first = import_run(app)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    again, second = import_run(app)
    fetches = []
    for _ in range(repeats):
        messages = None  # the previous fetch's bytes go before the next arrive
        raw_seconds, messages = raw_fetch(port, token)
        fetches.append((raw_seconds, len(messages), sum(len(m) for m in messages)))
    return {
        "raw": min(fetches),
        "parse": (parse_alone(messages), len(messages), fetches[-1][2]) if parse else None,
        "seconds": seconds,
        "first": first,
        "again": again,
        "second": second,
        "stored": count_stored(app),
        "rss": rss,
        "config": app.config,
    }


def detail_rows(link: str, m: dict) -> list[tuple]:
    """The per-link detail: time, speed and bytes of each run."""
    raw_seconds, raw_count, raw_bytes = m["raw"]
    return [
        (
            f"{link}: raw imaplib FETCH",
            f"{raw_seconds:.2f} s",
            f"{raw_count / raw_seconds:.0f} msg/s",
            f"{raw_bytes / raw_seconds / 1e6:.1f} MB/s",
        ),
        (
            f"{link}: import",
            f"{m['seconds']:.2f} s",
            f"{m['first'].imported / m['seconds']:.0f} msg/s",
            f"{m['first'].imported} stored",
        ),
        (f"{link}: second sync", f"{m['again']:.2f} s", f"{m['second'].found} fetched", ""),
    ] + (
        [
            (
                "parse_message alone",
                f"{m['parse'][0]:.2f} s",
                f"{m['parse'][1] / m['parse'][0]:.0f} msg/s",
                f"{m['parse'][2] / m['parse'][0] / 1e6:.1f} MB/s",
            )
        ]
        if m["parse"]
        else []
    )


def report_rows(link: str, m: dict) -> list[Row]:
    """The rows `make bench` gathers for one link: both speeds, their ratio, the second sync."""
    raw_seconds, raw_count, _raw_bytes = m["raw"]
    raw_rate, import_rate = raw_count / raw_seconds, m["first"].imported / m["seconds"]
    ratio = import_rate / raw_rate
    complete = m["stored"] == raw_count == m["first"].imported
    second = m["second"]
    return [
        Row(f"mail {link}: raw imaplib FETCH, msg/s", f"{raw_rate:.0f}", "baseline"),
        Row(
            f"mail {link}: import, msg/s",
            f"{import_rate:.0f}",
            f"all {raw_count} stored",
            complete,
        ),
        Row(
            f"mail {link}: import / raw",
            f"{ratio:.2f}",
            f">= {RATIO_TARGET}",
            ratio >= RATIO_TARGET,
        ),
        Row(
            f"mail {link}: second sync, messages fetched",
            str(second.found),
            "0",
            second.found == 0 and second.imported == 0,
        ),
    ]


def main() -> int:
    """Set up, measure on each link, report, clean up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--corpus", choices=sorted(CORPORA), default="typical")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="crm-bench-mail-") as folder, ExitStack() as stack:
        workdir = Path(folder)
        base = start_standin(stack, workdir / "standin.log", "--smtp-port", "0", "--imap-port", "0")
        servers = requests.get(f"{base}/_standin/mail/servers", timeout=HTTP_TIMEOUT).json()
        if not servers["imap"]:
            raise SystemExit("Dovecot is not installed: apt-get install -y dovecot-imapd")
        seconds = seed(base, args.messages, args.corpus)
        print(f"seeded {args.messages} {args.corpus} messages in {seconds:.1f} s")
        token = issue_token(base)
        for number, (link, shape) in enumerate(LINKS.items()):
            proxy = ThrottledProxy(servers["imap"]["port"], *shape) if shape else None
            port = proxy.port if proxy else servers["imap"]["port"]
            results[link] = measure(
                workdir / f"db{number}", base, port, token, 1 if shape else 2, parse=not shape
            )
            if proxy:
                proxy.close()
    details = [row for link, m in results.items() for row in detail_rows(link, m)]
    width = max(len(r[0]) for r in details) + 2
    print(f"{'':{width}}{'time':>10}{'speed':>14}{'':>16}")
    for name, *cells in details:
        print(f"{name:{width}}{cells[0]:>10}{cells[1]:>14}{cells[2]:>16}")
    print()
    loopback = results["loopback"]
    config, rss = loopback["config"], loopback["rss"] / 1024
    batch_mib = config["MAIL_FETCH_BATCH_BYTES"] / 1048576
    rows = [row for link, m in results.items() for row in report_rows(link, m)]
    parse_seconds, parse_count, _parse_bytes = loopback["parse"]
    rows.append(Row("mail: parse_message alone, msg/s", f"{parse_count / parse_seconds:.0f}"))
    rows.append(
        Row(
            "mail loopback: peak RSS growth of the import, MiB",
            f"{rss:.0f}",
            f"<= {RSS_BATCHES} batches ({RSS_BATCHES * batch_mib:.0f})",
            rss <= RSS_BATCHES * batch_mib,
        )
    )
    return 0 if report("mail", rows) else 1


if __name__ == "__main__":
    sys.exit(main())
