"""Shared by the fault tests (issue 7 §2): the daemon's log as entries and
the figures line (polling with a deadline is the kit's ``until``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import structlog

from tests.reliability import is_long


class LogTap:
    """Every structlog entry the daemon writes (all threads), as dicts."""

    def __init__(self) -> None:
        self._cm = structlog.testing.capture_logs()
        self.entries: list[dict[str, Any]] = []

    def __enter__(self) -> "LogTap":
        self.entries = self._cm.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._cm.__exit__(*exc)

    def events(self, name: str) -> list[dict[str, Any]]:
        return [e for e in list(self.entries) if e.get("event") == name]

    def starting(self, prefix: str) -> list[dict[str, Any]]:
        return [e for e in list(self.entries) if str(e.get("event", "")).startswith(prefix)]

    def problems(self) -> list[dict[str, Any]]:
        """Warning and error lines."""
        return [e for e in list(self.entries) if e.get("log_level") in ("warning", "error", "critical")]

    def tracebacks(self) -> list[dict[str, Any]]:
        """Lines at info or above that carry a traceback (debug lines are off by default)."""
        return [e for e in list(self.entries) if (e.get("exc_info") or e.get("exception"))
                and e.get("log_level") != "debug"]


def report(name: str, figures: dict[str, Any]) -> None:
    """Print ``FAULTS {json}`` and, with ISHOWTTS_FIGURES set, write faults-<name>.json there."""
    figures = {"fault": name, **figures, "long": is_long()}
    print("FAULTS", json.dumps(figures, ensure_ascii=False))
    out = os.environ.get("ISHOWTTS_FIGURES")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        Path(out, f"faults-{name}.json").write_text(json.dumps(figures, ensure_ascii=False, indent=1))
