"""Throughput of the Profile page against a reference page, and SQL statements per page.

Run from the project root:  .venv/bin/python benchmarks/bench_pages.py

1. A temporary SQLite database is migrated with `flask db upgrade` and seeded with 10,000 users
   (one bulk INSERT) plus one real admin with a known password (through the users service).
2. gunicorn (4 sync workers) serves the app, and separately, with the same settings, the
   reference page of reference_app.py (one query, a cached template, no sign-in) and the bare
   "hello" app of hello_app.py. One sign-in through the login form gives the session cookie.
3. wrk (its own process) drives hello, the reference page and /profile/ side by side, round
   after round; /profile/ must reach at least 0.6 of the reference page's requests/second
   (the median of the per-round ratios). hello is shown for information: what Flask itself costs.
4. In-process, with the Flask test client and a `before_cursor_execute` listener on db.engine,
   count the SQL statements of /profile/ and of Admin > User Management pages 1 and 200
   (target: the same on every page, at most 5).

Every process and temporary file is cleaned up; every HTTP call has a timeout.
"""

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from multiprocessing import Pool
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import Row, app_env, flask, free_port, report, start_gunicorn  # noqa: E402

SEED_USERS = 10_000
WORKERS = 4
USERNAME = "bench-admin"
PASSWORD = "bench-admin-password"
HTTP_TIMEOUT = (3, 10)  # (connect, read) seconds for every request this script makes
REFERENCE_TARGET = 0.6  # /profile/ req/s over the reference page's, measured side by side
MAX_STATEMENTS = 5
# Flask-Login binds a session to the browser's address and User-Agent; a client that signs in with
# one User-Agent and then loads pages with another gets its session marked "not fresh" and the
# cookie rewritten on every request, which no browser does. Every request here sends this one.
USER_AGENT = "crm-bench/1.0"


# --- processes ---------------------------------------------------------------------------------


# --- database ----------------------------------------------------------------------------------


def make_app(env: dict):
    """The app in this process, configured like the gunicorn one."""
    from app import create_app
    from config import Config

    return create_app(
        Config,
        APP_ENV=env["APP_ENV"],
        SQLALCHEMY_DATABASE_URI=env["DATABASE_URL"],
        SECRET_KEY=env["SECRET_KEY"],
        TOKEN_ENCRYPTION_KEYS=env["TOKEN_ENCRYPTION_KEYS"],
        INSTANCE_PATH=env["INSTANCE_PATH"],
        PUBLIC_BASE_URL=env["PUBLIC_BASE_URL"],
    )


def seed(env: dict) -> float:
    """10,000 users in one executemany, and the real admin through the users service."""
    from sqlalchemy import insert
    from werkzeug.security import generate_password_hash

    from app.core.db import utcnow
    from app.extensions import db
    from app.users import directory as users
    from app.users.models import User

    started = time.perf_counter()
    app = make_app(env)
    with app.app_context():
        shared_hash = generate_password_hash("seeded-user-password", method="scrypt")
        now = utcnow()
        rows = [
            {
                "username": f"user{n:05d}",
                "email": f"user{n:05d}@crm.example",
                "password_hash": shared_hash,
                "first_name": f"First{n}",
                "last_name": f"Last{n}",
                "title": "",
                "department": "Sales" if n % 2 else "Support",
                "phone": "",
                "time_zone": "UTC",
                "is_admin": False,
                "active": n % 10 != 0,
                "created_at": now,
                "updated_at": now,
            }
            for n in range(SEED_USERS)
        ]
        db.session.execute(insert(User), rows)
        db.session.commit()
        users.create_user(
            None,
            USERNAME,
            "bench-admin@crm.example",
            PASSWORD,
            is_admin=True,
            first_name="Bench",
            last_name="Admin",
        )
        db.session.commit()
        db.engine.dispose()
    return time.perf_counter() - started


# --- HTTP --------------------------------------------------------------------------------------


def csrf_token(html: str) -> str:
    """The CSRF token of a rendered form."""
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    if not match:
        raise SystemExit("no CSRF token on the login page")
    return match.group(1)


def sign_in(base: str) -> str:
    """Sign in through the login form; the value of the session cookie."""
    with requests.Session() as http:
        http.headers["User-Agent"] = USER_AGENT
        page = http.get(f"{base}/login", timeout=HTTP_TIMEOUT)
        response = http.post(
            f"{base}/login",
            data={"csrf_token": csrf_token(page.text), "username": USERNAME, "password": PASSWORD},
            timeout=HTTP_TIMEOUT,
            allow_redirects=False,
        )
        if response.status_code != 302:
            raise SystemExit(f"sign-in failed with {response.status_code}")
        cookie = http.cookies.get("session")
    check = requests.get(
        f"{base}/profile/",
        cookies={"session": cookie},
        headers={"User-Agent": USER_AGENT},
        timeout=HTTP_TIMEOUT,
        allow_redirects=False,
    )
    if check.status_code != 200 or "Bench Admin" not in check.text:
        raise SystemExit(f"/profile/ with the session cookie answered {check.status_code}")
    if "Set-Cookie" in check.headers:
        raise SystemExit("/profile/ rewrote the session cookie: the load would measure that")
    return cookie


def wrk(url: str, seconds: int, cookie: str | None) -> tuple[float, str]:
    """Requests/second from wrk -t2 -c16, and a note about errors if any."""
    command = [
        "wrk",
        "-t2",
        "-c16",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "-H",
        f"User-Agent: {USER_AGENT}",
    ]
    if cookie:
        command += ["-H", f"Cookie: session={cookie}"]
    result = subprocess.run(
        [*command, url], capture_output=True, text=True, timeout=seconds + 30, check=True
    )
    rate = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    if not rate:
        raise SystemExit(f"cannot read wrk's output:\n{result.stdout}{result.stderr}")
    notes = re.findall(r"(Non-2xx or 3xx responses: \d+|Socket errors: .*)", result.stdout)
    return float(rate.group(1)), "; ".join(notes)


def _python_client(job: tuple[str, float, str | None]) -> int:
    """One load process: GET `url` in a loop until the deadline; the number of 200s."""
    url, deadline, cookie = job
    done = 0
    with requests.Session() as http:
        http.headers["User-Agent"] = USER_AGENT
        if cookie:
            http.cookies.set("session", cookie)
        while time.monotonic() < deadline:
            if http.get(url, timeout=HTTP_TIMEOUT, allow_redirects=False).status_code == 200:
                done += 1
    return done


def python_load(url: str, seconds: int, cookie: str | None) -> tuple[float, str]:
    """The fallback when wrk is missing: 8 processes of sequential requests."""
    processes = 8
    with Pool(processes) as pool:
        deadline = time.monotonic() + seconds
        counts = pool.map(_python_client, [(url, deadline, cookie)] * processes)
    return sum(counts) / seconds, "python load generator (no wrk)"


def measure(url: str, seconds: int, cookie: str | None = None) -> tuple[float, str]:
    """Warm up for 2 s, then measure requests/second for `seconds`."""
    drive = wrk if shutil.which("wrk") else python_load
    drive(url, 2, cookie)
    return drive(url, seconds, cookie)


# --- SQL statements ----------------------------------------------------------------------------


def count_statements(env: dict) -> dict[str, int]:
    """SQL statements of each page, for a signed-in admin, with the test client.

    No app context is held open around the requests: each request gets a fresh one (a fresh `g`
    and database session), as under gunicorn, so nothing cached by a previous request hides a query.
    """
    from sqlalchemy import event

    from app.extensions import db

    app = make_app(env)
    with app.app_context():
        engine = db.engine
    statements: list[str] = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    paths = {
        "/profile/": "/profile/",
        "User Management p.1": "/admin/users",
        "User Management p.200": "/admin/users?page=200",
    }
    counts = {}
    event.listen(engine, "before_cursor_execute", listener)
    try:
        client = app.test_client()
        token = csrf_token(client.get("/login").get_data(as_text=True))
        response = client.post(
            "/login", data={"csrf_token": token, "username": USERNAME, "password": PASSWORD}
        )
        if response.status_code != 302:
            raise SystemExit(f"test-client sign-in failed with {response.status_code}")
        for label, path in paths.items():
            client.get(path)  # warm: first use of each template and statement
            statements.clear()
            response = client.get(path)
            if response.status_code != 200:
                raise SystemExit(f"{path} answered {response.status_code}")
            counts[label] = len(statements)
        if "user00199" not in client.get("/admin/users?page=9").get_data(as_text=True):
            raise SystemExit("the user list does not page through the seeded users as expected")
    finally:
        event.remove(engine, "before_cursor_execute", listener)
        engine.dispose()
    return counts


# --- report ------------------------------------------------------------------------------------


def main() -> int:
    """Set up, measure, report, clean up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=6, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the pages (median)")
    args = parser.parse_args()

    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="crm-bench-")))
        app_port, hello_port, reference_port = free_port(), free_port(), free_port()
        app_url = f"http://127.0.0.1:{app_port}"
        env = app_env(workdir, app_url)

        flask(env, "db", "upgrade")
        seconds = seed(env)
        print(f"seeded {SEED_USERS + 1} users in {seconds:.1f} s")
        counts = count_statements(env)

        start_gunicorn(stack, app_port, env, workdir / "app.log", workers=WORKERS)
        for name, port in (("hello", hello_port), ("reference", reference_port)):
            start_gunicorn(
                stack,
                port,
                env,
                workdir / f"{name}.log",
                target=f"{name}_app:app",
                chdir=ROOT / "benchmarks",
                workers=WORKERS,
            )
        cookie = sign_in(app_url)
        pages = {
            "hello": (f"http://127.0.0.1:{hello_port}/", None),
            "reference": (f"http://127.0.0.1:{reference_port}/", None),
            "/profile/": (f"{app_url}/profile/", cookie),
        }

        # Alternate the pages, round after round, and keep the median of each per-round ratio:
        # this machine's speed drifts, and a drift between two long runs would read as a ratio.
        rounds = []
        for _ in range(args.rounds):
            rates = {}
            for label, (url, page_cookie) in pages.items():
                rates[label], note = measure(url, args.seconds, page_cookie)
                if note:
                    print(f"{label}: {note}")
            rounds.append(rates)
        print(
            "req/s per round:",
            "; ".join(
                ", ".join(f"{label} {rate:.0f}" for label, rate in r.items()) for r in rounds
            ),
        )

    def median(f):
        return statistics.median(f(r) for r in rounds)

    of_reference = median(lambda r: r["/profile/"] / r["reference"])
    rows = [
        Row("hello req/s (4 workers)", f"{median(lambda r: r['hello']):.0f}"),
        Row(
            "reference page req/s (1 query + template)",
            f"{median(lambda r: r['reference']):.0f}",
            "baseline",
        ),
        Row("/profile/ req/s (4 workers)", f"{median(lambda r: r['/profile/']):.0f}"),
        Row(
            "reference page / hello (what such a page reaches)",
            f"{median(lambda r: r['reference'] / r['hello']):.2f}",
        ),
        Row("/profile/ / hello", f"{median(lambda r: r['/profile/'] / r['hello']):.2f}"),
        Row(
            "/profile/ / reference page",
            f"{of_reference:.2f}",
            f">= {REFERENCE_TARGET}",
            of_reference >= REFERENCE_TARGET,
        ),
    ]
    # Constant: the list costs the same on page 200 as on page 1 (no query per row or per page).
    constant = counts["User Management p.1"] == counts["User Management p.200"]
    rows += [
        Row(
            f"SQL statements, {label}",
            str(n),
            f"<= {MAX_STATEMENTS}, constant",
            n <= MAX_STATEMENTS and constant,
        )
        for label, n in counts.items()
    ]
    print()
    return 0 if report("pages", rows) else 1


if __name__ == "__main__":
    sys.exit(main())
