"""What a voice's reference becomes before the model sees it, without torch:
the samples (edge silence trimmed, 50 ms of silence after them, at a given
rate) and the transcript as upstream feeds it. The local engine turns these
into a mel (:mod:`.prepared`); the Triton client sends them as they are, so a
server given the same samples prepares the same voice."""

from __future__ import annotations

import numpy as np

from ishowtts_live.synth import voices

TARGET_RMS = 0.1  # upstream's loudness target for references
REF_TAIL_SILENCE_S = 0.05  # upstream appends 50 ms of silence after the trimmed reference
MODEL_RATE = 24000  # F5-TTS's mel (and so its output) rate
HOP = 256  # samples per mel frame at MODEL_RATE


def reference_transcript(text: str) -> str:
    """The transcript as upstream feeds it to the model: ending in ". " or "。",
    plus one more space when it ends in a one-byte character."""
    text = text.strip()
    if not text.endswith(". ") and not text.endswith("。"):
        text = text + " " if text.endswith(".") else text + ". "
    if len(text[-1].encode("utf-8")) == 1:
        text += " "
    return text


def padded_samples(ref: voices.ReferenceAudio) -> np.ndarray:
    """The trimmed reference with upstream's trailing silence, float32, at its own rate."""
    tail = np.zeros(int(REF_TAIL_SILENCE_S * ref.sample_rate), np.float32)
    return np.concatenate([ref.samples, tail]).astype(np.float32)


def reference_at(voice: voices.Voice, rate: int) -> np.ndarray:
    """``voice``'s padded reference resampled to ``rate`` (soxr: no torch).
    VoiceError when the file cannot be used."""
    ref = voices.read_reference(voice)
    samples = padded_samples(ref)
    if ref.sample_rate != rate:
        import soxr

        samples = soxr.resample(samples, ref.sample_rate, rate).astype(np.float32)
    return samples
