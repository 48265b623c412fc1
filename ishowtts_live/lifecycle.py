"""Process life: signals, systemd notifications and the watchdog.

* A signal handler only records intent: the first SIGTERM/SIGINT sets the
  shutdown event (sources stop, the utterance playing may finish within the
  grace period); a second one forces an immediate stop.
* ``READY=1`` is sent after warm-up, ``STOPPING=1`` when shutdown begins, and
  ``WATCHDOG=1`` from a task on the event loop itself — a wedged loop stops
  the pings, so systemd restarts a daemon that hangs, not one that is busy.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket

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
