"""The system install of docs/control.md, followed literally into a temporary
root: the project built and installed (not editable) into
``/opt/ishowtts-live/.venv``, only ``config/ishowtts.toml`` copied to
``/etc/ishowtts-live/``, systemd's ``STATE_DIRECTORY``, the service user's
empty home and a working directory that has nothing of the project."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests import kit

pytestmark = pytest.mark.slow


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` with its size and modification time."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


def _unit_environment(cache_root: Path) -> dict[str, str]:
    """The system unit's Environment= lines, with %C (the cache root) filled in."""
    unit = (kit.ROOT / "systemd" / "ishowtts-live.service").read_text(encoding="utf-8")
    pairs = [line.removeprefix("Environment=").split("=", 1) for line in unit.splitlines()
             if line.startswith("Environment=")]
    return {key: value.replace("%C", str(cache_root)) for key, value in pairs}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """``/opt/ishowtts-live/.venv`` inside a temporary root, holding the wheel
    that `pip install .` builds; the other dependencies come from the test
    environment's site-packages (a .pth line), the package itself does not."""
    root = tmp_path_factory.mktemp("root")
    wheels = root / "build"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(wheels), str(kit.ROOT)], check=True, timeout=300, capture_output=True)
    target = root / "opt" / "ishowtts-live" / ".venv"
    venv.EnvBuilder(with_pip=False).create(target)
    site = Path(subprocess.run([str(target / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True, timeout=60).stdout.strip())
    (site / "test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(target / "bin" / "python"), "install", "-q",
                    "--no-deps", "--no-index", *map(str, wheels.glob("*.whl"))],
                   check=True, timeout=300, capture_output=True)
    return root


def test_documented_system_install_checks_its_config_and_speaks(installed, tiny_weights):
    """With only the config copied to /etc, `config check` passes and `say`
    speaks in the built-in default voice; the demo chat comes from the installed
    package, the WAV fallback points into the state directory, and nothing is
    written to /etc, the home or the working directory. Log lines are JSON."""
    root = installed
    etc = root / "etc" / "ishowtts-live"
    etc.mkdir(parents=True, exist_ok=True)
    shutil.copy(kit.ROOT / "config" / "ishowtts.toml", etc / "ishowtts.toml")  # the one file the docs copy
    state, cache = root / "var" / "lib" / "ishowtts-live", root / "var" / "cache" / "ishowtts-live"
    home, elsewhere, out = root / "home" / "ishowtts", root / "srv" / "elsewhere", root / "tmp"
    for folder in (state, cache, home, elsewhere, out):
        folder.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "ISHOWTTS_", "HF_", "PYTHON", "MPL"))}
    env.update(_unit_environment(root / "var" / "cache"))
    env.update(HOME=str(home), STATE_DIRECTORY=str(state), CACHE_DIRECTORY=str(cache),
               HF_HUB_OFFLINE="1")  # what systemd adds to the unit's own lines; no network here
    exe = str(root / "opt" / "ishowtts-live" / ".venv" / "bin" / "ishowtts-live")
    config = str(etc / "ishowtts.toml")
    before = _tree(root / "etc")

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([exe, *args], capture_output=True, text=True, timeout=300, env=env, cwd=elsewhere)

    check = cli("config", "check", "-c", config)
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == f"{config}: ok"

    shown = cli("config", "show", "-c", config).stdout
    package = root / "opt" / "ishowtts-live" / ".venv" / "lib"
    assert f'wav_path = "{state / "ishowtts.wav"}"' in shown
    replay = next(line for line in shown.splitlines() if line.startswith("path = ") and "sample-chat" in line)
    assert replay.startswith(f'path = "{package}') and replay.endswith('/ishowtts_live/data/sample-chat.jsonl"')

    ckpt, vocos = tiny_weights
    arch = [f"-o engine.arch.{k}={v}" for k, v in kit.TINY_ARCH.items()]
    wav = out / "hello.wav"
    said = cli("say", "大家好，欢迎来到直播间。", "-c", config, "-o", f"engine.checkpoint={ckpt}",
               "-o", f"engine.vocoder={vocos}", *" ".join(arch).split(), "--out", str(wav), "--seed", "1")
    assert said.returncode == 0, said.stderr
    audio, rate = sf.read(wav, dtype="float32")
    assert rate == 24000 and len(audio) > rate // 2 and np.isfinite(audio).all() and np.abs(audio).max() > 1e-3
    for line in said.stderr.splitlines():  # the CLI's own status lines, else structlog JSON
        if not line.startswith("ishowtts-live: "):
            json.loads(line)

    assert _tree(root / "etc") == before
    assert not any(home.iterdir()) and not any(elsewhere.iterdir())
