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
from typing import Any, Iterable

import structlog
import torch

from ishowtts_live.config.schema import EngineConfig
from ishowtts_live.errors import ConfigError, EngineError
from ishowtts_live.synth import plan
from ishowtts_live.synth.hub import HUB_CHECKPOINTS, HUB_PREFIX, VOCOS_HUB, fetch, first_line
from ishowtts_live.synth.resources import default_vocab_path, package_dir

log = structlog.get_logger(__name__)

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


def resolve_device(name: str, driver_markers: Iterable[str] = plan.DRIVER_MARKERS) -> torch.device:
    """``engine.device`` as a torch device. ``"cuda"``/``"cuda:N"`` that torch
    cannot see is a configuration error (exit 78: restarting cannot fix it);
    ``"auto"`` falls back to the CPU, with one warning line when an NVIDIA
    driver is loaded all the same (a service started before the device nodes
    existed, a CPU-only torch), since that is almost never what was meant."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        driver = plan.loaded_driver(driver_markers)
        if driver is not None:
            log.warning("an NVIDIA driver is loaded but torch sees no GPU; synthesis runs on the CPU (slow)",
                        driver=driver, cause=why_no_cuda(),
                        hint="see ishowtts-live doctor; a service may have started before /dev/nvidia* existed")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"engine.device: expected 'auto', 'cpu', 'cuda' or 'cuda:N', got {name!r}") from None
    if device.type != "cuda":
        return device
    if not torch.cuda.is_available():
        raise ConfigError(f"engine.device: {name!r}, but torch sees no CUDA GPU ({why_no_cuda()}); "
                          "set engine.device = \"auto\" to run on the CPU")
    count = torch.cuda.device_count()
    if device.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    if device.index >= count:
        raise ConfigError(f"engine.device: {name!r}, but torch sees {count} GPU(s) "
                          f"({', '.join(f'cuda:{i}' for i in range(count))})")
    return device


def why_no_cuda() -> str:
    """One line: why torch has no CUDA device here."""
    if torch.version.cuda is None and getattr(torch.version, "hip", None) is None:
        return f"torch {torch.__version__} is built without CUDA"
    try:
        torch.cuda.init()
    except Exception as exc:  # noqa: BLE001 - torch's own reason is the answer
        return first_line(exc)
    return "torch.cuda.is_available() is False"


def device_scope(device: torch.device):
    """A context in which ``device`` is the current CUDA device, so that
    streams, events, pinned copies, compiled kernels and graph captures that
    default to "the current device" land on the engine's (``cuda:1`` too);
    nothing on the CPU."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    return torch.cuda.device(device)


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
    """``engine.dtype`` for this device (:func:`.plan.choose_precision`): fp16
    where the GPU runs it fast, bf16 only where native, fp32 otherwise; one
    line says which and why (a warning when the configured one cannot run)."""
    if device.type == "cpu" and name == "fp16":
        raise EngineError("engine.dtype 'fp16' needs a GPU; use 'fp32' (or 'bf16') on the CPU")
    capability, native = None, False
    if device.type == "cuda":
        capability = torch.cuda.get_device_capability(device)
        native = bf16_native(device)
    choice = plan.choose_precision(name, device.type, capability, native)
    (log.warning if choice.stepped_down else log.info)("precision", dtype=choice.dtype, reason=choice.reason)
    return DTYPES[choice.dtype]


def bf16_native(device: torch.device) -> bool:
    """torch's word on native bf16 (not emulated) for this GPU."""
    with device_scope(device):
        try:
            return bool(torch.cuda.is_bf16_supported(including_emulation=False))
        except TypeError:  # a torch without the argument counts native support only
            return bool(torch.cuda.is_bf16_supported())


def keep_rotary_fp32(dit: torch.nn.Module) -> None:
    """Rotary frequencies in fp32, whatever the model dtype: upstream's loader
    casts the whole model, and positions × frequencies in half precision are
    off by radians at the far end of a 30 s sequence (fp16 cannot even hold
    every position above 2048). The buffer is rebuilt from its definition,
    since the loaded one was already rounded."""
    rotary = getattr(dit, "rotary_embed", None)
    inv_freq = getattr(rotary, "inv_freq", None)
    if inv_freq is None or inv_freq.dtype == torch.float32:
        return
    dim = inv_freq.shape[0] * 2
    exact = 1.0 / (10000 ** (torch.arange(0, dim, 2, dtype=torch.float32, device=inv_freq.device) / dim))
    # a rotary base other than upstream's default would not match: keep its own values, widened
    if torch.allclose(exact.to(inv_freq.dtype).float(), inv_freq.float(), rtol=1e-2, atol=0):
        rotary.inv_freq = exact
    else:
        rotary.inv_freq = inv_freq.float()


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
    keep_rotary_fp32(model.transformer)
    return model, vocab_map, spec


def _arch_overrides(engine: EngineConfig) -> dict[str, Any]:
    import msgspec

    return {k: v for k, v in msgspec.structs.asdict(engine.arch).items() if v is not None}


def load_vocos(engine: EngineConfig, device: torch.device):
    """Vocos through f5-tts's ``load_vocoder``: a local folder (config.yaml +
    pytorch_model.bin) or the hub default. It stays in fp32 whatever the
    model's dtype, as upstream runs it: its share of the time is small, and
    what fp16 would save is to be measured on a GPU before it is offered
    (tests/gpu/run)."""
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
    return vocos
