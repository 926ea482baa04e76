"""Refresh storm: 100 concurrent requests on 4 gunicorn workers meet one expired token.

Prints how many refreshes reached the (stand-in) token endpoint and the p50/p99 latency of
those requests, next to the same storm when the token is still valid.
Run: .venv/bin/python benchmarks/bench_tokens.py"""

import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import Row, report  # noqa: E402

from tests.conftest import STANDIN_CLIENT, free_port, running_app, stop, wait_for_http  # noqa: E402
from tests.connect.test_storm import (  # noqa: E402
    connect_over_http,
    expire_access_token,
    refreshes,
    signed_in,
)

REQUESTS = 100


def timed_storm(server, session, account_id):
    """Fire REQUESTS concurrent Check connection calls; return their latencies (ms)."""
    url = f"{server.url}/profile/external-accounts/{account_id}/check"
    cookies = session.cookies.get_dict()

    def one(_):
        started = time.perf_counter()
        response = requests.get(
            url, cookies=cookies, headers={"Accept": "application/json"}, timeout=60
        )
        assert response.status_code == 200 and response.json()["ok"], response.text
        return (time.perf_counter() - started) * 1000

    with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
        return list(pool.map(one, range(REQUESTS)))


def percentile(values, q):
    """The q-th percentile (0-100) of values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> int:
    port = free_port()
    standin = subprocess.Popen(
        [sys.executable, "-m", "standin", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{base}/_standin/health", standin)
        with tempfile.TemporaryDirectory() as folder:
            env = {"MICROSOFT_AUTHORITY": base, "MICROSOFT_GRAPH_URL": f"{base}/v1.0"}
            with running_app(Path(folder), env, workers=4) as server:
                server.standin = base
                requests.post(
                    f"{base}/_standin/clients",
                    timeout=10,
                    json={
                        "client_id": STANDIN_CLIENT[0],
                        "client_secret": STANDIN_CLIENT[1],
                        "redirect_uris": [f"{server.url}/oauth/microsoft/callback"],
                    },
                )
                with server.db():
                    from app.connect import connectors
                    from app.extensions import db
                    from app.users import directory as users

                    connectors.save(
                        None,
                        "microsoft",
                        client_id=STANDIN_CLIENT[0],
                        client_secret=STANDIN_CLIENT[1],
                        single_tenant=False,
                        tenant="",
                        enabled=True,
                    )
                    db.session.commit()
                    users.create_user(None, "sally", "sally@crm.example", "sally-password")
                    db.session.commit()
                session = signed_in(server)
                account_id = connect_over_http(server, session)
                timed_storm(server, session, account_id)  # warm the workers
                valid = timed_storm(server, session, account_id)
                expire_access_token(server)
                before = refreshes(server)
                expired = timed_storm(server, session, account_id)
                count = refreshes(server) - before
    finally:
        stop(standin)
    ratio = statistics.median(expired) / statistics.median(valid)
    rows = [
        Row("refreshes for 100 concurrent requests, 1 expired", str(count), "exactly 1", count == 1)
    ]
    for name, values in (("valid token", valid), ("expired token (storm)", expired)):
        rows.append(Row(f"p50 ms, {name}", f"{statistics.median(values):.1f}"))
        rows.append(Row(f"p99 ms, {name}", f"{percentile(values, 99):.1f}"))
    rows.append(Row("p50 storm / p50 valid", f"{ratio:.2f}", "one refresh round trip added"))
    return 0 if report("tokens", rows) else 1


if __name__ == "__main__":
    sys.exit(main())
