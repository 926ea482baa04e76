"""Lap times for a log line: where a request's time went, in milliseconds."""

import time


class Laps:
    """Time between named points, printed as "claim 3 ms, sign-in 25 ms" (for the log)."""

    def __init__(self) -> None:
        self._last = time.perf_counter()
        self._laps: list[tuple[str, float]] = []

    def __call__(self, name: str) -> None:
        """End the lap called `name` now; the next lap starts here."""
        now = time.perf_counter()
        self._laps.append((name, (now - self._last) * 1000))
        self._last = now

    def __str__(self) -> str:
        return ", ".join(f"{name} {ms:.1f} ms" for name, ms in self._laps)
