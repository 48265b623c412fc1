"""Waiting in tests: every await under a deadline, conditions polled until
they hold (never a fixed sleep before an assertion), and a daemon's JSON log
read line by line until the entry a test needs appears."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from typing import Any, Awaitable, Callable, TypeVar

T = TypeVar("T")


async def wait(aw: Awaitable[T], timeout: float = 60.0) -> T:
    """Every await in a test has a deadline."""
    return await asyncio.wait_for(aw, timeout)


async def until(pred: Callable[[], Any], timeout: float, what: str, step: float = 0.02) -> float:
    """Poll ``pred`` on the event loop until it holds; the seconds it took.
    AssertionError naming ``what`` when ``timeout`` passes first."""
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(step)
    return time.monotonic() - t0


async def events_until(sub, *types: str, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Events on a bus subscription up to and including the first of one of ``types``."""
    async def scan() -> list[dict[str, Any]]:
        seen = []
        async for event in sub:
            seen.append(event)
            if event["type"] in types:
                return seen
        raise AssertionError("the event stream ended")

    return await wait(scan(), timeout)


async def next_event(sub, *types: str, timeout: float = 60.0) -> dict[str, Any]:
    """The next event of one of ``types`` on a bus subscription."""
    return (await events_until(sub, *types, timeout=timeout))[-1]


def log_events(text: str) -> list[dict[str, Any]]:
    """The JSON log lines in ``text`` (the daemon logs JSON when stderr is not a terminal)."""
    out = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            out.append(entry)
    return out


class LogWatcher:
    """Reads a child process's stderr line by line, so a test can wait for
    the log entry it needs while the process runs."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)

    def wait_for(self, pred: Callable[[dict[str, Any]], bool], timeout: float = 120.0) -> dict[str, Any]:
        """The first JSON log entry ``pred`` accepts; AssertionError (with the
        log's tail) when it does not come within ``timeout`` or the process ends."""
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            while seen < len(self.lines):
                entries = log_events(self.lines[seen])
                seen += 1
                if entries and pred(entries[0]):
                    return entries[0]
            if self.proc.poll() is not None:
                self._reader.join(5)  # what it wrote before exiting
                if seen >= len(self.lines):
                    break
            time.sleep(0.05)
        raise AssertionError("log line not seen; log tail:\n" + "".join(self.lines[-30:]))

    def events(self) -> list[dict[str, Any]]:
        return log_events("".join(self.lines))
