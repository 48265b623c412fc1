"""The baseline: upstream ``f5_tts.api.F5TTS.infer``, loaded with upstream's
own loaders from the same checkpoint and Vocos folder our engine uses.

``F5TTS.__init__`` only knows the architecture its yaml names, so a model
with ``[engine.arch]`` overrides (the test kit's tiny one) could not be
built through it; the instance is therefore assembled from the same parts
``__init__`` uses (``load_model``, ``load_vocoder``), and ``infer`` — the
method measured — is upstream's, untouched.
"""

from __future__ import annotations

import contextlib
import io
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class UpstreamResult:
    wave: np.ndarray
    sample_rate: int
    seconds: float


class UpstreamBaseline:
    def __init__(self, checkpoint: Path, vocoder_dir: Path, arch: dict, device: str, vocab: str = ""):
        from f5_tts.api import F5TTS
        from f5_tts.infer.utils_infer import load_model, load_vocoder
        from f5_tts.model import DiT

        with contextlib.redirect_stdout(io.StringIO()):  # upstream prints paths and settings
            api = F5TTS.__new__(F5TTS)
            api.mel_spec_type = "vocos"
            api.target_sample_rate = 24000
            api.ode_method = "euler"
            api.use_ema = True
            api.device = device
            api.vocoder = load_vocoder("vocos", True, str(vocoder_dir), device)
            api.ema_model = load_model(DiT, arch, str(checkpoint), "vocos", vocab, "euler", True, device)
        self.api = api
        self.dtype = next(api.ema_model.parameters()).dtype

    def infer(self, ref_file: Path, ref_text: str, text: str, *, nfe: int, cfg: float, sway: float,
              speed: float, seed: int) -> UpstreamResult:
        """One ``F5TTS.infer`` call, timed from call to returned waveform (the
        reference's preprocessing is cached by upstream after the first call)."""
        import torch

        sync = torch.cuda.synchronize if str(self.api.device).startswith("cuda") else (lambda: None)
        sink = io.StringIO()
        sync()
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(sink):
            wave, sr, _spec = self.api.infer(
                str(ref_file), ref_text, text, show_info=lambda *a, **k: None, progress=None,
                nfe_step=nfe, cfg_strength=cfg, sway_sampling_coef=sway, speed=speed, seed=seed,
            )
        sync()
        return UpstreamResult(np.asarray(wave, dtype=np.float32), int(sr), time.perf_counter() - t0)

