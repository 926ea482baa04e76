"""What every benchmark shares: ports, child processes, the stand-in, and how figures are reported.

Each benchmark ends with `report(bench, rows)`: it prints the benchmark's own table and, when
`make bench` runs it (BENCH_RESULTS names a file), appends the same rows as JSON lines so that
`benchmarks/report.py` can print one table of the whole product.
"""

import json
import os
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Row:
    """One figure: what it is, its value as printed, the target it is held to, and the verdict."""

    figure: str
    value: str
    target: str = ""
    ok: bool = True


def report(bench: str, rows: list[Row]) -> bool:
    """Print the rows as a table; append them to $BENCH_RESULTS; whether every target is met."""
    print_table(rows)
    results = os.environ.get("BENCH_RESULTS")
    if results:
        with open(results, "a", encoding="utf-8") as out:
            for row in rows:
                out.write(json.dumps({"bench": bench, **asdict(row)}) + "\n")
    return all(row.ok for row in rows)


def verdict_of(row: Row) -> str:
    """yes / NO against a target; nothing for a figure that has none (a baseline, a detail)."""
    if not row.target or row.target == "baseline":
        return "" if row.ok else "NO"
    return "yes" if row.ok else "NO"


def print_table(rows: list[Row], first: str = "figure") -> None:
    """figure, value, target, ok — aligned, one row per line."""
    header = Row(first, "value", "target")
    widths = [
        max(len(getattr(r, f)) for r in [header, *rows]) for f in ("figure", "value", "target")
    ]
    w0, w1, w2 = widths
    line = f"{header.figure:<{w0}}  {header.value:>{w1}}  {header.target:<{w2}}  ok"
    print(line)
    print("-" * len(line))
    for r in rows:
        verdict = verdict_of(r)
        print(
            f"{r.figure:<{widths[0]}}  {r.value:>{widths[1]}}  {r.target:<{widths[2]}}  {verdict}"
        )


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen) -> None:
    """Terminate a child (gunicorn stops its workers) and reap it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def start_standin(stack: ExitStack, log: Path, *args: str) -> str:
    """The stand-in Microsoft on a free port; its base URL from the line it prints when ready."""
    out = stack.enter_context(open(log, "w+"))  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "standin", "--port", "0", *args],
        cwd=ROOT,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    stack.callback(stop, process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if line.startswith("standin listening on "):
                return line.removeprefix("standin listening on ").strip()
        if process.poll() is not None:
            raise SystemExit(f"the stand-in exited:\n{log.read_text()[-2000:]}")
        time.sleep(0.1)
    raise SystemExit("the stand-in did not start within 30 s")


def start_gunicorn(
    stack: ExitStack,
    port: int,
    env: dict,
    log: Path,
    *,
    target: str = "app:create_app()",
    chdir: Path = ROOT,
    workers: int = 4,
    timeout: float = 60,
) -> subprocess.Popen:
    """gunicorn with `workers` sync workers, stopped when `stack` closes; returns once every
    worker has booted and the server answers."""
    out = stack.enter_context(open(log, "w"))  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}"]
        + ["--timeout", "60", "--chdir", str(chdir), target],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    stack.callback(stop, process)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited:\n{log.read_text()[-2000:]}")
        try:
            requests.get(f"http://127.0.0.1:{port}/", timeout=1, allow_redirects=False)
            if log.read_text().count("Booting worker") >= workers:
                return process
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"gunicorn did not answer within {timeout:g} s:\n{log.read_text()[-2000:]}")


def app_env(workdir: Path, url: str, standin: str | None = None) -> dict:
    """The environment of the app's flask commands and gunicorn: a SQLite file in `workdir`,
    fixed test secrets, and the stand-in as Microsoft when one is given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "DATABASE_URL"))}
    env.update(
        APP_ENV="testing",
        DATABASE_URL=f"sqlite:///{workdir / 'bench.db'}",
        SECRET_KEY="bench-secret-key-not-for-production",
        TOKEN_ENCRYPTION_KEYS="0TnsH0cvuKfQ6LsZ4Yb0xVwNpyLdOJN5yqqR8BRTIHk=",
        INSTANCE_PATH=str(workdir),
        PUBLIC_BASE_URL=url,
    )
    if standin:
        env.update(MICROSOFT_AUTHORITY=standin, MICROSOFT_GRAPH_URL=f"{standin}/v1.0")
    return env


def flask(env: dict, *args: str) -> None:
    """A `flask` command of the app; stop with its output when it fails."""
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app:create_app", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode:
        raise SystemExit(f"flask {args[0]} failed:\n{result.stdout}{result.stderr}")
