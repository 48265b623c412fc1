"""The engine thread: one thread owns the model (and the GPU); the event loop
only ever awaits.

Jobs go in through a thread-safe queue; audio blocks come back through an
``asyncio.Queue`` fed with ``call_soon_threadsafe``. A consumer that stops
early (skip, shutdown) sets the job's cancel flag, and the thread abandons the
message at the next flow step.
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import structlog

from ishowtts_live.config.loading import LoadedConfig
from ishowtts_live.errors import IshowttsError, SynthesisError
from ishowtts_live.events import AudioChunk

log = structlog.get_logger(__name__)

_STOP = object()
NOW, AHEAD, LAST = 0, 1, 2  # job priorities: what plays now, what is synthesized ahead, the stop


@dataclass
class StreamStats:
    """What happened to one message, filled in as it streams."""

    submitted: float = field(default_factory=time.perf_counter)
    started: float | None = None  # the engine thread picked it up
    first_block: float | None = None
    finished: float | None = None
    chunks: list[str] = field(default_factory=list)
    synth_seconds: float = 0.0
    audio_seconds: float = 0.0
    truncated: bool = False
    nfe_step: int = 0

    @property
    def rtf(self) -> float | None:
        return self.synth_seconds / self.audio_seconds if self.audio_seconds else None


@dataclass(frozen=True)
class _StreamSpec:
    """What a speech job asks for, so waiting jobs can be batched."""

    text: str
    voice: str | None
    nfe_step: int | None
    speed: float | None
    seed: int | None
    utterance_id: str


@dataclass
class _Job:
    run: Callable[[Any, "_Job"], Any]  # called on the engine thread with the engine
    loop: asyncio.AbstractEventLoop
    out: asyncio.Queue
    cancel: threading.Event = field(default_factory=threading.Event)
    stats: StreamStats = field(default_factory=StreamStats)
    spec: _StreamSpec | None = None  # set for speech; None for calls
    done: bool = False  # the engine is finished with it (set on the loop)
    on_done: list[Callable[[], None]] = field(default_factory=list)

    def emit(self, kind: str, payload: Any = None) -> None:
        try:
            self.loop.call_soon_threadsafe(self._deliver if kind != "block" else self.out.put_nowait, (kind, payload))
        except RuntimeError:  # the loop is closed: nobody is listening any more
            self.cancel.set()

    def _deliver(self, item: tuple[str, Any]) -> None:
        """The last item: ``done`` is set before the consumer can see it."""
        self.done = True
        for callback in self.on_done:
            callback()
        self.on_done.clear()
        self.out.put_nowait(item)


class AudioStream:
    """Async iterator over the blocks of one message; ``stats`` fills as it goes."""

    def __init__(self, job: _Job):
        self._job = job
        self.stats = job.stats

    def __aiter__(self) -> AudioStream:
        return self

    async def __anext__(self) -> AudioChunk:
        kind, payload = await self._job.out.get()
        if kind == "block":
            return payload
        if kind == "error":
            raise payload
        raise StopAsyncIteration

    def cancel(self) -> None:
        self._job.cancel.set()

    @property
    def done(self) -> bool:
        """The engine is finished with this message: every block is queued
        for the consumer, or it failed or was cancelled."""
        return self._job.done

    def when_done(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the event loop) once :attr:`done`."""
        if self._job.done:
            self._job.loop.call_soon(callback)
        else:
            self._job.on_done.append(callback)

    @property
    def cancelled(self) -> bool:
        return self._job.cancel.is_set()

    async def aclose(self) -> None:
        self.cancel()


class SynthWorker:
    def __init__(self, loaded: LoadedConfig, engine_factory: Callable[[LoadedConfig], Any] | None = None):
        self.loaded = loaded
        self._factory = engine_factory
        # (priority, arrival, member of its group, job | list of jobs | _STOP):
        # what plays now goes before what is synthesized ahead
        self._jobs: queue.PriorityQueue = queue.PriorityQueue()
        self._arrival = itertools.count()
        self._taken: tuple = ()  # the entry _next took last (engine thread only)
        self._thread: threading.Thread | None = None
        self.engine = None  # touched only on the engine thread (and read-only elsewhere)

    # ------------------------------------------------------------------ life

    async def start(self, warmup: bool | None = None) -> float:
        """Load the engine on its own thread (and warm it up); returns the
        warm-up seconds. Load errors are raised here, in the caller."""
        loop = asyncio.get_running_loop()
        ready: asyncio.Future = loop.create_future()
        warmup = self.loaded.config.engine.warmup if warmup is None else warmup

        def settle(result: Any, exc: BaseException | None) -> None:
            if not ready.done():
                ready.set_exception(exc) if exc else ready.set_result(result)

        def main() -> None:
            try:
                from ishowtts_live.synth.engine import load_engine

                self.engine = (self._factory or load_engine)(self.loaded)
                seconds = self.engine.warmup() if warmup else 0.0
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting caller
                loop.call_soon_threadsafe(settle, None, exc)
                return
            loop.call_soon_threadsafe(settle, seconds, None)
            self._serve()

        self._thread = threading.Thread(target=main, name="synth-engine", daemon=True)
        self._thread.start()
        return await ready

    async def stop(self, timeout: float = 10.0) -> None:
        if self._thread is None:
            return
        self._jobs.put((LAST, next(self._arrival), 0, _STOP))
        await asyncio.to_thread(self._thread.join, timeout)
        if self._thread.is_alive():
            log.warning("engine thread still busy at shutdown", timeout_s=timeout)
        self._thread = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _serve(self) -> None:
        while True:
            job = self._next(block=True)
            if job is _STOP:
                return
            if job.cancel.is_set():
                job.emit("end")
                continue
            limit = self._batch_limit()
            if job.spec is not None and limit > 1:
                batch = [job]
                while len(batch) < limit:  # messages already waiting join this one
                    more = self._next(block=False)
                    if more is None:
                        break
                    if more is not _STOP and more.spec is not None and not more.cancel.is_set():
                        batch.append(more)
                    else:
                        self._jobs.put(self._taken)  # not batchable: back in its place
                        break
                if len(batch) > 1:
                    self._serve_batch(batch)
                    continue
            self._serve_one(job)

    def _next(self, block: bool) -> Any:
        """The most urgent waiting job (None when none waits and not ``block``).
        A group submitted together is split here, its members keeping their
        place, so the engine thread never sees half of a group."""
        try:
            priority, arrival, member, item = self._jobs.get(block=block)
        except queue.Empty:
            return None
        if isinstance(item, list):
            for k, job in enumerate(item[1:], 1):
                self._jobs.put((priority, arrival, k, job))
            item = item[0]
        self._taken = (priority, arrival, member, item)
        return item

    def _batch_limit(self) -> int:
        fast = getattr(self.engine, "fast", None)
        return fast.max_batch if fast is not None else 1

    def _serve_one(self, job: _Job) -> None:
        job.stats.started = time.perf_counter()
        outcome: tuple[str, Any] = ("end", None)
        try:
            job.run(self.engine, job)
        except BaseException as exc:  # noqa: BLE001 - reported to the message's consumer
            outcome = _failure(exc)
        job.stats.finished = time.perf_counter()
        job.emit(*outcome)

    def _serve_batch(self, jobs: list[_Job]) -> None:
        """Messages that waited together, synthesized together (one batch per
        round of chunks); each still streams to its own consumer."""
        engine, cfg = self.engine, self.loaded.config.engine
        now = time.perf_counter()
        outcome: dict[int, tuple[str, Any]] = {}
        entries, owners, emitters, stops = [], [], {}, {}
        for i, job in enumerate(jobs):
            job.stats.started = now
            spec = job.spec
            try:
                prepared = engine.voice(spec.voice)
                params = engine.params(prepared, nfe_step=spec.nfe_step, speed=spec.speed, seed=spec.seed)
            except BaseException as exc:  # noqa: BLE001 - that message's error
                outcome[i] = _failure(exc)
                continue
            job.stats.nfe_step = params.nfe_step
            stops[i] = _Stop(job.cancel)
            emitters[i] = _Emitter(engine, job, cfg, spec.utterance_id)
            entries.append((prepared.id, spec.text, params, stops[i]))
            owners.append(i)
        last = dict.fromkeys(emitters, now)
        try:
            for k, chunk, wave in engine.stream_batch(entries):
                i = owners[k]
                if i in outcome:
                    continue
                if isinstance(wave, BaseException):
                    outcome[i] = _failure(wave)
                    stops[i].full = True
                    continue
                if emitters[i].chunk(chunk, wave, time.perf_counter() - last[i]):
                    stops[i].full = True  # cut at max_audio_s: no more chunks for it
                last[i] = time.perf_counter()
        except BaseException as exc:  # noqa: BLE001 - the whole batch failed
            for i in range(len(jobs)):
                outcome.setdefault(i, _failure(exc))
        for i, job in enumerate(jobs):
            result = outcome.get(i, ("end", None))
            if result[0] == "end" and i in emitters:
                emitters[i].finish()
            job.stats.finished = time.perf_counter()
            job.emit(*result)

    # ------------------------------------------------------------------ jobs

    def _job(self, run: Callable[[Any, _Job], Any], spec: _StreamSpec | None = None) -> _Job:
        if not self.alive:
            raise SynthesisError("the synthesis engine is not running")
        return _Job(run=run, loop=asyncio.get_running_loop(), out=asyncio.Queue(), spec=spec)

    def _submit(self, run: Callable[[Any, _Job], Any], spec: _StreamSpec | None = None) -> _Job:
        job = self._job(run, spec)
        self._jobs.put((NOW, next(self._arrival), 0, job))
        return job

    def stream(self, text: str, voice: str | None = None, *, nfe_step: int | None = None,
               speed: float | None = None, seed: int | None = None, utterance_id: str = "") -> AudioStream:
        """Blocks (≤ block_ms each) of ``text`` spoken in ``voice``."""
        return AudioStream(self._submit(*self._speech(text, voice, nfe_step, speed, seed, utterance_id)))

    def stream_ahead(self, requests: list[dict[str, Any]]) -> list[AudioStream]:
        """Streams for messages that will be spoken later (each request holds
        :meth:`stream`'s arguments). They are handed to the engine thread as
        one group, so on the fast path they are batched together, and behind
        every :meth:`stream` and :meth:`call`, so what plays now goes first."""
        if not requests:
            return []
        jobs = [self._job(*self._speech(**r)) for r in requests]
        self._jobs.put((AHEAD, next(self._arrival), 0, jobs))
        return [AudioStream(job) for job in jobs]

    def _speech(self, text: str, voice: str | None = None, nfe_step: int | None = None, speed: float | None = None,
                seed: int | None = None, utterance_id: str = "") -> tuple[Callable[[Any, _Job], Any], _StreamSpec]:
        cfg = self.loaded.config.engine

        def run(engine, job: _Job) -> None:
            prepared = engine.voice(voice)
            params = engine.params(prepared, nfe_step=nfe_step, speed=speed, seed=seed)
            job.stats.nfe_step = params.nfe_step
            emitter = _Emitter(engine, job, cfg, utterance_id)
            t0 = time.perf_counter()
            for chunk, wave in engine.stream(prepared.id, text, params, job.cancel):
                if emitter.chunk(chunk, wave, time.perf_counter() - t0):
                    break
                t0 = time.perf_counter()
            emitter.finish()

        return run, _StreamSpec(text=text, voice=voice, nfe_step=nfe_step, speed=speed, seed=seed,
                                utterance_id=utterance_id)

    async def synthesize(self, text: str, voice: str | None = None, **kw: Any) -> tuple[np.ndarray, StreamStats]:
        """The whole waveform of ``text`` (for files and ``/api/tts``)."""
        stream = self.stream(text, voice, **kw)
        parts = [chunk.pcm async for chunk in stream]
        pcm = np.concatenate(parts) if parts else np.zeros(0, np.float32)
        return pcm, stream.stats

    async def call(self, fn: Callable[[Any], Any]) -> Any:
        """Run ``fn(engine)`` on the engine thread (voice changes, info)."""
        result: list[Any] = []
        job = self._submit(lambda engine, _job: result.append(fn(engine)))
        stream = AudioStream(job)
        async for _ in stream:
            pass
        return result[0] if result else None

    @property
    def sample_rate(self) -> int:
        return self.engine.sample_rate if self.engine is not None else 24000


class _Emitter:
    """One message's chunk waveforms → ≤ block_ms blocks to its consumer."""

    def __init__(self, engine, job: _Job, cfg, utterance_id: str):
        from ishowtts_live.synth.blocks import BlockAssembler

        self.job, self.rate, self.utterance_id = job, engine.sample_rate, utterance_id
        self.blocks = BlockAssembler(engine.sample_rate, cfg.block_ms, cfg.crossfade_ms, cfg.max_audio_s)
        self.index = 0

    def _send(self, pcm: np.ndarray, last: bool = False) -> None:
        stats = self.job.stats
        if stats.first_block is None:
            stats.first_block = time.perf_counter()
        stats.audio_seconds += len(pcm) / self.rate
        self.job.emit("block", AudioChunk(pcm=pcm, sample_rate=self.rate, utterance_id=self.utterance_id,
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


class _Stop:
    """A batched message stops when its consumer cancels or it is full."""

    def __init__(self, cancel: threading.Event):
        self.cancel = cancel
        self.full = False

    def is_set(self) -> bool:
        return self.full or self.cancel.is_set()


def _failure(exc: BaseException) -> tuple[str, Any]:
    """("end", None) for a cancelled message, else ("error", one-line error)."""
    from ishowtts_live.synth.sampler import Cancelled

    if isinstance(exc, Cancelled):
        return ("end", None)
    if not isinstance(exc, IshowttsError):
        # the consumer logs the one error line; the traceback is for a
        # developer (log.level = "debug")
        log.debug("synthesis error traceback", exc_info=exc)
        exc = SynthesisError(f"synthesis failed: {type(exc).__name__}: {exc}")
    return ("error", exc)
