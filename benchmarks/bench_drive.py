"""Cloud Drive: the cost of a listing page over Graph itself, and server memory during big
transfers.

Run from the project root:  .venv/bin/python benchmarks/bench_drive.py [-n 150]

1. The Microsoft stand-in runs as its own process (`python -m standin --port 0`); a temporary
   SQLite database is migrated, the Microsoft connector configured (`flask connector set`), the
   app registered at the stand-in, and gunicorn (2 sync workers) serves the app. A user signs
   in and connects Adele's Microsoft account through the real connect flow, over HTTP.
2. A folder of 10,000 files is seeded through the stand-in's control API, and as many files
   in the Documents library of the SharePoint site "Sales and Marketing".
3. First pages, each as the dashlet asks for it: that folder (GET /drive/api/children), a
   search of the whole drive (GET /drive/api/search) and that library opened from its site
   (GET /drive/api/children?view=sites&site=...&drive=...: Graph's /drives/{id}/root/children).
   Each must cost exactly one Graph call (stand-in stats, by operation) and show as many rows
   as Graph's page has. Then N timed rounds after a few untimed ones; each round runs, in a
   new random order: the app's page, a raw `requests.get` of the very Graph URL the app
   fetches (same `$select`, `$expand`, `$top`, `$orderby`, with a Graph token) and the same
   page through passthrough_app.py (a bare Flask app on the same gunicorn that only forwards
   Graph's bytes: the floor of any app in this stack, measured in the same run); every call on
   a new connection, as `requests.get` makes it. Targets: on loopback app / pass-through
   <= 1.2; with every Graph call made 100 ms slower (a stand-in fault, closer to the real
   Graph's answer times) app / raw <= 1.1. The median of the per-round ratios is printed as a
   cross-check on a noisy machine, and two bare round trips for scale.
4. A 200 MiB file is uploaded through the app in 10 MiB parts and downloaded back through it,
   while the RSS of every gunicorn worker is sampled every 20 ms: the peak over the baseline
   (after a warm-up transfer) must stay small (target <= 32 MiB) in each direction, i.e.
   nothing is buffered whole. The downloaded bytes must hash like the uploaded ones.

Ends with `report("drive", rows)` (benchmarks/_common.py), so `make bench` gathers the figures.
Every process and temporary file is cleaned up; every HTTP call has a timeout.
"""

import argparse
import hashlib
import os
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import Row, app_env, free_port, report, start_gunicorn, start_standin  # noqa: E402
from bench_connect import WORKERS, configure_app  # noqa: E402

ADELE = "a11ce000-0000-4000-8000-00000000ade1"
APP_CLIENT = ("55555555-6666-4777-8888-999999999999", "bench-drive-client-secret")
USERNAME, PASSWORD = "bench-drive", "bench-drive-password"
FOLDER_ITEMS = 10_000
BIG_FILE = 200 * 1024 * 1024
PART = 10 * 1024 * 1024
TIMEOUT = (3, 30)
TRANSFER_TIMEOUT = (3, 120)
FLOOR_TARGET = 1.2  # the app's page against the bare pass-through, on loopback
SLOW_TARGET = 1.1  # the app's page against a raw Graph request, Graph answering 100 ms slower
WARM_UP_ROUNDS = 5
GRAPH_LATENCY = 0.1  # seconds: a typical answer time of the real Graph for a children page
RSS_TARGET_MIB = 32
MIB = 1024 * 1024


# --- setup -------------------------------------------------------------------------------------


def create_user(env: dict) -> None:
    """The benchmark's user, through the users service."""
    from app import create_app
    from app.extensions import db
    from app.users import directory as users
    from config import Config

    app = create_app(
        Config,
        APP_ENV=env["APP_ENV"],
        SQLALCHEMY_DATABASE_URI=env["DATABASE_URL"],
        SECRET_KEY=env["SECRET_KEY"],
        TOKEN_ENCRYPTION_KEYS=env["TOKEN_ENCRYPTION_KEYS"],
        INSTANCE_PATH=env["INSTANCE_PATH"],
        PUBLIC_BASE_URL=env["PUBLIC_BASE_URL"],
    )
    with app.app_context():
        users.create_user(None, USERNAME, f"{USERNAME}@crm.example", PASSWORD)
        db.session.commit()
        db.engine.dispose()


def form_token(html: str) -> str:
    """The CSRF token of a rendered form."""
    found = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html)
    if not found:
        raise SystemExit("no CSRF token in the page")
    return found.group(1)


def connect(base: str) -> requests.Session:
    """Sign in and connect Adele's account as the pop-up would; returns the signed-in session."""
    session = requests.Session()
    login = session.get(f"{base}/login", timeout=TIMEOUT).text
    session.post(
        f"{base}/login",
        timeout=TIMEOUT,
        data={"username": USERNAME, "password": PASSWORD, "csrf_token": form_token(login)},
    )
    form = session.get(f"{base}/profile/external-accounts/new", timeout=TIMEOUT).text
    started = session.post(
        f"{base}/profile/external-accounts/new",
        timeout=TIMEOUT,
        headers={"Accept": "application/json"},
        data={"application": "microsoft", "mode": "popup", "csrf_token": form_token(form)},
    ).json()
    go = session.get(f"{base}{started['go_url']}", timeout=TIMEOUT, allow_redirects=False)
    callback = sign_in_at_standin(go.headers["Location"])
    if session.get(callback, timeout=TIMEOUT).status_code != 200:
        raise SystemExit("connecting the Microsoft account failed")
    return session


def sign_in_at_standin(authorize_url: str) -> str:
    """Pick Adele and Accept at the stand-in; returns the redirect back to the app."""
    picker = requests.get(authorize_url, timeout=TIMEOUT)
    base = authorize_url.split("/", 3)[:3]
    origin = "/".join(base)
    pending = re.search(r'name="pending" value="([^"]+)"', picker.text).group(1)
    consent = requests.post(
        f"{origin}/login/pick", timeout=TIMEOUT, data={"pending": pending, "oid": ADELE}
    )
    pending = re.search(r'name="pending" value="([^"]+)"', consent.text).group(1)
    back = requests.post(
        f"{origin}/login/consent",
        timeout=TIMEOUT,
        allow_redirects=False,
        data={"pending": pending, "decision": "accept"},
    )
    return back.headers["Location"]


def control(standin: str, method: str, path: str, body: dict | None = None) -> dict:
    """The stand-in's control API."""
    response = requests.request(method, f"{standin}/_standin{path}", json=body, timeout=TIMEOUT)
    response.raise_for_status()
    return response.json()


def graph_calls(standin: str) -> int:
    """Graph calls the stand-in counted so far."""
    stats = control(standin, "GET", "/stats")
    return sum(v for k, v in stats.items() if k.startswith("graph.") and k != "graph.error")


def start_passthrough(stack: ExitStack, env: dict, log: Path) -> str:
    """passthrough_app.py under gunicorn, as the app is served (WORKERS sync workers); its URL."""
    port = free_port()
    start_gunicorn(
        stack,
        port,
        env,
        log,
        target="passthrough_app:app",
        chdir=ROOT / "benchmarks",
        workers=WORKERS,
    )
    return f"http://127.0.0.1:{port}"


# --- 1: first pages: a folder, a page of search results -----------------------------------------


@dataclass
class Page:
    """One page the dashlet asks for: the app's URL and the very Graph URL the app fetches for
    it (same $select, $expand, $top and $orderby), and the stand-in's stat for that Graph call."""

    label: str
    app: str
    graph: str
    stat: str


def graph_query(**params: str | int) -> str:
    """A Graph query string quoted the way the drive client quotes it."""
    return urlencode(
        {f"${name}": value for name, value in params.items()}, safe="$,()=", quote_via=quote
    )


def folder_page(base: str, standin: str, folder: str) -> Page:
    """A folder's first page, name order."""
    from app.drive.cloud_drive import PAGE_SIZE
    from app.microsoft.onedrive import CHILD_FIELDS, THUMBNAILS

    query = graph_query(top=PAGE_SIZE, select=CHILD_FIELDS, orderby="name asc", expand=THUMBNAILS)
    return Page(
        f"folder of {FOLDER_ITEMS:,} items",
        f"{base}/drive/api/children?path={quote(folder)}",
        f"{standin}/v1.0/me/drive/root:/{quote(folder)}:/children?{query}",
        "graph.drive.list_children",
    )


def search_page(base: str, standin: str, text: str) -> Page:
    """The first page of a search of the whole drive."""
    from app.drive.cloud_drive import PAGE_SIZE
    from app.microsoft.onedrive import SEARCH_FIELDS, THUMBNAILS

    query = graph_query(top=PAGE_SIZE, select=SEARCH_FIELDS, expand=THUMBNAILS)
    return Page(
        f"search results for “{text}”",
        f"{base}/drive/api/search?{urlencode({'q': text})}",
        f"{standin}/v1.0/me/drive/root/search(q='{quote(text, safe='')}')?{query}",
        "graph.drive.search",
    )


def library_page(base: str, standin: str, site: dict, library: dict) -> Page:
    """A site's document library opened from Sites: its top folder's first page, name order."""
    from app.drive.cloud_drive import PAGE_SIZE
    from app.microsoft.onedrive import CHILD_FIELDS, THUMBNAILS

    query = graph_query(top=PAGE_SIZE, select=CHILD_FIELDS, orderby="name asc", expand=THUMBNAILS)
    address = {
        "view": "sites",
        "site": site["id"],
        "site_name": site["display_name"],
        "drive": library["id"],
        "name": library["name"],
    }
    return Page(
        f"library of {FOLDER_ITEMS:,} items",
        f"{base}/drive/api/children?{urlencode(address, quote_via=quote)}",
        f"{standin}/v1.0/drives/{library['id']}/root/children?{query}",
        "graph.drive.list_children",
    )


def time_get(url: str, **kwargs) -> float:
    """Seconds for one `requests.get` on a new connection; the answer must be a 200."""
    started = time.perf_counter()
    response = requests.get(url, timeout=TIMEOUT, **kwargs)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}: {response.text[:300]}")
    return elapsed


def rounds(calls: dict[str, Callable[[], float]], runs: int) -> dict[str, list[float]]:
    """Seconds of each call, `runs` rounds after WARM_UP_ROUNDS untimed ones; every round runs
    each call once, in a new random order, so that drift on a noisy machine hits all alike."""
    order, times = list(calls), {name: [] for name in calls}
    shuffle = random.Random(6).shuffle
    for done in range(WARM_UP_ROUNDS + runs):
        shuffle(order)
        for name in order:
            elapsed = calls[name]()
            if done >= WARM_UP_ROUNDS:
                times[name].append(elapsed)
    return times


def ms(seconds: float) -> str:
    """A duration as printed in the report."""
    return f"{seconds * 1000:.1f} ms"


def seed_folder(standin: str) -> str:
    """A folder of FOLDER_ITEMS files under My Files; its name."""
    seeded = control(standin, "POST", "/drive/seed", {"oid": ADELE, "folders": 1, "prefix": "B"})
    control(
        standin,
        "POST",
        "/drive/seed",
        {"oid": ADELE, "parent": seeded["folder_ids"][0], "files": FOLDER_ITEMS, "prefix": "F"},
    )
    return "B folder 00001"


def seed_library(standin: str, site_name: str = "Sales and Marketing") -> tuple[dict, dict]:
    """FOLDER_ITEMS files in the Documents library of a site Adele follows: (site, library)."""
    sites = control(standin, "GET", "/sites")["sites"]
    site = next(s for s in sites if s["display_name"] == site_name)
    library = next(d for d in site["libraries"] if d["name"] == "Documents")
    seed = {"drive": library["id"], "files": FOLDER_ITEMS, "prefix": "L"}
    control(standin, "POST", "/drive/seed", seed)
    return site, library


def page_cost(
    page: Page, standin: str, passthrough: str, cookies: dict, bearer: dict, runs: int
) -> list[Row]:
    """Exactly one Graph call for the page, as many rows as Graph's; on loopback the app
    against the floor (a bare Flask pass-through of the same Graph page on the same gunicorn),
    and with every Graph call 100 ms slower (closer to the real Graph) the app against a raw
    request of the Graph page."""
    before = control(standin, "GET", "/stats")
    body = requests.get(page.app, cookies=cookies, timeout=TIMEOUT).json()
    after = control(standin, "GET", "/stats")
    calls = {
        key: after[key] - before.get(key, 0)
        for key in after
        if key.startswith("graph.") and after[key] != before.get(key, 0)
    }
    raw_rows = len(requests.get(page.graph, headers=bearer, timeout=TIMEOUT).json()["value"])
    via = urlencode({"url": page.graph})
    times = rounds(
        {
            "app": lambda: time_get(page.app, cookies=cookies),
            "raw": lambda: time_get(page.graph, headers=bearer),
            "passthrough": lambda: time_get(f"{passthrough}/page?{via}", headers=bearer),
        },
        runs,
    )
    median = {name: statistics.median(values) for name, values in times.items()}
    floor = median["app"] / median["passthrough"]
    paired = statistics.median(
        a / p for a, p in zip(times["app"], times["passthrough"], strict=True)
    )
    slow = with_latency(standin, page, cookies, bearer, max(10, runs // 3))
    print(f"{page.label}: first page of {len(body['rows'])} rows; {runs} rounds; Graph {calls}")
    return [
        Row(
            f"{page.label}: Graph calls",
            str(sum(calls.values())),
            "exactly 1",
            calls == {page.stat: 1},
        ),
        Row(
            f"{page.label}: rows app / Graph",
            f"{len(body['rows'])} / {raw_rows}",
            "equal",
            len(body["rows"]) == raw_rows,
        ),
        Row(
            f"{page.label}: loopback medians app / pass-through / raw",
            f"{ms(median['app'])} / {ms(median['passthrough'])} / {ms(median['raw'])}",
        ),
        Row(
            f"{page.label}: loopback app / pass-through (of the medians)",
            f"{floor:.2f}",
            f"<= {FLOOR_TARGET}",
            floor <= FLOOR_TARGET,
        ),
        Row(f"{page.label}: loopback app / pass-through (median of per-round)", f"{paired:.2f}"),
        Row(f"{page.label}: loopback app / raw", f"{median['app'] / median['raw']:.2f}"),
        Row(
            f"{page.label}: Graph +{GRAPH_LATENCY * 1000:.0f} ms, app / raw "
            f"({ms(slow[0])} / {ms(slow[1])})",
            f"{slow[0] / slow[1]:.2f}",
            f"<= {SLOW_TARGET}",
            slow[0] / slow[1] <= SLOW_TARGET,
        ),
    ]


def with_latency(standin, page: Page, cookies, bearer, runs) -> tuple[float, float]:
    """Medians of app and raw pages while every Graph call waits GRAPH_LATENCY first."""
    control(standin, "POST", "/faults", {"area": "graph", "mode": "slow", "delay": GRAPH_LATENCY})
    try:
        times = rounds(
            {
                "app": lambda: time_get(page.app, cookies=cookies),
                "raw": lambda: time_get(page.graph, headers=bearer),
            },
            runs,
        )
    finally:
        control(standin, "DELETE", "/faults")
    return statistics.median(times["app"]), statistics.median(times["raw"])


def first_pages(
    base: str, standin: str, passthrough: str, session: requests.Session, runs: int
) -> list[Row]:
    """The folder's, the search's and the library's first pages, each measured by page_cost."""
    folder = seed_folder(standin)
    site, library = seed_library(standin)
    token = control(standin, "POST", "/tokens", {"oid": ADELE, "scopes": ["Files.ReadWrite.All"]})
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    cookies = session.cookies.get_dict()
    rows = []
    pages = (
        folder_page(base, standin, folder),
        search_page(base, standin, "F file"),
        library_page(base, standin, site, library),
    )
    for page in pages:
        rows += page_cost(page, standin, passthrough, cookies, bearer, runs)
    scale = rounds(
        {
            "healthz": lambda: time_get(f"{base}/healthz"),
            "standin": lambda: time_get(f"{standin}/_standin/health"),
        },
        max(10, runs // 3),
    )
    print(
        "  for scale, one bare round trip: GET /healthz through gunicorn "
        f"{ms(statistics.median(scale['healthz']))}, the stand-in's /_standin/health "
        f"{ms(statistics.median(scale['standin']))}"
    )
    return rows


# --- 2: memory during a 200 MiB upload and download ---------------------------------------------


def worker_pids(master: int) -> list[int]:
    """The gunicorn workers: children of the master process."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:
            pids.append(int(stat.parent.name))
    return pids


def rss(pid: int) -> int:
    """Resident set size of a process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class RssSampler:
    """Samples the workers' RSS in a thread; `peak` per worker since `start`."""

    def __init__(self, pids: list[int]):
        self.pids = pids
        self.peak = {pid: 0 for pid in pids}
        self.running = False
        self.thread: threading.Thread | None = None

    def _loop(self) -> None:
        while self.running:
            for pid in self.pids:
                self.peak[pid] = max(self.peak[pid], rss(pid))
            time.sleep(0.02)

    def start(self) -> None:
        self.running = True
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def stop(self) -> dict[int, int]:
        self.running = False
        self.thread.join(5)
        return self.peak


def csrf(session: requests.Session, base: str) -> str:
    """The CSRF token of the page's meta tag."""
    home = session.get(f"{base}/home", timeout=TIMEOUT).text
    return re.search(r'name="csrf-token" content="([^"]+)"', home).group(1)


def upload(session: requests.Session, base: str, path: Path, name: str) -> dict:
    """Upload a file through the app in 10 MiB parts, each read from disk as it is sent."""
    size = path.stat().st_size
    headers = {"X-CSRFToken": csrf(session, base), "Accept": "application/json"}
    started = session.post(
        f"{base}/drive/api/uploads",
        json={"folder": {}, "name": name, "size": size},
        headers=headers,
        timeout=TIMEOUT,
    ).json()
    answer = {}
    with path.open("rb") as source:
        for start in range(0, size, PART):
            data = source.read(PART)
            answer = session.put(
                f"{base}/drive/api/uploads",
                data=data,
                timeout=TRANSFER_TIMEOUT,
                headers={
                    **headers,
                    "Content-Type": "application/octet-stream",
                    "X-Upload-Ticket": started["ticket"],
                    "Content-Range": f"bytes {start}-{start + len(data) - 1}/{size}",
                },
            ).json()
    if not answer.get("done"):
        raise SystemExit(f"upload did not complete: {answer}")
    return answer["row"]


def download(session: requests.Session, base: str, row: dict) -> tuple[str, int]:
    """Download through the app in pieces; returns the SHA-256 and the byte count."""
    digest, count = hashlib.sha256(), 0
    with session.get(f"{base}{row['download']}", stream=True, timeout=TRANSFER_TIMEOUT) as got:
        got.raise_for_status()
        for piece in got.iter_content(1024 * 1024):
            digest.update(piece)
            count += len(piece)
    return digest.hexdigest(), count


def big_file(folder: Path, size: int) -> tuple[Path, str]:
    """A file of `size` random-ish bytes on disk and its SHA-256."""
    path, digest = folder / f"file-{size}.bin", hashlib.sha256()
    block = os.urandom(MIB)
    with path.open("wb") as out:
        for index in range(size // MIB):
            piece = bytes([index % 251]) + block[1:]
            out.write(piece)
            digest.update(piece)
    return path, digest.hexdigest()


def memory(base: str, session: requests.Session, master: int, workdir: Path) -> list[Row]:
    """Worker RSS stays flat while 200 MiB go up and come back down through the app."""
    warm, _ = big_file(workdir, 12 * MIB)
    download(session, base, upload(session, base, warm, "warm-up.bin"))
    pids = worker_pids(master)
    baseline = {pid: rss(pid) for pid in pids}
    path, expected = big_file(workdir, BIG_FILE)
    sampler = RssSampler(pids)
    sampler.start()
    started = time.perf_counter()
    row = upload(session, base, path, "Big 200 MiB.bin")
    uploaded = time.perf_counter() - started
    upload_peak = dict(sampler.peak)
    sampler.peak = {pid: 0 for pid in pids}
    started = time.perf_counter()
    digest, count = download(session, base, row)
    downloaded = time.perf_counter() - started
    download_peak = sampler.stop()
    up_growth = max(upload_peak[pid] - baseline[pid] for pid in pids) / MIB
    down_growth = max(download_peak[pid] - baseline[pid] for pid in pids) / MIB
    same = digest == expected and count == BIG_FILE
    print(f"200 MiB through the app ({len(pids)} gunicorn workers, RSS sampled every 20 ms)")
    print(f"  worker RSS at baseline  {', '.join(f'{v / MIB:.1f}' for v in baseline.values())} MiB")
    print(f"  upload   {uploaded:5.1f} s  ({BIG_FILE / MIB / uploaded:6.1f} MiB/s)")
    print(f"  download {downloaded:5.1f} s  ({BIG_FILE / MIB / downloaded:6.1f} MiB/s)")
    target = f"<= {RSS_TARGET_MIB} MiB"
    return [
        Row(
            "200 MiB upload: worker RSS growth",
            f"{up_growth:.1f} MiB",
            target,
            up_growth <= RSS_TARGET_MIB,
        ),
        Row(
            "200 MiB download: worker RSS growth",
            f"{down_growth:.1f} MiB",
            target,
            down_growth <= RSS_TARGET_MIB,
        ),
        Row("200 MiB download: same bytes as uploaded", "yes" if same else "no", "yes", same),
    ]


def main() -> int:
    """Set up, measure, report, clean up."""
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("-n", type=int, default=150, help="timed rounds (default 150)")
    args = parser.parse_args()
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="crm-bench-")))
        standin = start_standin(stack, workdir / "standin.log")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = app_env(workdir, base, standin)
        configure_app(env, base, standin)
        create_user(env)
        start_gunicorn(stack, port, env, workdir / "gunicorn.log", workers=WORKERS)
        log = (workdir / "gunicorn.log").read_text()
        master = int(re.search(r"\[(\d+)\] \[INFO\] Starting gunicorn", log).group(1))
        session = connect(base)
        passthrough = start_passthrough(stack, env, workdir / "passthrough.log")
        rows = first_pages(base, standin, passthrough, session, args.n)
        rows += memory(base, session, master, workdir)
    return 0 if report("drive", rows) else 1


if __name__ == "__main__":
    sys.exit(main())
