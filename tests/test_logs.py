"""Log lines as journald receives them: JSON only when stderr is not a TTY,
standard-library and warnings output included; readable lines on a TTY."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time

from tests import kit

# A child that logs the ways a running daemon does: structlog, standard-library
# loggers (aiohttp, asyncio with a traceback), a Python warning (torch's way),
# and a library with a console handler of its own (huggingface_hub's way),
# installed before configure and one installed after (adopted later).
CHILD = r"""
import logging, sys, warnings
early = logging.getLogger("huggingface_hub")
early.addHandler(logging.StreamHandler()); early.propagate = False
from ishowtts_live import logs
logs.configure("info", "auto")
import structlog
structlog.get_logger("ishowtts_live.app").info("ready", sources=["replay"])
logging.getLogger("aiohttp.access").warning("GET /healthz %s", 503)
try:
    1 / 0
except ZeroDivisionError:
    logging.getLogger("asyncio").error("Task exception was never retrieved", exc_info=True)
warnings.warn("TypedStorage is deprecated", UserWarning)
early.warning("Retrying in 1s [Retry 1/5].")
late = logging.getLogger("transformers")
late.addHandler(logging.StreamHandler()); late.propagate = False
logs.adopt_library_loggers()
late.warning("PyTorch was not found.")
logging.getLogger("torch").info("below the library threshold")
"""


def test_stdlib_and_warnings_are_json_lines_off_a_tty():
    """With stderr on a pipe (journald), every line is one JSON object: structlog's
    own, aiohttp's and asyncio's (traceback included), a warning, and the
    records of libraries that brought a console handler of their own."""
    r = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60, cwd=kit.ROOT)
    assert r.returncode == 0, r.stderr
    records = [json.loads(line) for line in r.stderr.splitlines()]  # raises on any plain-text line
    by_event = {rec["event"].split("\n")[0]: rec for rec in records}
    assert by_event["ready"]["level"] == "info" and by_event["ready"]["sources"] == ["replay"]
    assert by_event["GET /healthz 503"]["logger"] == "aiohttp.access"
    crash = by_event["Task exception was never retrieved"]
    assert crash["logger"] == "asyncio" and "ZeroDivisionError" in json.dumps(crash["exception"])
    assert any("TypedStorage is deprecated" in rec["event"] and rec["logger"] == "py.warnings" for rec in records)
    assert by_event["Retrying in 1s [Retry 1/5]."]["logger"] == "huggingface_hub"
    assert by_event["PyTorch was not found."]["level"] == "warning"
    assert len(records) == 6  # each once; the library's info line stays below the threshold


def test_a_tty_gets_readable_lines():
    """On a terminal the same records are console lines, not JSON."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=follower, cwd=kit.ROOT)
    os.close(follower)
    out = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    assert proc.wait(timeout=30) == 0
    text = out.decode("utf-8", "replace")
    assert "ready" in text and "GET /healthz 503" in text
    assert not any(line.lstrip().startswith("{") for line in text.splitlines() if line.strip())
