from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests import kit


def test_say_writes_a_plausible_wav(tiny_config, tmp_path):
    """`say --out` writes 24 kHz mono 16-bit audio of the expected length, not silent, no NaN."""
    out = tmp_path / "hello.wav"
    text = "大家好，欢迎来到我的直播间！今天我们来玩一个新游戏。"
    r = kit.run_cli("say", text, "--config", str(tiny_config), "--out", str(out), "--seed", "1")
    assert r.returncode == 0, r.stderr
    info = sf.info(out)
    assert (info.samplerate, info.channels, info.subtype) == (24000, 1, "PCM_16")
    audio, _ = sf.read(out, dtype="float32")
    # the example voice speaks ~0.4 s per character; 26 characters
    assert 5.0 < len(audio) / 24000 < 16.0
    assert np.isfinite(audio).all() and np.sqrt(np.mean(audio**2)) > 1e-3
    assert "first audio after" in r.stderr and "Traceback" not in r.stderr


def test_say_reads_standard_input(tiny_config, tmp_path):
    """`say -` speaks what arrives on stdin, with the voice and NFE asked for."""
    out = tmp_path / "stdin.wav"
    r = kit.run_cli("say", "-", "--config", str(tiny_config), "--out", str(out), "--voice", "zh16",
                    "--nfe", "5", input="你好，世界。")
    assert r.returncode == 0, r.stderr
    assert "NFE 5" in r.stderr and out.stat().st_size > 1000


def _fails_fast_without_torch(args: list[str], env: dict, cwd: Path) -> list[str]:
    """Run the CLI's main() in a child; return its stderr lines after checking
    it exited 1 without importing torch (so it fails in about a second)."""
    code = ("import sys\nfrom ishowtts_live.cli import main\nrc = main(sys.argv[1:])\n"
            "assert 'torch' not in sys.modules and 'f5_tts.model' not in sys.modules, 'torch was imported'\n"
            "sys.exit(rc)\n")
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120,
                       env={**os.environ, **env}, cwd=cwd)
    assert r.returncode == 1, r.stderr
    return r.stderr.splitlines()


@pytest.mark.parametrize("command", ["say", "run"])
def test_offline_without_cached_weights_is_one_line(command, tiny_config, tmp_path):
    """HF_HUB_OFFLINE=1 and the hub default not cached: `say` and `run` stop with
    exactly one line naming the file and how to use local files, before torch
    is imported, and leave no WAV behind."""
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "STATE_DIRECTORY": str(tmp_path / "state")}
    args = [command, *(["你好", "--out", str(tmp_path / "x.wav")] if command == "say" else []),
            "--config", str(tiny_config), "-o", "engine.checkpoint=", "-o", "audio.output=wav"]
    lines = _fails_fast_without_torch(args, env, tmp_path)
    assert len(lines) == 1, lines
    assert lines[0].startswith("ishowtts-live: error: engine.checkpoint: hf://SWivid/F5-TTS/")
    assert "HF_HUB_OFFLINE is set" in lines[0] and "local .safetensors file" in lines[0]
    assert str(tmp_path / "hf") in lines[0]  # where the file was looked for
    assert not list(tmp_path.rglob("*.wav"))


def test_unreachable_hub_is_one_line_and_asked_once(tiny_config, tmp_path):
    """The hub's address refuses connections: one line saying so and how to use
    local files; huggingface_hub's retry warnings never appear."""
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    env = {"HF_ENDPOINT": f"http://127.0.0.1:{port}", "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "0"}
    lines = _fails_fast_without_torch(["say", "你好", "--config", str(tiny_config), "-o", "engine.checkpoint=",
                                       "-o", "engine.vocoder=", "--out", str(tmp_path / "x.wav")], env, tmp_path)
    assert len(lines) == 1, lines
    assert "the Hugging Face hub cannot be reached (127.0.0.1:" in lines[0] and "HF_HUB_OFFLINE=1" in lines[0]
    assert not (tmp_path / "x.wav").exists()


def test_broken_config_lists_every_problem_and_exits_78(tmp_path):
    """`config check` on a file with three mistakes prints three lines, exit 78."""
    bad = tmp_path / "bad.toml"
    bad.write_text("[engine]\nnfe_step = 'seven'\ndevcie = 'cpu'\n[audio]\ndevice = 5\n")
    r = kit.run_cli("config", "check", "--config", str(bad))
    assert r.returncode == 78
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith(f"ishowtts-live: {bad}: ") for line in lines)
    assert any("engine.devcie: unknown key (did you mean 'device'?)" in line for line in lines)


def test_config_show_and_check_never_import_torch(tmp_path):
    """Config commands stay fast: torch and f5-tts are never imported."""
    code = (
        "import sys, io, contextlib\n"
        "from ishowtts_live.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main(['config', 'check', '--config', {str(kit.ROOT / 'config/ishowtts.toml')!r}]) == 0\n"
        f"    assert main(['config', 'show', '--config', {str(kit.ROOT / 'config/ishowtts.toml')!r}]) == 0\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'f5_tts', 'torchaudio')]\n"
        "assert not bad, bad\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=kit.ROOT, timeout=60)
    assert r.returncode == 0, r.stderr


def test_usage_errors_exit_2(tiny_config):
    """Bad arguments are usage errors (2), not runtime failures."""
    assert kit.run_cli("say", "hi", "--nfe", "0", "--config", str(tiny_config)).returncode == 2
    assert kit.run_cli("say").returncode == 2
    assert kit.run_cli("nonsense").returncode == 2


def test_doctor_reports_a_healthy_setup(tiny_config):
    """doctor checks torch, weights, voices and config; all good with the tiny model."""
    r = kit.run_cli("doctor", "--config", str(tiny_config))
    assert r.returncode == 0, r.stdout + r.stderr
    for what in ("torch", "f5-tts", "config", "weights", "vocoder", "voice"):
        assert f"] {what}" in r.stdout
    assert "all good" in r.stdout


def test_doctor_flags_a_broken_voice(tiny_config, tmp_path, voices_dir):
    """A broken voice makes doctor fail with a line naming it."""
    import shutil

    vdir = tmp_path / "voices"
    shutil.copytree(voices_dir, vdir)
    (vdir / "zh16" / "ref.wav").unlink()
    r = kit.run_cli("doctor", "--config", str(tiny_config), "-o", f"voices.dir={vdir}")
    assert r.returncode == 1
    assert "voice 'zh16': audio file not found" in r.stdout


def _main_without_torch(*argv: str) -> subprocess.CompletedProcess:
    """``main(argv)`` in a child process that then asserts torch was never imported."""
    code = (
        "import sys\nfrom ishowtts_live.cli import main\n"
        f"rc = main({list(argv)!r})\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'f5_tts', 'torchaudio')]\n"
        "assert not bad, bad[:3]\nsys.exit(rc)\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=kit.ROOT, timeout=120)


def test_say_reports_an_unknown_voice_before_loading_the_model(tiny_config, tmp_path):
    """`say --voice nope`: exit 78 and one line naming the voice, without loading the model."""
    r = _main_without_torch("say", "你好", "--config", str(tiny_config), "--voice", "nope",
                            "--out", str(tmp_path / "x.wav"))
    assert r.returncode == 78, r.stderr
    assert r.stderr.startswith("ishowtts-live: voice 'nope': not found in ") and len(r.stderr.splitlines()) == 1
    assert not (tmp_path / "x.wav").exists()


def test_say_reports_an_unknown_device_before_loading_the_model(tiny_config):
    """`say --device nosuch`: exit 1 and one line naming the device, without loading the model."""
    r = _main_without_torch("say", "你好", "--config", str(tiny_config), "--device", "nosuch-device")
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith("ishowtts-live: error: ") and "nosuch-device" in r.stderr
    assert len(r.stderr.splitlines()) == 1


def test_config_check_runs_every_check_run_does(tmp_path):
    """A config that `run` would refuse (the replay log it would read is missing)
    fails `config check` too, with the same line and exit 78."""
    cfg = tmp_path / "ishowtts.toml"
    cfg.write_text(f'[voices]\ndir = "{kit.ROOT / "voices"}"\n[sources.replay]\npath = "missing.jsonl"\n')
    r = kit.run_cli("config", "check", "--config", str(cfg))
    assert r.returncode == 78, r.stdout + r.stderr
    assert r.stderr.strip() == f"ishowtts-live: {cfg}: sources.replay.path: chat log not found: {tmp_path / 'missing.jsonl'}"
    live = kit.run_cli("config", "check", "--config", str(cfg), "-o", "sources.twitch.enabled=true",
                       "-o", "sources.twitch.channel=somechannel")
    assert live.returncode == 0, live.stderr  # with a live source `run` never reads the replay log
