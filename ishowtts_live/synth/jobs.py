"""Work handed from the event loop to the engine thread, and its results
handed back.

A :class:`Job` carries results to the loop through an ``asyncio.Queue`` fed
with ``call_soon_threadsafe``: audio blocks, then exactly one last item (the
end, or the error that ended it). :class:`SpeechJob` is one message,
:class:`CallJob` one function run with the engine (preparing a voice).
:class:`EngineStream` is the consumer's side of a speech job.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Callable

import numpy as np
import structlog

from ishowtts_live.errors import IshowttsError, SynthesisError
from ishowtts_live.events import AudioChunk
from ishowtts_live.synth.protocol import END, StreamStats, SynthRequest, next_block

log = structlog.get_logger(__name__)



class Job:
    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.out: asyncio.Queue = asyncio.Queue()
        self.cancel = threading.Event()
        self.stats = StreamStats()
        self.done = False  # the engine is finished with it (set on the loop)
        self.on_done: list[Callable[[], None]] = []

    # ------------------------------------------------------------ engine thread

    def put_block(self, chunk: AudioChunk) -> None:
        self._post(self.out.put_nowait, chunk)

    def settle(self, exc: BaseException | None = None) -> None:
        """The job is over: ended, cancelled (``Cancelled``) or failed (``exc``)."""
        self.stats.finished = time.perf_counter()
        self._post(self._last, END if exc is None else failure(exc))

    def _post(self, deliver: Callable[[Any], None], item: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(deliver, item)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            self.cancel.set()

    # ------------------------------------------------------------ event loop

    def _last(self, item: Any) -> None:
        """``done`` is set (and its callbacks run) before the consumer can see the last item."""
        self.done = True
        for callback in self.on_done:
            callback()
        self.on_done.clear()
        self.out.put_nowait(item)


class SpeechJob(Job):
    def __init__(self, loop: asyncio.AbstractEventLoop, request: SynthRequest):
        super().__init__(loop)
        self.request = request


class CallJob(Job):
    def __init__(self, loop: asyncio.AbstractEventLoop, fn: Callable[[Any], Any]):
        super().__init__(loop)
        self.fn = fn
        self.result: Any = None

    def run(self, engine: Any) -> None:
        self.result = self.fn(engine)


class EngineStream:
    """Async iterator over the blocks of one message (the AudioStream protocol)."""

    def __init__(self, job: Job):
        self._job = job
        self.stats = job.stats

    def __aiter__(self) -> EngineStream:
        return self

    async def __anext__(self) -> AudioChunk:
        return await next_block(self._job.out)

    def cancel(self) -> None:
        self._job.cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._job.cancel.is_set()

    @property
    def done(self) -> bool:
        return self._job.done

    def when_done(self, callback: Callable[[], None]) -> None:
        if self._job.done:
            self._job.loop.call_soon(callback)
        else:
            self._job.on_done.append(callback)

    async def aclose(self) -> None:
        self.cancel()


class Emitter:
    """One message's chunk waveforms → blocks of ≤ engine.block_ms to its consumer."""

    def __init__(self, sample_rate: int, job: Job, cfg: Any, utterance_id: str):
        from ishowtts_live.synth.blocks import BlockAssembler

        self.job, self.rate, self.utterance_id = job, sample_rate, utterance_id
        self.blocks = BlockAssembler(sample_rate, cfg.block_ms, cfg.crossfade_ms, cfg.max_audio_s)
        self.index = 0

    def _send(self, pcm: np.ndarray, last: bool = False) -> None:
        stats = self.job.stats
        if stats.first_block is None:
            stats.first_block = time.perf_counter()
        stats.audio_seconds += len(pcm) / self.rate
        self.job.put_block(AudioChunk(pcm=pcm, sample_rate=self.rate, utterance_id=self.utterance_id,
                                      index=self.index, is_last=last))
        self.index += 1

    def chunk(self, text: str, wave: np.ndarray, synth_seconds: float) -> bool:
        """Send a chunk's complete blocks; True when the message is full
        (engine.max_audio_s) and needs no more chunks."""
        self.job.stats.synth_seconds += synth_seconds
        self.job.stats.chunks.append(text)
        for pcm in self.blocks.add(wave):
            self._send(pcm)
        return self.blocks.full

    def finish(self) -> None:
        tail = list(self.blocks.finish())
        for i, pcm in enumerate(tail):
            self._send(pcm, last=i == len(tail) - 1)
        if not tail and self.index:
            # Everything went out as full blocks: mark the end with an empty block.
            self._send(np.zeros(0, np.float32), last=True)
        self.job.stats.truncated = self.blocks.truncated


def failure(exc: BaseException) -> Any:
    """What a job that ended with ``exc`` hands its consumer: the end for a
    cancelled message, else a one-line IshowttsError."""
    from ishowtts_live.synth.sampler import Cancelled

    if isinstance(exc, Cancelled):
        return END
    if not isinstance(exc, IshowttsError):
        # the consumer logs the one error line; the traceback is for a
        # developer (log.level = "debug")
        log.debug("synthesis error traceback", exc_info=exc)
        return SynthesisError(f"synthesis failed: {type(exc).__name__}: {exc}")
    return exc
