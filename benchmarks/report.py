"""Run every benchmark and print one table of the product's figures, each with its target.

Run from the project root:  make bench   (or .venv/bin/python benchmarks/report.py)

Each `benchmarks/bench_*.py` runs in its own process with BENCH_RESULTS pointing at a temporary
file; each appends its rows (see _common.report). Their own output goes to
benchmarks/last-run.log. The table is printed at the end, with the date and the machine;
`--markdown` prints it as the Markdown table the README keeps. Exit status 1 when any target is
missed or any benchmark failed to run.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _common import Row, print_table, verdict_of  # noqa: E402

# The order of the report: the shell first, then what stands on it.
ORDER = ["pages", "connect", "tokens", "drive", "mail", "jobs"]
TIMEOUT = 30 * 60  # seconds for one benchmark
# bench_jobs' full round (1,000 mailboxes at 150 ms: inline, then 1, 2 and 4 workers) takes
# about 70 minutes on 2 cores; the others take minutes.
TIMEOUTS = {"jobs": 120 * 60}


def machine() -> str:
    """CPU model, cores, memory and Python: what the figures were measured on."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{memory_kib / 1048576:.0f} GiB"
    except (OSError, ValueError, IndexError):
        memory = "unknown memory"
    return (
        f"{model}, {os.cpu_count()} cores, {memory}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def scripts(only: list[str]) -> list[Path]:
    """bench_*.py in report order (unknown names last, alphabetically)."""
    found = sorted(HERE.glob("bench_*.py"))
    rank = {name: i for i, name in enumerate(ORDER)}
    found.sort(key=lambda p: (rank.get(p.stem.removeprefix("bench_"), len(ORDER)), p.name))
    return [p for p in found if not only or p.stem.removeprefix("bench_") in only]


def run(script: Path, results: Path, log) -> tuple[int, float]:
    """One benchmark in its own process; its exit status and how long it took."""
    timeout = TIMEOUTS.get(script.stem.removeprefix("bench_"), TIMEOUT)
    started = time.monotonic()
    log.write(f"\n===== {script.name} =====\n")
    log.flush()
    env = {**os.environ, "BENCH_RESULTS": str(results), "PYTHONUNBUFFERED": "1"}
    try:
        status = subprocess.run(
            [sys.executable, str(script)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=timeout,
        ).returncode
    except subprocess.TimeoutExpired:
        log.write(f"\n{script.name} ran past {timeout} s and was stopped\n")
        status = -1
    return status, time.monotonic() - started


def markdown(rows: list[tuple[str, Row]]) -> str:
    """The README's table."""
    lines = ["| benchmark | figure | value | target | met |", "|---|---|---|---|---|"]
    for bench, r in rows:
        target = r.target or "—"
        lines.append(f"| {bench} | {r.figure} | {r.value} | {target} | {verdict_of(r)} |")
    return "\n".join(lines)


def main() -> int:
    """Run, gather, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "only", nargs="*", help="benchmark names (pages, connect, ...); all if none"
    )
    parser.add_argument("--markdown", action="store_true", help="also print the README table")
    parser.add_argument("--log", default=str(HERE / "last-run.log"))
    args = parser.parse_args()

    gathered: list[tuple[str, Row]] = []
    failures: list[str] = []
    with (
        tempfile.TemporaryDirectory(prefix="crm-bench-report-") as folder,
        open(args.log, "w", encoding="utf-8") as log,
    ):
        for script in scripts(args.only):
            results = Path(folder) / f"{script.stem}.jsonl"
            print(f"running {script.name} ...", end=" ", flush=True)
            status, seconds = run(script, results, log)
            rows = []
            if results.exists():
                for line in results.read_text(encoding="utf-8").splitlines():
                    data = json.loads(line)
                    rows.append((data.pop("bench"), Row(**data)))
            print(f"{seconds:.0f} s, exit {status}")
            if not rows:
                failures.append(f"{script.name} reported nothing (exit {status}; see {args.log})")
            elif status != 0 and all(r.ok for _, r in rows):
                failures.append(f"{script.name} exited {status} (see {args.log})")
            gathered += rows

    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"\nProduct figures, {when}, on {machine()}\n")
    print_table([Row(f"{bench}: {r.figure}", r.value, r.target, r.ok) for bench, r in gathered])
    if args.markdown:
        print(f"\nMeasured {when} on {machine()} with `make bench`:\n")
        print(markdown(gathered))
    missed = [f"{bench}: {r.figure}" for bench, r in gathered if not r.ok]
    for line in failures:
        print(f"\nFAILED TO RUN: {line}")
    if missed:
        print("\ntargets missed: " + "; ".join(missed))
    return 1 if missed or failures else 0


if __name__ == "__main__":
    sys.exit(main())
