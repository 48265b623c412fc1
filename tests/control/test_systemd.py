"""The systemd units: valid for systemd itself, and hardened without hiding
the sound card or the GPU."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import kit

UNITS = kit.ROOT / "systemd"
SYSTEM = UNITS / "ishowtts-live.service"
USER = UNITS / "ishowtts-live.user.service"
# The ExecStart paths of a real install, and what stands in for them here.
INSTALLED = {SYSTEM: "/opt/ishowtts-live/.venv/bin/ishowtts-live", USER: "%h/.local/share/ishowtts-live/venv/bin/ishowtts-live"}

pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd is not installed")


def settings(path: Path) -> dict[str, list[str]]:
    """Key → every value it is given (systemd allows repeats)."""
    out: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def installable(unit: Path, tmp_path: Path) -> Path:
    """The unit with its ExecStart pointed at this checkout, so verify can resolve it."""
    text = unit.read_text()
    assert INSTALLED[unit] in text
    here = tmp_path / "ishowtts-live.service"
    here.write_text(text.replace(INSTALLED[unit], f"{sys.executable} -m ishowtts_live"))
    return here


def analyze(*args: str, tmp_path: Path, user: bool) -> subprocess.CompletedProcess:
    env = None
    if user:
        run = tmp_path / "xdg-run"
        run.mkdir(mode=0o700, exist_ok=True)
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(run)}
    cmd = ["systemd-analyze", *(["--user"] if user else []), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)


@pytest.mark.parametrize("unit", [SYSTEM, USER], ids=["system", "user"])
def test_unit_passes_systemd_analyze_verify(unit, tmp_path):
    """`systemd-analyze verify` accepts the unit with no error and no warning."""
    r = analyze("verify", str(installable(unit, tmp_path)), tmp_path=tmp_path, user=unit is USER)
    assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), r.stdout + r.stderr


@pytest.mark.parametrize("unit", [SYSTEM, USER], ids=["system", "user"])
def test_unit_restarts_on_failure_but_not_on_config_errors(unit):
    """Both units: Type=notify with a watchdog, restart on failure, never on exit 78."""
    s = settings(unit)
    assert s["Type"] == ["notify"] and int(s["WatchdogSec"][0]) > 0
    assert s["Restart"] == ["on-failure"] and s["RestartPreventExitStatus"] == ["78"]
    assert re.search(r"ishowtts-live run( |$)", s["ExecStart"][0])
    assert s["StateDirectory"] == ["ishowtts-live"] and s["CacheDirectory"] == ["ishowtts-live"]


def test_system_unit_is_hardened_but_reaches_the_gpu_and_sound_card(tmp_path):
    """Dedicated user in audio+video, no PrivateDevices/MemoryDenyWriteExecute/closed
    device policy, and an exposure score systemd rates OK."""
    s = settings(SYSTEM)
    assert s["User"] == ["ishowtts"] and {"audio", "video"} <= set(s["SupplementaryGroups"][0].split())
    assert s["RuntimeDirectory"] == ["ishowtts-live"]
    assert s.get("PrivateDevices", ["no"]) == ["no"]
    assert "MemoryDenyWriteExecute" not in s and "PrivateUsers" not in s
    assert s.get("DevicePolicy", ["auto"]) == ["auto"]
    for key in ("NoNewPrivileges", "PrivateTmp", "ProtectKernelModules", "RestrictSUIDSGID", "LockPersonality"):
        assert s[key] == ["yes"], key
    assert s["ProtectSystem"] == ["strict"]
    r = analyze("security", "--offline=true", str(installable(SYSTEM, tmp_path)), tmp_path=tmp_path, user=False)
    score = float(re.search(r"Overall exposure level for \S+: ([\d.]+)", r.stdout).group(1))
    assert score <= 3.0, r.stdout


def test_user_unit_plays_through_the_desktop_sound_server():
    """The user unit (a Jetson desktop with OBS) starts after PipeWire's and
    PulseAudio's sockets and services, so a lingering start at boot finds the
    sound server, and sends ALSA's pulse device to the ishowtts sink."""
    s = settings(USER)
    after = " ".join(s["After"]).split()
    assert {"pipewire.socket", "pipewire-pulse.socket", "pulseaudio.socket", "pulseaudio.service",
            "pipewire-pulse.service"} <= set(after)
    assert "PULSE_SINK=ishowtts" in s["Environment"]
    assert s["WantedBy"] == ["default.target"] and s["ConditionUser"] == ["!@system"]
