"""Checks of ``[engine]``, ``[voices]`` and ``[serve]`` that need more than a
key's type: model names, the device, weight files, every voice, the Triton
server's address, the serving ports. Torch-free (voices are read with
soundfile), so ``config check`` stays fast."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from ishowtts_live.synth import voices
from ishowtts_live.synth.resources import upstream_model_names

if TYPE_CHECKING:
    from ishowtts_live.config.loading import LoadedConfig

DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def check_engine(loaded: LoadedConfig) -> list[str]:
    engine = loaded.config.engine
    problems = []
    names = upstream_model_names()
    if not names:
        problems.append("engine.model: the f5-tts package is not installed")
    elif engine.model not in names:
        problems.append(f"engine.model: unknown model {engine.model!r}; f5-tts ships {', '.join(names)}")
    elif not engine.model.startswith("F5TTS"):
        problems.append(f"engine.model: {engine.model!r} is not a DiT (F5TTS_*) model; only those are supported")
    if not DEVICE.match(engine.device):
        problems.append(f"engine.device: expected 'auto', 'cpu', 'cuda' or 'cuda:N', got {engine.device!r}")
    for key in ("checkpoint", "vocab"):
        value = getattr(engine, key)
        if value and "://" not in value and not Path(value).is_file():
            problems.append(f"engine.{key}: file not found: {value}")
    if engine.vocoder and "://" not in engine.vocoder:
        root = Path(engine.vocoder)
        missing = [n for n in ("config.yaml", "pytorch_model.bin") if not (root / n).is_file()]
        if missing:
            problems.append(
                f"engine.vocoder: {root} must be a Vocos folder with config.yaml and pytorch_model.bin "
                f"(missing: {', '.join(missing)})"
            )
    if engine.backend == "triton":
        from ishowtts_live.synth.wire import parse_url

        try:
            parse_url(engine.triton.url)
        except ValueError as exc:
            problems.append(f"engine.triton.url: {exc}")
        if not engine.triton.model.strip():
            problems.append("engine.triton.model: give the model's name on the server (e.g. 'f5_tts')")
    if engine.first_chunk_s > engine.chunk_s:
        problems.append("engine.first_chunk_s: must not exceed engine.chunk_s")
    if not engine.buckets_s:
        problems.append("engine.buckets_s: give at least one length (seconds of reference + speech)")
    elif len(set(engine.buckets_s)) != len(engine.buckets_s):
        problems.append("engine.buckets_s: lengths must differ from each other")
    return problems


def check_voices(loaded: LoadedConfig) -> list[str]:
    cfg = loaded.config.voices
    if cfg.dir and not Path(cfg.dir).is_dir():
        return [f"voices.dir: folder not found: {cfg.dir}"]
    _found, problems = voices.load_all(cfg.dir)
    ids = voices.discover(cfg.dir)
    if cfg.default not in ids:
        known = ", ".join(ids) or "none"
        problems.append(f"voices.default: no voice {cfg.default!r} in {voices.describe_dir(cfg.dir)} (found: {known})")
    return problems


def check_serve(loaded: LoadedConfig) -> list[str]:
    serve = loaded.config.serve
    ports = {"grpc_port": serve.grpc_port, "http_port": serve.http_port, "metrics_port": serve.metrics_port}
    problems = []
    seen: dict[int, str] = {}
    for key, port in ports.items():
        if port in seen:
            problems.append(f"serve.{key}: {port} is also serve.{seen[port]}; each port must differ")
        seen.setdefault(port, key)
    if not re.match(r"^[A-Za-z0-9_.-]+$", serve.model):
        problems.append(f"serve.model: {serve.model!r} is not a Triton model name (letters, digits, '_', '-', '.')")
    return problems
