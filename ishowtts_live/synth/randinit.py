"""Randomly initialised F5 and Vocos weights, saved in the upstream formats.

For benchmarks without the real weights (speed does not depend on weight
values; the audio is noise) and for the test kit, which loads them through the
product's real loading path. Nothing here is used to speak real chat.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

# Vocos "mel-24khz" as released (charactr/vocos-mel-24khz config.yaml).
VOCOS_FULL = {"dim": 512, "intermediate_dim": 1536, "num_layers": 8}
VOCOS_TINY = {"dim": 64, "intermediate_dim": 192, "num_layers": 2}
TINY_ARCH = {"dim": 256, "depth": 4, "heads": 4, "ff_mult": 2, "text_dim": 128, "conv_layers": 2}

VOCOS_YAML = """\
feature_extractor:
  class_path: vocos.feature_extractors.MelSpectrogramFeatures
  init_args:
    sample_rate: 24000
    n_fft: 1024
    hop_length: 256
    n_mels: 100
    padding: center
backbone:
  class_path: vocos.models.VocosBackbone
  init_args:
    input_channels: 100
    dim: {dim}
    intermediate_dim: {intermediate_dim}
    num_layers: {num_layers}
head:
  class_path: vocos.heads.ISTFTHead
  init_args:
    dim: {dim}
    n_fft: 1024
    hop_length: 256
    padding: center
"""


def _randomize(module: torch.nn.Module, generator: torch.Generator, std: float = 0.02) -> None:
    """Every parameter random. Upstream zero-initialises the DiT's output and
    AdaLN layers, which would make an untrained model's flow exactly zero and
    hide any difference between two samplers."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if isinstance(module.get_submodule(name.rpartition(".")[0]), torch.nn.Embedding):
                p.copy_(torch.randn(p.shape, generator=generator))  # unit scale, as nn.Embedding starts
            elif name.endswith("weight") and p.ndim == 1 and "norm" in name:
                p.copy_(1.0 + std * torch.randn(p.shape, generator=generator))
            else:
                p.copy_(std * torch.randn(p.shape, generator=generator))


def write_f5_checkpoint(path: Path, model: str = "F5TTS_v1_Base", arch: dict[str, Any] | None = None,
                        seed: int = 0) -> Path:
    """A ``.safetensors`` file with ``ema_model.``-prefixed keys, like the release."""
    from f5_tts.model import CFM, DiT
    from f5_tts.model.utils import get_tokenizer
    from safetensors.torch import save_file

    from ishowtts_live.synth.loading import model_spec
    from ishowtts_live.synth.resources import default_vocab_path

    spec = model_spec(model, arch or {})
    _, vocab_size = get_tokenizer(str(default_vocab_path()), "custom")
    torch.manual_seed(seed)
    cfm = CFM(transformer=DiT(**spec.arch, text_num_embeds=vocab_size, mel_dim=spec.mel["n_mel_channels"]))
    _randomize(cfm, torch.Generator().manual_seed(seed))
    tensors = {f"ema_model.{k}": v.contiguous() for k, v in cfm.state_dict().items()}
    tensors["initted"] = torch.tensor(True)
    tensors["step"] = torch.tensor(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path))
    return path


def write_vocos(folder: Path, size: dict[str, int] | None = None, seed: int = 0) -> Path:
    """A Vocos folder (config.yaml + pytorch_model.bin), random weights."""
    from vocos import Vocos

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(VOCOS_YAML.format(**(size or VOCOS_FULL)))
    torch.manual_seed(seed)
    vocos = Vocos.from_hparams(str(folder / "config.yaml"))
    _randomize(vocos.backbone, torch.Generator().manual_seed(seed))
    torch.save(vocos.state_dict(), folder / "pytorch_model.bin")
    return folder
