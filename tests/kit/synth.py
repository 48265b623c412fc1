"""A Synthesizer without a model, for the tests that are not about synthesis
(pipeline, control, queue, reliability): they run in milliseconds and
deterministically, and the tests that exist to test the engine keep the
tiny real one.

Each message becomes a tone whose pitch comes from its text and whose length
from its characters, in blocks of ``block_ms``. One asyncio task plays the
engine: what is asked for now goes before what is asked for ahead, groups
asked for ahead are served ``max_batch`` at a time, ``latency_s`` passes
before a message's first block and ``rtf`` × a block's duration before each
block. A cancelled message stops at its next block. Everything asked is
counted.

Its warm-up (``warmup_steps``; with ``warmup=None``, as the daemon starts it,
only when that is set) reports each step through ``progress`` and takes
``warmup_step_s`` per step, or, after :meth:`hold_warmup`, waits at each
step until the test calls :meth:`release_warmup` — a slow device's start,
as slow as the test needs it to be.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import zlib
from typing import Callable, Iterable, Sequence

import numpy as np

from ishowtts_live.errors import SynthUnavailable, VoiceError
from ishowtts_live.events import AudioChunk
from ishowtts_live.synth.protocol import END, StreamStats, SynthHealth, SynthRequest, next_block

NOW, AHEAD = 0, 1


class FakeStream:
    """The AudioStream protocol, fed by the fake engine task. Its own, not the
    local backend's EngineStream, so what the pipeline tests exercise is the
    protocol and not one implementation of it."""

    def __init__(self, synth: FakeSynthesizer, request: SynthRequest):
        self.request = request
        self.stats = StreamStats()
        self.done = False
        self._synth = synth
        self._out: asyncio.Queue = asyncio.Queue()
        self._cancelled = False
        self._on_done: list[Callable[[], None]] = []

    def __aiter__(self) -> FakeStream:
        return self

    async def __anext__(self) -> AudioChunk:
        return await next_block(self._out)

    def cancel(self) -> None:
        if not self._cancelled and not self.done:  # cancelled while it still mattered
            self._synth.cancelled += 1
        self._cancelled = True

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def when_done(self, callback: Callable[[], None]) -> None:
        if self.done:
            asyncio.get_running_loop().call_soon(callback)
        else:
            self._on_done.append(callback)

    def _finish(self, error: BaseException | None = None) -> None:
        self.stats.finished = time.perf_counter()
        self.done = True
        for callback in self._on_done:
            callback()
        self._on_done.clear()
        self._out.put_nowait(error if error is not None else END)


class FakeSynthesizer:
    def __init__(self, *, sample_rate: int = 24000, block_ms: int = 50, seconds_per_char: float = 0.25,
                 max_audio_s: float = 30.0, latency_s: float = 0.0, rtf: float = 0.0, max_batch: int = 1,
                 voices: Iterable[str] = ("default", "zh16"), default_voice: str = "default", nfe_step: int = 7,
                 fail: Callable[[SynthRequest], BaseException | None] | None = None, recovers: bool = False,
                 warmup_steps: int = 0, warmup_step_s: float = 0.0):
        self._rate = sample_rate
        self.block = sample_rate * block_ms // 1000
        self.seconds_per_char = seconds_per_char
        self.max_audio_s = max_audio_s
        self.latency_s = latency_s
        self.rtf = rtf
        self._max_batch = max_batch
        self.voices = set(voices)
        self.default_voice = default_voice
        self.nfe_step = nfe_step
        self.fail = fail  # an error for a request (that message fails), or None
        self.recovers = recovers  # SynthUnavailable is "away for now" (a remote backend)
        # what it was asked, for the tests to look at
        self.requests: list[SynthRequest] = []  # every request, in the order asked
        self.ahead_groups: list[int] = []  # the size of each group asked for ahead
        self.batches: list[int] = []  # how many messages each engine turn served
        self.started: list[SynthRequest] = []  # in the order synthesis began
        self.cancelled = 0
        self.warmups = 0
        self.warmup_steps = int(warmup_steps)
        self.warmup_step_s = warmup_step_s
        self._warmup_gate: asyncio.Semaphore | None = None
        self._jobs: asyncio.PriorityQueue | None = None
        self._order = itertools.count()
        self._task: asyncio.Task | None = None
        self._state = "stopped"
        self._detail = ""

    def set_health(self, state: str, detail: str = "") -> None:
        """What :meth:`health` says from now on (a test plays a degraded or lost engine)."""
        self._state, self._detail = state, detail

    # ------------------------------------------------------------------ the protocol

    @property
    def sample_rate(self) -> int:
        return self._rate

    @property
    def max_batch(self) -> int:
        return self._max_batch

    async def start(self, *, warmup: bool | None = None, progress=None) -> float:
        self._jobs = asyncio.PriorityQueue()
        self._task = asyncio.create_task(self._engine(), name="fake-synthesizer")
        self._state = "starting"
        steps = self.warmup_steps if warmup is None else max(1, self.warmup_steps) if warmup else 0
        t0 = time.perf_counter()
        for step in range(1, steps + 1):
            if progress is not None:
                progress(step, steps, f"fake shape {step}")
            if self._warmup_gate is not None:
                await self._warmup_gate.acquire()
            elif self.warmup_step_s:
                await asyncio.sleep(self.warmup_step_s)
        self.warmups += bool(steps)
        self._state = "ready"
        return time.perf_counter() - t0 if steps else 0.0

    def hold_warmup(self) -> None:
        """From now on each warm-up step waits for :meth:`release_warmup`."""
        self._warmup_gate = asyncio.Semaphore(0)

    def release_warmup(self, steps: int = 1) -> None:
        assert self._warmup_gate is not None, "hold_warmup() first"
        for _ in range(steps):
            self._warmup_gate.release()

    async def stop(self) -> None:
        self._state = "stopped"
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def wait_ready(self, timeout: float) -> None:
        if not self.health().serving and self.recovers:  # like a remote backend: wait for it to come back
            deadline = asyncio.get_running_loop().time() + timeout
            while not self.health().serving and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
        if not self.health().serving:
            raise SynthUnavailable("the fake synthesizer is not running")

    def health(self) -> SynthHealth:
        return SynthHealth(self._state, self._detail)  # type: ignore[arg-type]

    async def prepare_voice(self, voice: str | None) -> str:
        voice = voice or self.default_voice
        if voice not in self.voices:
            raise VoiceError(f"voice {voice!r}: not found in the fake synthesizer's voices")
        return voice

    def stream(self, request: SynthRequest) -> FakeStream:
        return self._submit([request], NOW)[0]

    def stream_ahead(self, requests: Sequence[SynthRequest]) -> list[FakeStream]:
        if not requests:
            return []
        self.ahead_groups.append(len(requests))
        return self._submit(list(requests), AHEAD)

    # ------------------------------------------------------------------ the fake engine

    def _submit(self, requests: list[SynthRequest], priority: int) -> list[FakeStream]:
        if not self.health().serving or self._jobs is None:
            raise SynthUnavailable("the fake synthesizer is not running")
        streams = [FakeStream(self, r) for r in requests]
        for s in streams:
            self.requests.append(s.request)
            self._jobs.put_nowait((priority, next(self._order), s))
        return streams

    async def _engine(self) -> None:
        assert self._jobs is not None
        while True:
            _, _, first = await self._jobs.get()
            batch = [first]
            while len(batch) < self._max_batch and not self._jobs.empty():
                batch.append(self._jobs.get_nowait()[2])
            live = [s for s in batch if not s.cancelled]
            for s in batch:
                if s.cancelled:
                    s._finish()
            if live:
                self.batches.append(len(live))
                await self._speak(live)

    async def _speak(self, streams: list[FakeStream]) -> None:
        plans = {}
        for s in streams:
            s.stats.started = time.perf_counter()
            self.started.append(s.request)
            error = self._error(s.request)
            if error is not None:
                s._finish(error)
                continue
            plans[s] = self._tone(s)
        if plans and self.latency_s:
            await asyncio.sleep(self.latency_s)
        index = 0
        while plans:
            for s, pcm in list(plans.items()):
                start = index * self.block
                if s.cancelled or start >= len(pcm):
                    del plans[s]
                    s._finish()
                    continue
                block = pcm[start:start + self.block]
                last = start + self.block >= len(pcm)
                if s.stats.first_block is None:
                    s.stats.first_block = time.perf_counter()
                s.stats.audio_seconds += len(block) / self._rate
                s.stats.synth_seconds += self.rtf * len(block) / self._rate
                s._out.put_nowait(AudioChunk(pcm=block, sample_rate=self._rate, utterance_id=s.request.utterance_id,
                                             index=index, is_last=last))
            index += 1
            await asyncio.sleep(self.rtf * self.block / self._rate)

    def _error(self, request: SynthRequest) -> BaseException | None:
        if (request.voice or self.default_voice) not in self.voices:
            return VoiceError(f"voice {request.voice!r}: not found in the fake synthesizer's voices")
        return self.fail(request) if self.fail is not None else None

    def _tone(self, stream: FakeStream) -> np.ndarray:
        request = stream.request
        seconds = max(0.3, len(request.text) * self.seconds_per_char / (request.speed or 1.0))
        stream.stats.truncated = seconds > self.max_audio_s
        seconds = min(seconds, self.max_audio_s)
        stream.stats.chunks.append(request.text)
        stream.stats.nfe_step = request.nfe_step or self.nfe_step
        pitch = 180.0 + zlib.crc32(request.text.encode()) % 200
        t = np.arange(int(seconds * self._rate), dtype=np.float32) / self._rate
        return (0.2 * np.sin(2 * np.pi * pitch * t)).astype(np.float32)
