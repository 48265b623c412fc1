"""Real Triton Inference Servers on loopback for the tests: ``ishowtts-live
serve`` on the tiny model, or the upstream-contract stand-in
(``tests/synth/upstream_triton.py``), each in its own process, waited for
on Triton's readiness endpoint."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.kit.daemon import free_port

MODEL = "f5_tts"


@dataclass
class Ports:
    grpc: int = field(default_factory=free_port)
    http: int = field(default_factory=free_port)
    metrics: int = field(default_factory=free_port)

    @property
    def grpc_url(self) -> str:
        return f"grpc://127.0.0.1:{self.grpc}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http}"

    def serve_overrides(self) -> list[str]:
        return ["serve.address=127.0.0.1", f"serve.grpc_port={self.grpc}", f"serve.http_port={self.http}",
                f"serve.metrics_port={self.metrics}"]


def ready(ports: Ports) -> bool:
    """Triton answers 200 on the model's readiness endpoint."""
    try:
        with urllib.request.urlopen(f"{ports.http_url}/v2/models/{MODEL}/ready", timeout=2) as reply:
            return reply.status == 200
    except (urllib.error.URLError, OSError):
        return False


class TritonProcess:
    """A server process; :meth:`start` returns once its model is ready."""

    def __init__(self, args: list[str], ports: Ports, log: Path):
        self.args, self.ports, self.log = args, ports, log
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 240.0) -> TritonProcess:
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                     cwd=Path(__file__).resolve().parent.parent.parent)
        out.close()
        deadline = time.monotonic() + timeout
        while not ready(self.ports):
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited ({self.proc.returncode}):\n{self.tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"the server was not ready within {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.2)
        return self

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL to the whole process group (tritonserver and its Python stubs too)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)

    def stop(self, timeout: float = 60.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None


def upstream_server(ports: Ports, folder: Path, delay: float = 0.0) -> TritonProcess:
    """The upstream-contract stand-in (no extras); its requests are logged to ``folder/requests.jsonl``."""
    args = [sys.executable, "-m", "tests.synth.upstream_triton", str(ports.grpc), str(ports.http),
            str(ports.metrics), str(folder / "requests.jsonl"), "--delay", str(delay)]
    return TritonProcess(args, ports, folder / "upstream-triton.log")


def serve_server(config: Path, ports: Ports, folder: Path, extra: list[str] | tuple[str, ...] = ()) -> TritonProcess:
    """``ishowtts-live serve`` with ``config`` (the tiny model) on ``ports``."""
    args = [sys.executable, "-m", "ishowtts_live", "serve", "--config", str(config)]
    for item in [*ports.serve_overrides(), *extra]:
        args += ["-o", item]
    return TritonProcess(args, ports, folder / "serve.log")


def metric(ports: Ports, name: str, model: str = MODEL) -> float:
    """One counter of Triton's Prometheus metrics for ``model`` (0 when absent)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{ports.metrics}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    total = 0.0
    for match in re.finditer(rf'^{name}{{([^}}]*)}} ([0-9.e+]+)$', text, re.M):
        if f'model="{model}"' in match.group(1):
            total += float(match.group(2))
    return total
