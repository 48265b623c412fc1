"""Test kit: tiny randomly-initialised F5 and Vocos weights saved in the
upstream formats, and configs that point the product's real loading path at
them (speed does not depend on weight values; the audio is noise); waiting
helpers (:mod:`.waiting`); and :class:`~tests.kit.synth.FakeSynthesizer`, for
the tests that are not about synthesis."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.kit.synth import FakeSynthesizer
from tests.kit.waiting import LogWatcher, events_until, log_events, next_event, until, wait

__all__ = ["FakeSynthesizer", "LogWatcher", "events_until", "log_events", "next_event", "until", "wait",
           "local_synth"]

ROOT = Path(__file__).resolve().parent.parent.parent
TINY_ARCH = {"dim": 256, "depth": 4, "heads": 4, "ff_mult": 2, "text_dim": 128, "conv_layers": 2}
REF_TEXT = "对，这就是我，万人敬仰的太乙真人。"


def build_tiny_weights(folder: Path) -> tuple[Path, Path]:
    """(checkpoint, vocos folder), written once per folder."""
    from ishowtts_live.synth import randinit

    ckpt, vocos = folder / "model.safetensors", folder / "vocos"
    if not ckpt.exists():
        randinit.write_f5_checkpoint(ckpt, arch=TINY_ARCH, seed=0)
    if not (vocos / "pytorch_model.bin").exists():
        randinit.write_vocos(vocos, randinit.VOCOS_TINY, seed=0)
    return ckpt, vocos


def write_ref_voice(voices_dir: Path, voice_id: str = "zh16", sample_rate: int = 16000) -> Path:
    """A voice whose reference is the f5-tts Chinese example, edge-trimmed and
    resampled (so the engine's resampling path is exercised)."""
    import soundfile as sf
    import soxr

    from ishowtts_live.synth import voices
    from ishowtts_live.synth.resources import resolve_pkg_path

    audio, sr = sf.read(resolve_pkg_path("pkg:f5_tts/infer/examples/basic/basic_ref_zh.wav"), dtype="float32")
    audio = voices.trim_edges(audio, sr)
    if sample_rate != sr:
        audio = soxr.resample(audio, sr, sample_rate)
    folder = voices_dir / voice_id
    folder.mkdir(parents=True, exist_ok=True)
    sf.write(folder / "ref.wav", audio.astype(np.float32), sample_rate, subtype="PCM_16")
    (folder / "voice.toml").write_text(f'audio = "ref.wav"\ntext = "{REF_TEXT}"\n', encoding="utf-8")
    return folder


def tiny_config_text(ckpt: Path, vocos: Path, voices_dir: Path, extra: str = "") -> str:
    arch = "\n".join(f"{k} = {v}" for k, v in TINY_ARCH.items())
    return (
        f'[engine]\ncheckpoint = "{ckpt}"\nvocoder = "{vocos}"\nwarmup = false\n{extra}\n'
        f"[engine.arch]\n{arch}\n\n[voices]\ndir = \"{voices_dir}\"\ndefault = \"default\"\n"
        # this machine's PulseAudio null sink runs slow with buffers under ~200 ms
        "\n[audio]\nlatency_ms = 250\n"
    )


def tiny_daemon_config(folder: Path) -> Path:
    """A config file in ``folder`` for the tiny model and the test voices
    (weights built on first use), for the measurement scripts."""
    weights = build_tiny_weights(folder / "weights")
    voices = make_voices_dir(folder / "voices")
    cfg = folder / "ishowtts.toml"
    cfg.write_text(tiny_config_text(*weights, voices), encoding="utf-8")
    return cfg


def make_voices_dir(folder: Path) -> Path:
    """A user's voices folder with the 16 kHz test voice (``default`` is built in)."""
    if not folder.exists():
        folder.mkdir(parents=True)
        write_ref_voice(folder)
    return folder


def local_synth(loaded, engine):
    """The local backend around an engine already loaded (the session's tiny one)."""
    from ishowtts_live.synth.local import LocalSynthesizer

    return LocalSynthesizer(loaded, engine_factory=lambda _loaded: engine)


def run_cli(*args: str, env: dict | None = None, timeout: float = 240, cwd: Path | None = None,
            input: str | None = None) -> subprocess.CompletedProcess:
    """The real console entry point in a child process."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "ishowtts_live", *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env, cwd=cwd or ROOT, input=input)
