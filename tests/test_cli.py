from __future__ import annotations

import subprocess
import sys

import numpy as np
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


def test_unreachable_hub_is_one_actionable_line(tiny_config, tmp_path):
    """With no checkpoint configured and the hub out of reach: exit 1, one line, no traceback."""
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    r = kit.run_cli("say", "你好", "--config", str(tiny_config), "-o", "engine.checkpoint=",
                    "--out", str(tmp_path / "x.wav"), env=env)
    assert r.returncode == 1
    errors = [line for line in r.stderr.splitlines() if line.startswith("ishowtts-live: error:")]
    assert len(errors) == 1 and "engine.checkpoint: could not download hf://SWivid/F5-TTS/" in errors[0]
    assert "check the network" in errors[0] and "Traceback" not in r.stderr


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
