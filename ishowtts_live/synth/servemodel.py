"""The ``f5_tts`` model that ``ishowtts-live serve`` puts behind Triton: one
Triton execution (the requests its dynamic batcher grouped, from any number
of clients) becomes one engine batch.

Each request is one sentence chunk in upstream F5-TTS's Triton contract
(:mod:`.wire`): the reference (``reference_wav`` cut to ``reference_wav_len``,
at 24 kHz), its transcript and the text; optionally this project's extras
(NFE, cfg strength, sway, speed, seed), else the engine's settings. A request
without a reference speaks in the server's default voice. References are
prepared once and kept (``serve.voice_cache``), keyed by their content.

Requests are synthesized with the engine's batch entry point
(:meth:`~.engine.F5Engine.start_chunks`), grouped by what a batch must share
(NFE, cfg strength, sway). A Triton execution succeeds or fails as a whole,
so a malformed request fails the requests batched with it; the error names it.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import structlog
import torch

from ishowtts_live.synth import voices
from ishowtts_live.synth.engine import F5Engine, PreparedVoice, SynthParams
from ishowtts_live.synth.reference import MODEL_RATE
from ishowtts_live.synth.wire import EXTRAS, OUTPUT

log = structlog.get_logger(__name__)


class BadRequest(ValueError):
    """What is wrong with one request (the client's fault, not the server's)."""


def _one(request: Any, name: str, index: int, kind: str) -> Any:
    """The single value of a [1, 1] input (or None when it is absent)."""
    if name not in request:
        return None
    array = np.asarray(request[name])
    if array.size != 1:
        raise BadRequest(f"request {index}: {name} must hold one value, got shape {list(array.shape)}")
    value = array.reshape(-1)[0]
    if kind == "text":
        if isinstance(value, bytes):
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError:
                raise BadRequest(f"request {index}: {name} is not UTF-8") from None
        if isinstance(value, str):
            return value
        raise BadRequest(f"request {index}: {name} must be BYTES")
    if not np.isfinite(value):
        raise BadRequest(f"request {index}: {name} is not a finite number")
    return value


class ServedModel:
    """PyTriton's inference callable: ``model(requests) -> [{"waveform": …}]``.
    Called on PyTriton's handler thread, one execution at a time."""

    def __init__(self, engine: F5Engine, voice_cache: int = 64):
        self.engine = engine
        self.voice_cache = voice_cache
        self._voices: collections.OrderedDict[str, PreparedVoice] = collections.OrderedDict()
        self.executions = 0
        self.requests = 0
        self.batches: collections.Counter[int] = collections.Counter()  # engine batch size → count

    def __call__(self, requests: list[Any]) -> list[dict[str, np.ndarray]]:
        items = [self._decode(r, i) for i, r in enumerate(requests)]
        waves: list[np.ndarray | None] = [None] * len(items)
        groups: dict[tuple, list[int]] = {}
        for i, (_voice, _text, params) in enumerate(items):
            groups.setdefault((params.nfe_step, params.cfg_strength, params.sway_sampling_coef), []).append(i)
        for members in groups.values():
            self.batches[len(members)] += 1
            pending = self.engine.start_chunks([items[i] for i in members])
            for i, chunk in zip(members, pending):
                waves[i] = chunk.result()
        self.executions += 1
        self.requests += len(items)
        return [{OUTPUT: np.ascontiguousarray(w, np.float32)[None, :]} for w in waves]  # type: ignore[index]

    # ------------------------------------------------------------------ decoding

    def _decode(self, request: Any, index: int) -> tuple[PreparedVoice, str, SynthParams]:
        text = _one(request, "target_text", index, "text")
        if text is None or not text.strip():
            raise BadRequest(f"request {index}: target_text is missing or empty")
        voice = self._voice(request, index)
        extras = {name: _one(request, name, index, "number") for name in EXTRAS}
        if extras["nfe_step"] is not None and not 1 <= int(extras["nfe_step"]) <= 64:
            raise BadRequest(f"request {index}: nfe_step must be 1–64")
        if extras["speed"] is not None and not 0.3 <= float(extras["speed"]) <= 3.0:
            raise BadRequest(f"request {index}: speed must be 0.3–3.0")
        params = self.engine.params(
            voice,
            nfe_step=None if extras["nfe_step"] is None else int(extras["nfe_step"]),
            speed=None if extras["speed"] is None else float(extras["speed"]),
            cfg_strength=None if extras["cfg_strength"] is None else float(extras["cfg_strength"]),
            seed=None if extras["seed"] is None else int(extras["seed"]),
        )
        if extras["sway_sampling_coef"] is not None:
            params = dataclasses.replace(params, sway_sampling_coef=float(extras["sway_sampling_coef"]))
        return voice, text.strip(), params

    def _voice(self, request: Any, index: int) -> PreparedVoice:
        """The request's reference, prepared (or found prepared); the default voice without one."""
        if "reference_wav" not in request:
            return self.engine.prepared_voice(None)
        wav = np.asarray(request["reference_wav"])
        if wav.dtype != np.float32:
            raise BadRequest(f"request {index}: reference_wav must be FP32, got {wav.dtype}")
        wav = wav.reshape(-1)
        length = _one(request, "reference_wav_len", index, "number")
        if length is not None:
            if not 0 < int(length) <= wav.size:
                raise BadRequest(f"request {index}: reference_wav_len {int(length)} is outside 1–{wav.size}")
            wav = wav[: int(length)]
        if wav.size < MODEL_RATE // 10 or not np.isfinite(wav).all():
            raise BadRequest(f"request {index}: reference_wav is shorter than 0.1 s or not finite")
        if wav.size > int(voices.REF_MAX_S * 2 * MODEL_RATE):
            raise BadRequest(f"request {index}: reference_wav is longer than {voices.REF_MAX_S * 2:.0f} s")
        text = _one(request, "reference_text", index, "text")
        if text is None or not text.strip():
            raise BadRequest(f"request {index}: reference_text is missing or empty")
        key = hashlib.sha256(wav.tobytes() + b"\0" + text.encode("utf-8")).hexdigest()[:16]
        prepared = self._voices.get(key)
        if prepared is None:
            spec = voices.VoiceSpec(audio="(sent by a client)", text=text)
            voice = voices.Voice(id=f"ref-{key}", spec=spec, audio_path=Path(f"triton-reference-{key}"))
            prepared = self.engine.prepare_reference(voice, torch.from_numpy(np.array(wav))[None], MODEL_RATE)
            self._voices[key] = prepared
            while len(self._voices) > self.voice_cache:
                self._voices.popitem(last=False)
        else:
            self._voices.move_to_end(key)
        return prepared


__all__ = ["BadRequest", "ServedModel"]
