"""Cloud Drive: the cost of a listing page over Graph itself, and server memory during big
transfers.

Run from the project root:  .venv/bin/python benchmarks/bench_drive.py [-n 30]

1. The Microsoft stand-in runs as its own process (`python -m standin --port 0`); a temporary
   SQLite database is migrated, the Microsoft connector configured (`flask connector set`), the
   app registered at the stand-in, and gunicorn (2 sync workers) serves the app. A user signs
   in and connects Adele's Microsoft account through the real connect flow, over HTTP.
2. A folder of 10,000 files is seeded through the stand-in's control API.
3. Its first page through the app (GET /drive/api/children, as the dashlet asks for it) must
   cost exactly one Graph call (stand-in stats). Then N timed runs, alternating: the app's
   page, and a raw `requests.get` of the same Graph URL with a Graph token (both a new
   connection per call). Prints both medians and their ratio (target <= 1.2); then, for
   perspective, the same with every Graph call made 100 ms slower (a stand-in fault), closer
   to the real Graph's answer times.
4. A 200 MiB file is uploaded through the app in 10 MiB parts and downloaded back through it,
   while the RSS of every gunicorn worker is sampled every 20 ms: the peak over the baseline
   (after a warm-up transfer) must stay small (target <= 32 MiB), i.e. nothing is buffered
   whole. The downloaded bytes must hash like the uploaded ones.

Every process and temporary file is cleaned up; every HTTP call has a timeout.
"""

import argparse
import hashlib
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import quote, urlencode

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_connect import (  # noqa: E402  (after the path is set)
    app_env,
    flask,
    free_port,
    register_client,
    start_gunicorn,
    start_standin,
)

ADELE = "a11ce000-0000-4000-8000-00000000ade1"
APP_CLIENT = ("55555555-6666-4777-8888-999999999999", "bench-drive-client-secret")
USERNAME, PASSWORD = "bench-drive", "bench-drive-password"
FOLDER_ITEMS = 10_000
BIG_FILE = 200 * 1024 * 1024
PART = 10 * 1024 * 1024
TIMEOUT = (3, 30)
TRANSFER_TIMEOUT = (3, 120)
RATIO_TARGET = 1.2
GRAPH_LATENCY = 0.1  # seconds: a typical answer time of the real Graph for a children page
RSS_TARGET_MIB = 32
MIB = 1024 * 1024


# --- setup -------------------------------------------------------------------------------------


def create_user(env: dict) -> None:
    """The benchmark's user, through the users service."""
    from app import create_app
    from app.extensions import db
    from app.services import users
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


# --- 1: the first page ---------------------------------------------------------------------------


def page_urls(base: str, standin: str, folder: str) -> tuple[str, str]:
    """The app's page URL and the Graph URL it fetches for it (built the way the app does)."""
    from app.services.cloud_drive import PAGE_SIZE
    from app.services.graph import CHILD_FIELDS

    query = urlencode(
        {"$top": PAGE_SIZE, "$select": CHILD_FIELDS, "$orderby": "name asc"},
        safe="$,",
        quote_via=quote,
    )
    graph = f"{standin}/v1.0/me/drive/root:/{quote(folder)}:/children?{query}"
    return f"{base}/drive/api/children?path={quote(folder)}", graph


def time_get(url: str, **kwargs) -> float:
    """Seconds for one `requests.get` on a new connection; the answer must be a full page."""
    started = time.perf_counter()
    response = requests.get(url, timeout=TIMEOUT, **kwargs)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}: {response.text[:300]}")
    return elapsed


def first_page(base: str, standin: str, session: requests.Session, runs: int) -> bool:
    """Exactly one Graph call for the first page; app vs raw Graph medians and their ratio."""
    seeded = control(standin, "POST", "/drive/seed", {"oid": ADELE, "folders": 1, "prefix": "B"})
    control(
        standin,
        "POST",
        "/drive/seed",
        {"oid": ADELE, "parent": seeded["folder_ids"][0], "files": FOLDER_ITEMS, "prefix": "F"},
    )
    app_url, graph_url = page_urls(base, standin, "B folder 00001")
    cookies = session.cookies.get_dict()
    before = graph_calls(standin)
    body = requests.get(app_url, cookies=cookies, timeout=TIMEOUT).json()
    calls = graph_calls(standin) - before
    token = control(standin, "POST", "/tokens", {"oid": ADELE, "scopes": ["Files.ReadWrite.All"]})
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    raw_rows = len(requests.get(graph_url, headers=bearer, timeout=TIMEOUT).json()["value"])
    app_times, raw_times, floor_times = [], [], []
    for _ in range(runs):
        app_times.append(time_get(app_url, cookies=cookies))
        raw_times.append(time_get(graph_url, headers=bearer))
        floor_times.append(time_get(f"{base}/healthz"))
    app_median, raw_median = statistics.median(app_times), statistics.median(raw_times)
    ratio = app_median / raw_median
    ok = calls == 1 and ratio <= RATIO_TARGET and len(body["rows"]) == raw_rows
    print(f"folder of {FOLDER_ITEMS:,} items; first page of {len(body['rows'])} rows")
    print(f"  Graph calls for the app's first page   {calls}  (target exactly 1)")
    print(f"  app  GET /drive/api/children  median {app_median * 1000:7.1f} ms  ({runs} runs)")
    print(f"  raw  requests.get of Graph    median {raw_median * 1000:7.1f} ms")
    print(
        f"  (for scale: GET /healthz, one app round trip, median "
        f"{statistics.median(floor_times) * 1000:.1f} ms)"
    )
    print(f"  ratio app/raw {ratio:.2f}  target <= {RATIO_TARGET}  {'ok' if ok else 'NOT MET'}")
    latency = with_latency(standin, app_url, graph_url, cookies, bearer, max(5, runs // 3))
    print(
        f"  for perspective, Graph answering {GRAPH_LATENCY * 1000:.0f} ms slower (stand-in "
        f"'slow' fault on both): app {latency[0] * 1000:.1f} ms, raw {latency[1] * 1000:.1f} ms, "
        f"ratio {latency[0] / latency[1]:.2f}"
    )
    return ok


def with_latency(standin, app_url, graph_url, cookies, bearer, runs) -> tuple[float, float]:
    """Medians of app and raw pages while every Graph call waits GRAPH_LATENCY first."""
    control(
        standin,
        "POST",
        "/faults",
        {"area": "graph", "mode": "slow", "delay": GRAPH_LATENCY, "count": 2 * runs},
    )
    app_times, raw_times = [], []
    for _ in range(runs):
        app_times.append(time_get(app_url, cookies=cookies))
        raw_times.append(time_get(graph_url, headers=bearer))
    control(standin, "DELETE", "/faults")
    return statistics.median(app_times), statistics.median(raw_times)


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


def memory(base: str, session: requests.Session, master: int, workdir: Path) -> bool:
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
    started = time.perf_counter()
    digest, count = download(session, base, row)
    downloaded = time.perf_counter() - started
    peak = sampler.stop()
    growth = max(peak[pid] - baseline[pid] for pid in pids) / MIB
    up_growth = max(upload_peak[pid] - baseline[pid] for pid in pids) / MIB
    same = digest == expected and count == BIG_FILE
    ok = same and growth <= RSS_TARGET_MIB
    print(f"200 MiB through the app ({len(pids)} gunicorn workers, RSS sampled every 20 ms)")
    print(f"  worker RSS at baseline  {', '.join(f'{v / MIB:.1f}' for v in baseline.values())} MiB")
    print(
        f"  upload   {uploaded:5.1f} s  ({BIG_FILE / MIB / uploaded:6.1f} MiB/s)  "
        f"peak growth {up_growth:5.1f} MiB"
    )
    print(
        f"  download {downloaded:5.1f} s  ({BIG_FILE / MIB / downloaded:6.1f} MiB/s)  "
        f"peak growth over both {growth:5.1f} MiB"
    )
    print(
        f"  bytes back equal: {same}; growth target <= {RSS_TARGET_MIB} MiB  "
        f"{'ok' if ok else 'NOT MET'}"
    )
    return ok


def main() -> int:
    """Set up, measure, report, clean up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=30, help="timed runs of each page (default 30)")
    args = parser.parse_args()
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="crm-bench-")))
        standin = start_standin(stack, workdir / "standin.log")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = app_env(workdir, base, standin)
        flask(env, "db", "upgrade")
        flask(
            env,
            "connector",
            "set",
            "microsoft",
            "--client-id",
            APP_CLIENT[0],
            "--client-secret",
            APP_CLIENT[1],
        )
        register_client(standin, APP_CLIENT, f"{base}/oauth/microsoft/callback")
        create_user(env)
        start_gunicorn(stack, port, env, workdir / "gunicorn.log")
        log = (workdir / "gunicorn.log").read_text()
        master = int(re.search(r"\[(\d+)\] \[INFO\] Starting gunicorn", log).group(1))
        session = connect(base)
        pages_ok = first_page(base, standin, session, args.n)
        memory_ok = memory(base, session, master, workdir)
    return 0 if pages_ok and memory_ok else 1


if __name__ == "__main__":
    sys.exit(main())
