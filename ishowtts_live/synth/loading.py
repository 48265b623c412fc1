"""Load the F5 model and the Vocos vocoder with f5-tts's own classes and loaders.

Checkpoints come from a local path or the upstream hub default (downloaded and
cached on first use, with a progress bar). Every failure a user can fix — an
unreachable hub, a missing or corrupt file, a checkpoint that does not match
the architecture — becomes one :class:`EngineError` line.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ishowtts_live.config.schema import EngineConfig
from ishowtts_live.errors import EngineError
from ishowtts_live.synth.hub import HUB_CHECKPOINTS, HUB_PREFIX, VOCOS_HUB, fetch, first_line
from ishowtts_live.synth.resources import default_vocab_path, package_dir

DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


@dataclass(frozen=True)
class ModelSpec:
    """What the model config yaml says, with ``[engine.arch]`` applied."""

    name: str
    backbone: str
    arch: dict[str, Any]
    mel: dict[str, Any]

    @property
    def sample_rate(self) -> int:
        return int(self.mel["target_sample_rate"])

    @property
    def hop_length(self) -> int:
        return int(self.mel["hop_length"])


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise EngineError(f"engine.device is {name!r} but torch sees no CUDA GPU (torch {torch.__version__})")
    return device


def cpu_threads(configured: int) -> int:
    """Synthesis threads on the CPU: as configured, else every core this
    process may use but one (at least one)."""
    if configured > 0:
        return configured
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    if name == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    dtype = DTYPES[name]
    if device.type == "cpu" and dtype == torch.float16:
        raise EngineError("engine.dtype 'fp16' needs a GPU; use 'fp32' (or 'bf16') on the CPU")
    return dtype


def model_spec(name: str, arch_overrides: dict[str, Any]) -> ModelSpec:
    from omegaconf import OmegaConf

    root = package_dir()
    path = root / "configs" / f"{name}.yaml" if root else None
    if path is None or not path.is_file():
        raise EngineError(f"engine.model: f5-tts has no model config {name!r}")
    cfg = OmegaConf.to_container(OmegaConf.load(path).model, resolve=True)
    arch = dict(cfg["arch"])
    arch.update({k: v for k, v in arch_overrides.items() if v is not None})
    return ModelSpec(name=name, backbone=cfg["backbone"], arch=arch, mel=dict(cfg["mel_spec"]))


def _describe_mismatch(exc: RuntimeError) -> str:
    text = str(exc)
    sizes = re.findall(r"size mismatch for ([\w.]+): copying a param with shape (torch.Size\(\[[^\]]*\]\))", text)
    missing = re.search(r"Missing key\(s\) in state_dict: (.*?)(?:\.\s*\n|$)", text, re.S)
    unexpected = re.search(r"Unexpected key\(s\) in state_dict: (.*?)(?:\.\s*\n|$)", text, re.S)
    bits = []
    if sizes:
        bits.append(f"{len(sizes)} tensors differ in shape (first: {sizes[0][0]})")
    if missing:
        bits.append(f"{missing.group(1).count(',') + 1} keys missing from the checkpoint")
    if unexpected:
        bits.append(f"{unexpected.group(1).count(',') + 1} unexpected keys")
    return "; ".join(bits) or first_line(exc)


def load_f5(engine: EngineConfig, device: torch.device, dtype: torch.dtype) -> tuple[Any, dict[str, int], ModelSpec]:
    """The CFM model (upstream classes, upstream checkpoint loader) and its vocabulary."""
    from f5_tts.infer.utils_infer import load_checkpoint
    from f5_tts.model import CFM, DiT
    from f5_tts.model.utils import get_tokenizer

    from ishowtts_live import logs

    logs.adopt_library_loggers()  # f5-tts has just imported transformers, which prints on its own

    spec = model_spec(engine.model, _arch_overrides(engine))
    if spec.backbone != "DiT":
        raise EngineError(f"engine.model: {engine.model} uses the {spec.backbone} backbone; only DiT models are supported")
    vocab_path = Path(engine.vocab) if engine.vocab else default_vocab_path()
    if not vocab_path.is_file():
        raise EngineError(f"engine.vocab: file not found: {vocab_path}")
    vocab_map, vocab_size = get_tokenizer(str(vocab_path), "custom")

    ckpt_ref = engine.checkpoint or HUB_CHECKPOINTS.get(engine.model, "")
    if not ckpt_ref:
        raise EngineError(f"engine.checkpoint: {engine.model} has no hub default; set engine.checkpoint to your file")
    ckpt = fetch(ckpt_ref, "engine.checkpoint", engine.cache_dir)

    try:
        model = CFM(
            transformer=DiT(**spec.arch, text_num_embeds=vocab_size, mel_dim=spec.mel["n_mel_channels"]),
            mel_spec_kwargs={k: spec.mel[k] for k in
                             ("n_fft", "hop_length", "win_length", "n_mel_channels", "target_sample_rate", "mel_spec_type")},
            odeint_kwargs={"method": "euler"},
            vocab_char_map=vocab_map,
        )
    except TypeError as exc:
        raise EngineError(f"[engine.arch]: {exc}") from None
    try:
        from safetensors import SafetensorError
    except ImportError:  # pragma: no cover - safetensors always ships the error type
        SafetensorError = OSError  # type: ignore[misc,assignment]
    try:
        model = load_checkpoint(model, str(ckpt), str(device), dtype=dtype, use_ema=True)
    except SafetensorError as exc:
        raise EngineError(f"engine.checkpoint: {ckpt} is not a valid .safetensors file ({first_line(exc)})") from None
    except KeyError as exc:
        raise EngineError(f"engine.checkpoint: {ckpt} has no {exc} entry; is it an F5-TTS checkpoint?") from None
    except RuntimeError as exc:
        if "state_dict" in str(exc):
            arch = ", ".join(f"{k}={v}" for k, v in sorted(_arch_overrides(engine).items())) or "no [engine.arch] overrides"
            raise EngineError(
                f"engine.checkpoint: {ckpt} does not match the {engine.model} architecture ({arch}): "
                f"{_describe_mismatch(exc)}; set engine.model / [engine.arch] to the checkpoint's"
            ) from None
        raise EngineError(f"engine.checkpoint: cannot load {ckpt}: {first_line(exc)}") from None
    except Exception as exc:  # torch.load of a damaged .pt raises pickle/zip errors of many kinds
        raise EngineError(f"engine.checkpoint: cannot load {ckpt}: {type(exc).__name__}: {first_line(exc)}") from None
    model.eval().requires_grad_(False)
    return model, vocab_map, spec


def _arch_overrides(engine: EngineConfig) -> dict[str, Any]:
    import msgspec

    return {k: v for k, v in msgspec.structs.asdict(engine.arch).items() if v is not None}


def load_vocos(engine: EngineConfig, device: torch.device, dtype: torch.dtype):
    """Vocos through f5-tts's ``load_vocoder``: a local folder (config.yaml +
    pytorch_model.bin) or the hub default. The backbone runs in ``dtype``; the
    ISTFT head stays fp32 (see :mod:`.engine`)."""
    from f5_tts.infer.utils_infer import load_vocoder

    local = engine.vocoder if engine.vocoder and not engine.vocoder.startswith(HUB_PREFIX) else ""
    if local:
        root = Path(local)
        for name in ("config.yaml", "pytorch_model.bin"):
            if not (root / name).is_file():
                raise EngineError(f"engine.vocoder: {root} has no {name} (expected a Vocos folder)")
    elif engine.vocoder and engine.vocoder.rstrip("/") != VOCOS_HUB:
        raise EngineError(f"engine.vocoder: only {VOCOS_HUB} or a local folder is supported, got {engine.vocoder!r}")
    else:
        # Fetch through our own helper first so a missing hub is one clear line.
        repo = VOCOS_HUB + "/"
        fetch(repo + "config.yaml", "engine.vocoder", engine.cache_dir)
        fetch(repo + "pytorch_model.bin", "engine.vocoder", engine.cache_dir)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # upstream prints "Load vocos from …"
            vocos = load_vocoder("vocos", bool(local), local, str(device), engine.cache_dir or None)
    except RuntimeError as exc:
        raise EngineError(f"engine.vocoder: weights do not match config.yaml: {_describe_mismatch(exc)}") from None
    except Exception as exc:
        raise EngineError(f"engine.vocoder: cannot load {local or VOCOS_HUB}: {type(exc).__name__}: {first_line(exc)}") from None
    vocos.eval().requires_grad_(False)
    vocos.backbone.to(dtype)
    return vocos
