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


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """What the daemon may rebuild: ``$CACHE_DIRECTORY`` (systemd's
    ``CacheDirectory=``; the first of a colon-separated list), else
    ``$XDG_CACHE_HOME/ishowtts-live``, else ``~/.cache/ishowtts-live``."""
    env = os.environ if env is None else env
    systemd = env.get("CACHE_DIRECTORY", "").split(":")[0]
    if systemd:
        return Path(systemd)
    xdg = env.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / APP_NAME


# torch.compile's caches (inductor's FX graphs, generated C++/Triton code and the
# built kernels) and Triton's own. torch's default is a folder in /tmp, which the
# system unit's PrivateTmp= empties at every start: the next start would compile
# everything again (minutes on a Jetson).
KERNEL_CACHES = (("TORCHINDUCTOR_CACHE_DIR", "inductor"), ("TRITON_CACHE_DIR", "triton"))


def kernel_caches(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Each kernel cache's variable → its folder: the environment's value when
    you set it, else a folder of :func:`cache_dir`. Importing f5-tts already
    makes torch write its ``/tmp`` default into ``TORCHINDUCTOR_CACHE_DIR``;
    that value counts as unset."""
    env = os.environ if env is None else env
    return {var: value if (value := env.get(var)) and value != _torch_default(var) else str(cache_dir(env) / sub)
            for var, sub in KERNEL_CACHES}


def _torch_default(var: str) -> str:
    # torch._inductor's default_cache_dir(), computed the same way without importing torch
    if var != "TORCHINDUCTOR_CACHE_DIR":
        return ""
    import getpass
    import re
    import tempfile

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return os.path.join(tempfile.gettempdir(), "torchinductor_" + re.sub(r'[\\/:*?"<>|]', "_", user))


def use_kernel_caches() -> dict[str, str]:
    """Point torch and Triton at :func:`kernel_caches` (they read these
    variables when they first compile, so this runs before that)."""
    caches = kernel_caches()
    os.environ.update(caches)
    return caches
