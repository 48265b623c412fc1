"""Prepared voices: each voice's reference (:mod:`.reference`) turned once,
at start, into what the model reads (loudness-normalised audio at the
model's rate, its mel, its transcript as upstream feeds it, and that
transcript's pinyin tokens).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from ishowtts_live.synth import voices
from ishowtts_live.synth.reference import TARGET_RMS, padded_samples, reference_transcript

if TYPE_CHECKING:
    from ishowtts_live.synth.engine import F5Engine

__all__ = ["PreparedVoice", "TARGET_RMS", "pinyin_tokens", "prepare_reference", "prepare_voice",
           "reference_transcript"]


@functools.lru_cache(maxsize=8192)
def pinyin_tokens(text: str, after: str = "") -> tuple[str, ...]:
    """Upstream's pinyin conversion of ``text`` as it would come out right after
    ``after`` (the reference's last character): converting ``after + text`` and
    dropping ``after``'s own tokens gives exactly the tokens the joined
    reference + message would give, without re-converting the reference."""
    from f5_tts.model.utils import convert_char_to_pinyin

    if not after:
        return tuple(convert_char_to_pinyin([text])[0])
    lead = convert_char_to_pinyin([after])[0]
    return tuple(convert_char_to_pinyin([after + text])[0][len(lead):])


@dataclass(frozen=True)
class PreparedVoice:
    id: str
    text: str  # the reference transcript as the model sees it
    tokens: tuple[str, ...]
    audio: torch.Tensor  # 1 × samples at the model rate, loudness-normalized, on device
    rms: float  # the reference's own loudness; output is scaled back to it
    mel: torch.Tensor  # 1 × frames × mels, model dtype, on device
    ref_frames: int  # samples // hop: where generated frames start (upstream's count)
    voice: voices.Voice


@torch.inference_mode()
def prepare_voice(engine: F5Engine, voice: voices.Voice) -> PreparedVoice:
    """Read, trim and pad the reference of ``voice``; see :func:`prepare_reference`."""
    ref = voices.read_reference(voice)
    return prepare_reference(engine, voice, torch.from_numpy(padded_samples(ref))[None], ref.sample_rate)


@torch.inference_mode()
def prepare_reference(engine: F5Engine, voice: voices.Voice, audio: torch.Tensor, sample_rate: int) -> PreparedVoice:
    """Reference audio → loudness-normalized, at the model's rate, its mel and its tokens."""
    import torchaudio

    rms = float(torch.sqrt(torch.mean(torch.square(audio))))
    if rms < TARGET_RMS:
        audio = audio * TARGET_RMS / rms
    if sample_rate != engine.sample_rate:
        audio = torchaudio.functional.resample(audio, sample_rate, engine.sample_rate)
    audio = audio.to(engine.device)
    mel = engine.model.mel_spec(audio).permute(0, 2, 1).to(engine.dtype)
    text = reference_transcript(voice.text)
    return PreparedVoice(
        id=voice.id, text=text, tokens=pinyin_tokens(text), audio=audio, rms=rms, mel=mel,
        ref_frames=audio.shape[-1] // engine.hop, voice=voice,
    )
