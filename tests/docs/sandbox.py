"""Where the docs' commands run: a folder that looks like a fresh checkout to
them, a home of its own, and, when a block talks to a daemon, the product's
daemon on the kit's FakeSynthesizer.

The folder holds links to the repository's files (``ishowtts_live/``,
``docs/``, ``tests/``, …) and a copy of ``config/ishowtts.toml`` that differs
from the shipped one in ``[control] port`` only (a free port, so two runs never
meet). ``$HOME`` is a folder inside it, so the state directory, the control
token and the Hugging Face cache are the defaults a new user has, and empty.
``HF_HUB_OFFLINE=1`` is set: no command of the docs may download anything.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.kit.daemon import free_port
from tests.docs.markdown import ROOT

LINKED = ("ishowtts_live", "docs", "tests", "voices", "systemd", ".ci", "pyproject.toml", "README.md")
COMMAND_TIMEOUT_S = 120
# Variables of the developer's or CI's shell that would change what a command prints.
CLEARED = ("ISHOWTTS_LIVE_CONFIG", "ISHOWTTS_LIVE_TOKEN", "STATE_DIRECTORY", "CACHE_DIRECTORY", "HF_HOME",
           "HF_HUB_CACHE", "HF_ENDPOINT", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME",
           "TORCHINDUCTOR_CACHE_DIR", "PULSE_SERVER", "PULSE_SINK", "COLUMNS", "FORCE_COLOR")


class Sandbox:
    def __init__(self, folder: Path):
        self.root = folder.resolve()
        self.home = self.root / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        for name in LINKED:
            (self.root / name).symlink_to(ROOT / name)
        self.port = free_port()
        shipped = (ROOT / "config" / "ishowtts.toml").read_text(encoding="utf-8")
        config, count = re.subn(r"(?ms)^(\[control\]\n(?:(?!^\[).)*?^port = )8765$", rf"\g<1>{self.port}", shipped)
        assert count == 1, "config/ishowtts.toml: [control] port = 8765 not found (the docs sandbox changes it)"
        (self.root / "config").mkdir()
        (self.root / "config" / "ishowtts.toml").write_text(config, encoding="utf-8")
        # the daemon's chat log; -o paths are read relative to the config file
        (self.root / "config" / "empty.jsonl").write_text("", encoding="utf-8")
        self.daemon: subprocess.Popen | None = None
        self.extra: tuple[str, ...] = ()
        self.daemon_log = self.root / "daemon.log"

    @property
    def state_dir(self) -> Path:
        return self.home / ".local" / "state" / "ishowtts-live"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in CLEARED}
        env.update(HOME=str(self.home), HF_HUB_OFFLINE="1", NO_COLOR="1", TERM="dumb", LANG="C.UTF-8",
                   PYTHONPATH=str(ROOT), PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
        return env

    def write(self, name: str, text: str) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    def run(self, command: str) -> tuple[int, str]:
        """``command`` in bash, in the sandbox: (exit status, output as the reader would see it)."""
        try:
            done = subprocess.run(["bash", "-c", command], cwd=self.root, env=self.env(), stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=COMMAND_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"`{command}` did not finish within {COMMAND_TIMEOUT_S} s") from exc
        text = done.stdout.decode("utf-8", errors="replace")
        return done.returncode, text.replace(str(self.home), "~").replace(f"{self.root}/", "").replace(
            str(self.root), ".")

    # ------------------------------------------------------------------ the daemon

    def ensure_daemon(self, fresh: bool = False, extra: tuple[str, ...] = ()) -> None:
        """The daemon for ``ctl``: the product's command line (``run``) on the
        FakeSynthesizer, with the sandbox's config and the ``extra`` arguments
        (``-o key=value``); replaying an empty chat log, so nothing changes
        unless a block changes it. ``fresh``: a new process on an empty state
        directory (no mutes, no counts)."""
        running = self.daemon is not None and self.daemon.poll() is None
        if running and not fresh and extra == self.extra:
            return
        self.stop_daemon()
        if fresh or extra != self.extra:
            shutil.rmtree(self.state_dir, ignore_errors=True)
        self.extra = extra
        log = self.daemon_log.open("ab")
        self.daemon = subprocess.Popen(
            [sys.executable, "-m", "tests.kit.fakedaemon", "run", "-o", "sources.replay.path=empty.jsonl",
             "-o", "daemon.exit_when_replay_ends=false", "-o", "audio.output=null", "-o", "daemon.shutdown_grace_s=0",
             *extra],
            cwd=self.root, env=self.env(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self._until_ready(60.0)

    def _until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.port}/healthz"
        while time.monotonic() < deadline:
            if self.daemon.poll() is not None:
                raise AssertionError(f"the docs daemon exited with {self.daemon.returncode}:\n"
                                     + self.daemon_log.read_text(errors="replace")[-3000:])
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    if json.load(answer).get("ready"):
                        return
            except (urllib.error.URLError, OSError, ValueError):
                pass
            time.sleep(0.05)  # polling the daemon's health until it answers ready
        raise AssertionError(f"the docs daemon was not ready within {timeout} s:\n"
                             + self.daemon_log.read_text(errors="replace")[-3000:])

    def stop_daemon(self) -> None:
        if self.daemon is None or self.daemon.poll() is not None:
            return
        self.daemon.send_signal(signal.SIGTERM)
        try:
            self.daemon.wait(30)
        except subprocess.TimeoutExpired:
            self.daemon.kill()
            self.daemon.wait(10)
