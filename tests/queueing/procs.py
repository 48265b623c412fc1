"""Starting and reading journal_child processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
def child_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "tests.queueing.journal_child", *args]


# Capabilities that let root ignore file permissions (linux/capability.h).
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_SETPCAP = 1, 2, 8
PR_CAPBSET_DROP = 24


def can_drop_dac() -> bool:
    """Whether this root process may take the permission override away from a child."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> CAP_SETPCAP & 1)
    return False


def drop_dac_override() -> None:
    """preexec_fn: root ignores directory permissions, so a read-only test
    takes that power away from its child (from the bounding set, so it stays
    gone across exec) when the suite runs as root."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def read_lines(path: Path) -> list[dict]:
    """The complete JSON lines of a churn log (a line cut off by the kill is ignored)."""
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")[:-1]  # whatever follows the last newline is incomplete
    return [json.loads(line) for line in lines]


def wait_for_ready(path: Path, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text(encoding="utf-8").startswith('{"ev": "ready"}\n'):
            return
        if proc.poll() is not None:
            raise AssertionError(f"child exited with {proc.returncode} before it was ready")
        time.sleep(0.01)
    raise AssertionError("child did not get ready in time")


class Served:
    """A `serve` child: send() one command, get its answer (with a timeout)."""

    def __init__(self, directory: Path, *, unprivileged: bool = False):
        self.proc = subprocess.Popen(
            child_cmd("serve", str(directory)), cwd=ROOT, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=drop_dac_override if unprivileged and os.geteuid() == 0 else None)
        assert self._answer() == {"ev": "ready"}

    def _answer(self, timeout: float = 60.0) -> dict:
        import selectors

        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            self.proc.kill()
            raise AssertionError("the journal child did not answer in time")
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"the journal child died: {self.proc.stderr.read()}")
        return json.loads(line)

    def send(self, op: str, **fields) -> dict:
        self.proc.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.proc.stdin.flush()
        return self._answer()

    def close(self) -> str:
        """Close the journal and end the child; returns what it logged."""
        assert self.send("close") == {"ok": True}
        _, err = self.proc.communicate(timeout=60)
        assert self.proc.returncode == 0, err
        return err

    def kill(self) -> str:
        self.proc.kill()
        _, err = self.proc.communicate(timeout=60)
        return err
