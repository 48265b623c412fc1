"""Independent clients from PyPI, run in their own venvs against the fake servers."""

from __future__ import annotations

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


__all__ = ["peer_python", "peer_env", "ROOT", "sys"]
