"""A real PulseAudio server with a null sink named ``ishowtts``, private to
the test session, and a recorder for its monitor (what OBS would capture)."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np

SINK = "ishowtts"


class PulseServer:
    def __init__(self, runtime_dir: Path):
        self.dir = runtime_dir
        self.socket = runtime_dir / "native"
        self.server = f"unix:{self.socket}"
        self.proc: subprocess.Popen | None = None

    @property
    def env(self) -> dict[str, str]:
        """What a client process needs to reach this server (ALSA's pulse plugin reads it)."""
        return {"PULSE_SERVER": self.server, "PULSE_SINK": SINK}

    @staticmethod
    def available() -> bool:
        return all(shutil.which(b) for b in ("pulseaudio", "pactl", "parec"))

    def start(self) -> PulseServer:
        self.dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "XDG_RUNTIME_DIR": str(self.dir), "HOME": str(self.dir), "PULSE_RUNTIME_PATH": str(self.dir)}
        self.proc = subprocess.Popen(
            ["pulseaudio", "--daemonize=no", "-n", "--exit-idle-time=-1", "--disallow-exit=yes",
             "--use-pid-file=no", "--disable-shm=yes", "--log-target=stderr", "--log-level=error",
             f"--load=module-native-protocol-unix socket={self.socket} auth-anonymous=1",
             f"--load=module-null-sink sink_name={SINK} rate=48000",
             "--load=module-always-sink"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pulseaudio exited: {self.proc.stderr.read().decode(errors='replace')}")
            if self.socket.exists() and self.pactl("info").returncode == 0:
                self.pactl("set-default-sink", SINK)
                return self
            time.sleep(0.1)
        raise RuntimeError("pulseaudio did not come up within 15 s")

    def pactl(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["pactl", "-s", self.server, *args], capture_output=True, text=True, timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def recorder(self, rate: int = 24000) -> Recorder:
        return Recorder(self, rate)


class Recorder:
    """``parec`` on the sink's monitor, as float32 mono at ``rate``; returns
    only once samples are flowing, so nothing played afterwards is missed."""

    def __init__(self, server: PulseServer, rate: int):
        self.rate = rate
        self.proc = subprocess.Popen(
            ["parec", "-s", server.server, "-d", f"{SINK}.monitor", "--raw", "--format=float32le",
             f"--rate={rate}", "--channels=1", "--latency-msec=20"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 10
        while sum(map(len, self._chunks)) < rate * 4 // 10:  # 100 ms of samples
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("parec delivered no samples")
            time.sleep(0.02)

    def _read(self) -> None:
        while chunk := self.proc.stdout.read1(65536):
            self._chunks.append(chunk)

    def stop(self) -> np.ndarray:
        time.sleep(0.3)
        self.proc.terminate()
        self.proc.wait(10)
        self._reader.join(10)
        data = b"".join(self._chunks)
        return np.frombuffer(data[: len(data) // 4 * 4], dtype="<f4")


def active_seconds(audio: np.ndarray, rate: int, threshold: float = 1e-3, window_s: float = 0.01) -> float:
    """Seconds of ``audio`` between its first and last non-silent window."""
    win = int(rate * window_s)
    n = len(audio) // win
    if n == 0:
        return 0.0
    rms = np.sqrt(np.mean(audio[: n * win].reshape(n, win) ** 2, axis=1))
    loud = np.flatnonzero(rms > threshold)
    return 0.0 if loud.size == 0 else (loud[-1] - loud[0] + 1) * window_s


def loud_seconds(audio: np.ndarray, rate: int, threshold: float = 1e-3, window_s: float = 0.01) -> float:
    """Seconds of ``audio`` that are not silent: unlike active_seconds, gaps
    (a loaded machine synthesizing slower than real time) do not count."""
    win = int(rate * window_s)
    n = len(audio) // win
    if n == 0:
        return 0.0
    rms = np.sqrt(np.mean(audio[: n * win].reshape(n, win) ** 2, axis=1))
    return float(np.count_nonzero(rms > threshold)) * window_s
