"""Process life: signals, systemd notifications, the watchdog, and where
the daemon is between start and stop.

* A signal handler only records intent: the first SIGTERM/SIGINT sets the
  shutdown event (sources stop, the utterance playing may finish within the
  grace period); a second one forces an immediate stop.
* While starting, every stage and warm-up step is a ``STATUS=`` line
  (``systemctl status`` shows it) with ``EXTEND_TIMEOUT_USEC=``, so a slow
  device is not killed at ``TimeoutStartSec`` while it makes progress.
* ``READY=1`` is sent after warm-up, ``STOPPING=1`` when shutdown begins, and
  ``WATCHDOG=1`` from a task on the event loop itself — a wedged loop stops
  the pings, so systemd restarts a daemon that hangs, not one that is busy.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from typing import Callable, Literal

import structlog

log = structlog.get_logger(__name__)


class Notifier:
    """sd_notify(3) without libsystemd: one datagram per message to $NOTIFY_SOCKET."""

    def __init__(self, address: str | None = None):
        address = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):  # abstract namespace
            address = "\0" + address[1:]
        self.address = address

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def notify(self, *lines: str) -> bool:
        if not self.address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self.address)
                sock.sendall("\n".join(lines).encode())
            return True
        except OSError as exc:
            log.warning("systemd notification failed", error=str(exc))
            return False

    def ready(self, status: str = "") -> None:
        self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def stopping(self) -> None:
        self.notify("STOPPING=1")

    def status(self, text: str) -> None:
        self.notify(f"STATUS={text}")

    def watchdog_interval(self) -> float | None:
        """Half of systemd's WatchdogSec, or None when no watchdog is set for us."""
        usec = os.environ.get("WATCHDOG_USEC")
        pid = os.environ.get("WATCHDOG_PID")
        if not usec or (pid and pid != str(os.getpid())):
            return None
        try:
            return max(0.05, int(usec) / 1e6 / 2)
        except ValueError:
            return None

    async def watchdog(self, healthy=lambda: True) -> None:
        """Ping while the loop runs and ``healthy()`` holds (run as a task)."""
        interval = self.watchdog_interval()
        if interval is None:
            return
        while True:
            if healthy():
                self.notify("WATCHDOG=1")
            await asyncio.sleep(interval)


Phase = Literal["starting", "ready", "stopping"]


class Startup:
    """The daemon's phase and, while it starts, how far it got: what the
    control API shows (``/healthz``, ``ctl status``) and what systemd is told.

    :meth:`stage` names a part of the start without a count (opening the
    audio output, loading the model); :meth:`progress` is a warm-up step
    (the synthesizer's ``WarmupProgress``). Each one extends systemd's start
    timeout by ``step_timeout_s`` from now: a timeout then means one step
    hung, not that the whole warm-up was long."""

    def __init__(self, notifier: Notifier, step_timeout_s: float = 600.0):
        self.notifier = notifier
        self.step_timeout_s = step_timeout_s
        self.phase: Phase = "starting"
        self.step = 0
        self.steps = 0
        self.what = "starting"
        self.listeners: list[Callable[[Startup], None]] = []  # told of every stage and step
        self._t0 = time.monotonic()

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self._t0

    def describe(self) -> str:
        """``warm-up 12/40: batch 1, 750 frames`` while warming up, the stage before that."""
        if self.phase != "starting":
            return self.phase
        return f"warm-up {self.step}/{self.steps}: {self.what}" if self.steps else self.what

    def stage(self, what: str) -> None:
        self.step = self.steps = 0
        self.what = what
        self._changed()

    def progress(self, step: int, steps: int, what: str) -> None:
        self.step, self.steps, self.what = step, steps, what
        self._changed()

    def ready(self, status: str = "") -> None:
        self.phase = "ready"
        self.notifier.ready(status)

    def stopping(self) -> None:
        self.phase = "stopping"
        self.notifier.stopping()

    def _changed(self) -> None:
        self.notifier.notify(f"STATUS=starting: {self.describe()}",
                             f"EXTEND_TIMEOUT_USEC={int(self.step_timeout_s * 1e6)}")
        for listener in self.listeners:
            listener(self)


class Shutdown:
    """Signal handling: graceful on the first signal, forced on the second."""

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self.forced = asyncio.Event()
        self.signal_name = ""
        self._loop: asyncio.AbstractEventLoop | None = None

    def install(self) -> None:
        self._loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._loop.add_signal_handler(sig, self._on_signal, sig)

    def uninstall(self) -> None:
        if self._loop is None:
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._loop.remove_signal_handler(sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        if self.requested.is_set():
            log.warning("second signal: stopping now", signal=sig.name)
            self.forced.set()
            return
        self.signal_name = sig.name
        log.info("shutdown requested", signal=sig.name)
        self.requested.set()

    def request(self, why: str = "requested") -> None:
        if not self.requested.is_set():
            self.signal_name = why
            self.requested.set()
