"""Reliability suite (issue 7). The default run is the short version; ``pytest
--long tests/reliability`` runs the full one whose figures docs/RELIABILITY.md
reports."""

from __future__ import annotations

import os


def is_long() -> bool:
    return os.environ.get("ISHOWTTS_LONG") == "1"


def scale(short: int, long: int) -> int:
    """A case count or duration: ``short`` in the default run, ``long`` with --long."""
    return long if is_long() else short
