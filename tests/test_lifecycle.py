from __future__ import annotations

import asyncio
import os
import signal
import socket

from ishowtts_live.lifecycle import Notifier, Shutdown, Startup
from tests.kit import until, wait


def notify_socket(tmp_path):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    return sock, path


def test_notifier_sends_ready_status_and_stopping(tmp_path):
    """READY=1 (with a status) and STOPPING=1 arrive as sd_notify datagrams."""
    sock, path = notify_socket(tmp_path)
    n = Notifier(path)
    n.ready("speaking")
    n.stopping()
    assert sock.recv(1024) == b"READY=1\nSTATUS=speaking"
    assert sock.recv(1024) == b"STOPPING=1"


def test_startup_reports_each_stage_and_step_and_extends_the_timeout(tmp_path):
    """Every stage and warm-up step is a STATUS= line that extends systemd's
    start timeout by the step allowance; READY=1 ends the start, STOPPING=1
    begins the stop; the phase and its description follow."""
    sock, path = notify_socket(tmp_path)
    startup = Startup(Notifier(path), step_timeout_s=90)
    seen = []
    startup.listeners.append(lambda s: seen.append(s.describe()))
    assert startup.phase == "starting"
    startup.stage("loading the model")
    startup.progress(3, 40, "batch 1, 750 frames")
    assert sock.recv(1024) == b"STATUS=starting: loading the model\nEXTEND_TIMEOUT_USEC=90000000"
    assert sock.recv(1024) == b"STATUS=starting: warm-up 3/40: batch 1, 750 frames\nEXTEND_TIMEOUT_USEC=90000000"
    assert seen == ["loading the model", "warm-up 3/40: batch 1, 750 frames"]
    startup.ready("speaking")
    assert sock.recv(1024) == b"READY=1\nSTATUS=speaking" and startup.phase == "ready"
    startup.stopping()
    assert sock.recv(1024) == b"STOPPING=1" and startup.describe() == "stopping"


def test_notifier_is_silent_without_systemd():
    """Outside systemd (no NOTIFY_SOCKET) nothing is sent and nothing fails."""
    assert Notifier("").notify("READY=1") is False


async def test_watchdog_pings_at_half_the_interval(tmp_path, monkeypatch):
    """WATCHDOG=1 is sent every WATCHDOG_USEC/2 while healthy, and stops when not."""
    sock, path = notify_socket(tmp_path)
    sock.setblocking(False)
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    healthy, turns = [True], [0]

    def health() -> bool:
        turns[0] += 1
        return healthy[0]

    n = Notifier(path)
    assert abs(n.watchdog_interval() - 0.1) < 1e-9
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(n.watchdog(health))
    pings = [await wait(loop.sock_recv(sock, 64), 5) for _ in range(2)]
    healthy[0] = False
    flipped = turns[0]
    # three more turns of the watchdog's loop, unhealthy: the time to wait is the loop's own
    await until(lambda: turns[0] >= flipped + 3, 5, "three watchdog turns while unhealthy")
    task.cancel()
    late = []
    while True:
        try:
            late.append(sock.recv(64))
        except BlockingIOError:
            break
    assert set(pings + late) == {b"WATCHDOG=1"}
    assert len(late) <= 1  # one may have left in the turn the flag changed; none after


def test_watchdog_off_for_another_pid(monkeypatch):
    """A WATCHDOG_PID that is not ours means the watchdog is not ours to feed."""
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    monkeypatch.setenv("WATCHDOG_PID", "1")
    assert Notifier("/x").watchdog_interval() is None


async def test_first_signal_requests_second_forces():
    """SIGTERM once: graceful stop requested; twice: forced."""
    s = Shutdown()
    s.install()
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        await wait(s.requested.wait(), 2)
        assert not s.forced.is_set() and s.signal_name == "SIGTERM"
        os.kill(os.getpid(), signal.SIGTERM)
        await wait(s.forced.wait(), 2)
    finally:
        s.uninstall()
