"""Independent clients from PyPI, run in their own venvs against the fake servers."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def peer_python(name: str) -> str:
    """The python of peer venv ``name`` (built by tests/peers/setup.sh, which
    tests/run calls). Missing: skip locally, fail in CI."""
    base = Path(os.environ.get("ISHOWTTS_PEERS", ROOT / ".venv-peers"))
    python = base / name / "bin" / "python"
    if not python.exists():
        message = f"peer venv {python.parent.parent} missing: run bash tests/peers/setup.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return str(python)


def peer_env() -> dict[str, str]:
    """Environment for a peer process: no inherited venv or project paths."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    return env


class Peer:
    """A peer client process that prints one JSON record per line."""

    def __init__(self, proc: asyncio.subprocess.Process):
        self.proc = proc

    async def next(self, event: str, cmd: str | None = None, timeout: float = 30.0) -> dict:
        """The next record of kind ``event`` (and command ``cmd``); others before it are skipped."""

        async def find():
            while True:
                raw = await self.proc.stdout.readline()
                if not raw:
                    err = (await self.proc.stderr.read()).decode(errors="replace")[-2000:]
                    raise AssertionError(f"peer exited before {event!r}: {err}")
                record = json.loads(raw)
                if record["event"] == event and (cmd is None or record.get("cmd") == cmd):
                    return record

        return await asyncio.wait_for(find(), timeout)

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
        await asyncio.wait_for(self.proc.wait(), 10)


__all__ = ["Peer", "peer_python", "peer_env", "ROOT", "sys"]
