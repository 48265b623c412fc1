"""Where the kernel caches go: the cache directory, so compiled kernels outlive
the process (and the system unit's private /tmp)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ishowtts_live import paths
from tests import kit


def test_kernel_caches_follow_the_cache_directory_unless_you_set_them(tmp_path):
    """systemd's CACHE_DIRECTORY (the first of a list) wins over XDG_CACHE_HOME,
    which wins over the home; a variable you set is kept, while torch's own
    /tmp default (which importing f5-tts writes into the environment) is not."""
    unit = {"CACHE_DIRECTORY": f"{tmp_path}/unit:{tmp_path}/other", "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    assert paths.kernel_caches(unit) == {"TORCHINDUCTOR_CACHE_DIR": f"{tmp_path}/unit/inductor",
                                         "TRITON_CACHE_DIR": f"{tmp_path}/unit/triton"}
    xdg = {"XDG_CACHE_HOME": str(tmp_path / "xdg"), "HOME": "/nowhere"}
    assert paths.kernel_caches(xdg)["TORCHINDUCTOR_CACHE_DIR"] == f"{tmp_path}/xdg/ishowtts-live/inductor"
    torch_default = paths._torch_default("TORCHINDUCTOR_CACHE_DIR")
    assert os.path.basename(torch_default).startswith("torchinductor_")
    assert paths.kernel_caches({**unit, "TORCHINDUCTOR_CACHE_DIR": torch_default})[
        "TORCHINDUCTOR_CACHE_DIR"] == f"{tmp_path}/unit/inductor"
    mine = {**unit, "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "mine"), "TRITON_CACHE_DIR": str(tmp_path / "t")}
    assert paths.kernel_caches(mine) == {"TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "mine"),
                                         "TRITON_CACHE_DIR": str(tmp_path / "t")}


PROBE = """
import json, os, sys
from ishowtts_live.app import load_checked
from ishowtts_live.synth.engine import F5Engine
try:  # torch 2.6+
    from torch._inductor.runtime.cache_dir_utils import cache_dir, default_cache_dir
except ImportError:  # torch 2.5 (JetPack 6.1)
    from torch._inductor.runtime.runtime_utils import cache_dir, default_cache_dir

F5Engine.load(load_checked(sys.argv[1]))
# Triton's own lookup (and inductor's, before it sets a default) reads the variable
print(json.dumps({"inductor": cache_dir(), "triton": os.environ.get("TRITON_CACHE_DIR"),
                  "torch_default": default_cache_dir()}))
"""


def test_the_engine_points_torch_at_the_cache_directory(tiny_config, tmp_path):
    """Loading the engine (in a fresh process, as the daemon does) makes torch's
    own cache lookups answer the unit's CacheDirectory=, not torch's /tmp
    default, for inductor and for Triton."""
    env = {k: v for k, v in os.environ.items() if k not in ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR")}
    env["CACHE_DIRECTORY"] = str(tmp_path / "cache")
    r = subprocess.run([sys.executable, "-c", PROBE, str(tiny_config)], capture_output=True, text=True, env=env,
                       cwd=kit.ROOT, timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    seen = json.loads(r.stdout.splitlines()[-1])
    assert seen["inductor"] == str(tmp_path / "cache" / "inductor") != seen["torch_default"]
    assert seen["triton"] == str(tmp_path / "cache" / "triton")
    assert Path(seen["inductor"]).is_dir()  # torch made it there
