"""Where the daemon reads and writes, when the config does not say.

Everything the daemon writes (journal, control token, the WAV fallback) goes
to the state directory, never next to the config file: a system install keeps
its config in ``/etc``, which stays read-only. What it reads by default (the
built-in voice, the demo chat log) ships inside the package.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

APP_NAME = "ishowtts-live"
PACKAGE_DIR = Path(__file__).resolve().parent
SAMPLE_CHAT = PACKAGE_DIR / "data" / "sample-chat.jsonl"
WAV_FILE_NAME = "ishowtts.wav"


def state_dir(configured: str = "", env: Mapping[str, str] | None = None) -> Path:
    """``state.dir`` when set, else ``$STATE_DIRECTORY`` (systemd's
    ``StateDirectory=``; the first of a colon-separated list), else
    ``$XDG_STATE_HOME/ishowtts-live``, else ``~/.local/state/ishowtts-live``."""
    env = os.environ if env is None else env
    if configured:
        return Path(configured).expanduser()
    systemd = env.get("STATE_DIRECTORY", "").split(":")[0]
    if systemd:
        return Path(systemd)
    xdg = env.get("XDG_STATE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "state"
    return base / APP_NAME

