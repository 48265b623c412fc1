"""A daemon in its own process, watched from outside the way a streamer's
tools would: its control API, its log, its memory and file descriptors."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests import kit
from tests.kit import log_events
from tests.kit.daemon import free_port


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def summary_ms(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50_ms": round(percentile(values, 50) * 1000, 2),
            "p99_ms": round(percentile(values, 99) * 1000, 2), "max_ms": round(max(values) * 1000, 2),
            "mean_ms": round(statistics.fmean(values) * 1000, 2)}


def proc_memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in KiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@dataclass
class DaemonProcess:
    """``ishowtts-live run`` as a child process with the control API on a free port."""

    config: Path
    state: Path
    overrides: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen | None = None
    lines: list[str] = field(default_factory=list)
    token: str = ""
    fake: bool = False  # the kit's FakeSynthesizer instead of the engine (tests.kit.fakedaemon)

    def start(self, ready_timeout: float = 180.0) -> "DaemonProcess":
        self.port = self.port or free_port()
        entry = "tests.kit.fakedaemon" if self.fake else "ishowtts_live"
        args = [sys.executable, "-m", entry, "run", "--config", str(self.config),
                "-o", f"control.port={self.port}", "-o", f"state.dir={self.state}"]
        for o in self.overrides:
            args += ["-o", o]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", **self.env}
        self.lines = []
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     cwd=kit.ROOT, env=env)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            self._wait_ready(ready_timeout)
        except BaseException:
            self.kill()  # never leave a daemon running behind a failed test
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        """Until ``/api/status`` says ready (the log may be set above info)."""
        deadline = time.monotonic() + timeout
        token_file = self.state / "control.token"
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                self._reader.join(5)
                raise AssertionError(f"daemon exited with {self.proc.returncode} before it was ready; tail:\n"
                                     + "".join(self.lines[-40:]))
            if token_file.exists():
                self.token = token_file.read_text().strip()
                req = urllib.request.Request(self.url + "/api/status", headers=self.auth)
                try:
                    with urllib.request.urlopen(req, timeout=5) as resp:
                        if json.loads(resp.read()).get("ready"):
                            return
                except (OSError, ValueError):
                    pass
            time.sleep(0.1)
        raise AssertionError("daemon not ready in time; tail:\n" + "".join(self.lines[-40:]))

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def log(self) -> list[dict[str, Any]]:
        return log_events("".join(list(self.lines)))

    def wait_log(self, pred, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for entry in self.log():
                if pred(entry):
                    return entry
            if self.proc is not None and self.proc.poll() is not None:
                self._reader.join(5)  # everything it wrote before exiting
                if any(pred(e) for e in self.log()):
                    return next(e for e in self.log() if pred(e))
                break
            time.sleep(0.05)
        raise AssertionError("daemon log line not seen; tail:\n" + "".join(self.lines[-40:]))

    async def get(self, session: aiohttp.ClientSession, path: str) -> Any:
        async with session.get(self.url + path, headers=self.auth) as resp:
            assert resp.status == 200, (path, resp.status, await resp.text())
            return await resp.json()

    async def post(self, session: aiohttp.ClientSession, path: str, body: dict | None = None) -> Any:
        async with session.post(self.url + path, headers=self.auth, json=body or {}) as resp:
            assert resp.status == 200, (path, resp.status, await resp.text())
            return await resp.json()

    def memory(self) -> dict[str, int]:
        return proc_memory_kib(self.pid)

    def stop(self, timeout: float = 60.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
