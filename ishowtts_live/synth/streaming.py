"""One message, chunk by chunk, on the engine thread: the sentence chunks of
its plan in order, each as a waveform.

The first chunk's audio is handed over the moment it exists: nothing else is
started before it (time to first audio is what a viewer waits for). From the
second chunk on, with the vocoder on its own CUDA stream, chunk k+1 is queued
on the GPU before chunk k's audio is fetched, so vocoding and the hand-off
overlap the next chunk's sampling while the first chunk plays."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Iterator

import numpy as np

from ishowtts_live.synth import sampler

if TYPE_CHECKING:
    from ishowtts_live.synth.engine import F5Engine, SynthParams


def stream_chunks(engine: F5Engine, voice_id: str | None, text: str, params: SynthParams | None = None,
                  cancel: threading.Event | None = None) -> Iterator[tuple[str, np.ndarray]]:
    """(chunk text, waveform) for each sentence chunk of ``text``, in order;
    ``sampler.Cancelled`` once ``cancel`` is set."""
    voice = engine.prepared_voice(voice_id)
    params = params or engine.params(voice)
    chunks = engine.plan(voice, text, params)
    overlap = engine.vocoder_stream is not None
    ahead = None
    for k, chunk in enumerate(chunks):
        _check(cancel)
        started = engine.start_chunks([(voice, chunk, params)], cancel)[0]
        if ahead is not None:
            yield ahead[0], ahead[1].result()
            ahead = None
        if overlap and k > 0:
            ahead = (chunk, started)
        else:
            yield chunk, started.result()
    if ahead is not None:
        yield ahead[0], ahead[1].result()


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise sampler.Cancelled
