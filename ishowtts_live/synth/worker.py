"""The engine thread: one thread owns the model (and the GPU); the event loop
only ever awaits.

Jobs (:mod:`.jobs`) go in through a thread-safe priority queue: what plays
now before what is synthesized ahead. Messages already waiting when the
thread takes one are synthesized with it as one batch (fast path). A
consumer that stops early (skip, shutdown) sets the job's cancel flag, and
the thread abandons the message at the next flow step. Torch-free itself:
the engine is loaded on the thread.
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import threading
import time
from typing import Any, Callable

import structlog

from ishowtts_live.config.loading import LoadedConfig
from ishowtts_live.errors import SynthUnavailable
from ishowtts_live.synth.jobs import CallJob, Emitter, EngineStream, Job, SpeechJob
from ishowtts_live.synth.protocol import SynthRequest, WarmupProgress

log = structlog.get_logger(__name__)

_STOP = object()
NOW, AHEAD, LAST = 0, 1, 2  # job priorities: what plays now, what is synthesized ahead, the stop



class StartAborted(BaseException):
    """Raised on the engine thread at a warm-up step once its start was
    cancelled. A BaseException, so that no fail-soft ``except Exception`` in
    the warm-up mistakes it for a failed compile or capture."""

class EngineThread:
    def __init__(self, loaded: LoadedConfig, engine_factory: Callable[[LoadedConfig], Any] | None = None):
        self.loaded = loaded
        self._factory = engine_factory
        # (priority, arrival, member of its group, job | list of jobs | _STOP)
        self._jobs: queue.PriorityQueue = queue.PriorityQueue()
        self._arrival = itertools.count()
        self._taken: tuple = ()  # the entry _next took last (engine thread only)
        self._thread: threading.Thread | None = None
        self.engine = None  # touched only on the engine thread (and read-only elsewhere)

    # ------------------------------------------------------------------ life

    async def start(self, warmup: bool, progress: WarmupProgress | None = None) -> float:
        """Load the engine on its own thread (and warm it up); returns the
        warm-up seconds. Load errors are raised here, in the caller."""
        loop = asyncio.get_running_loop()
        ready: asyncio.Future = loop.create_future()

        def settle(result: Any, exc: BaseException | None) -> None:
            if not ready.done():
                ready.set_exception(exc) if exc else ready.set_result(result)

        abort = threading.Event()  # set when the start is cancelled (a stop asked for during warm-up)

        def report(i: int, n: int, what: str) -> None:  # warm-up steps, handed to the loop
            if abort.is_set():
                raise StartAborted("the start was cancelled")  # ends the warm-up between two steps
            if progress is not None:
                loop.call_soon_threadsafe(progress, i, n, what)

        def main() -> None:
            try:
                from ishowtts_live.synth.engine import load_engine

                self.engine = (self._factory or load_engine)(self.loaded)
                seconds = self.engine.warmup(progress=report) if warmup else 0.0
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting caller
                loop.call_soon_threadsafe(settle, None, exc)
                return
            loop.call_soon_threadsafe(settle, seconds, None)
            self._serve()

        self._thread = threading.Thread(target=main, name="synth-engine", daemon=True)
        self._thread.start()
        try:
            return await ready
        except BaseException:
            # it ends right after handing over the error (or at the next warm-up
            # step when cancelled): nothing may be queued for it
            abort.set()
            await asyncio.to_thread(self._thread.join, 10)
            self._thread = None
            raise

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

    @property
    def batch_limit(self) -> int:
        fast = getattr(self.engine, "fast", None)
        return fast.max_batch if fast is not None else 1

    # ------------------------------------------------------------------ the loop's side

    def stream(self, request: SynthRequest) -> EngineStream:
        job = SpeechJob(self._loop(), request)
        self._jobs.put((NOW, next(self._arrival), 0, job))
        return EngineStream(job)

    def stream_ahead(self, requests: list[SynthRequest]) -> list[EngineStream]:
        """One group, behind every job asked for now: batched together on the fast path."""
        if not requests:
            return []
        jobs = [SpeechJob(self._loop(), r) for r in requests]
        self._jobs.put((AHEAD, next(self._arrival), 0, jobs))
        return [EngineStream(job) for job in jobs]

    async def call(self, fn: Callable[[Any], Any]) -> Any:
        """Run ``fn(engine)`` on the engine thread, after the message it is on."""
        job = CallJob(self._loop(), fn)
        self._jobs.put((NOW, next(self._arrival), 0, job))
        async for _ in EngineStream(job):
            pass
        return job.result

    def _loop(self) -> asyncio.AbstractEventLoop:
        if not self.alive:
            raise SynthUnavailable("the synthesis engine is not running")
        return asyncio.get_running_loop()

    # ------------------------------------------------------------------ the engine thread

    def _serve(self) -> None:
        while True:
            job = self._next(block=True)
            if job is _STOP:
                return
            if job.cancel.is_set():
                job.settle()
                continue
            if isinstance(job, CallJob):
                self._run(job, lambda job=job: job.run(self.engine))
                continue
            batch = [job]
            while len(batch) < self.batch_limit:  # messages already waiting join this one
                more = self._next(block=False)
                if more is None:
                    break
                if isinstance(more, SpeechJob) and not more.cancel.is_set():
                    batch.append(more)
                else:
                    self._jobs.put(self._taken)  # not batchable: back in its place
                    break
            if len(batch) > 1:
                self._speak_batch(batch)
            else:
                self._run(job, lambda job=job: self._speak(job))

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

    @staticmethod
    def _run(job: Job, work: Callable[[], Any]) -> None:
        job.stats.started = time.perf_counter()
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - reported to the job's consumer
            job.settle(exc)
            return
        job.settle()

    def _speak(self, job: SpeechJob) -> None:
        """One message, chunk by chunk, each chunk's blocks handed over as soon as it is made."""
        engine, r = self.engine, job.request
        prepared = engine.prepared_voice(r.voice)
        params = engine.params(prepared, nfe_step=r.nfe_step, speed=r.speed, seed=r.seed)
        job.stats.nfe_step = params.nfe_step
        emitter = Emitter(engine.sample_rate, job, self.loaded.config.engine, r.utterance_id)
        t0 = time.perf_counter()
        for chunk, wave in engine.stream(prepared.id, r.text, params, job.cancel):
            if emitter.chunk(chunk, wave, time.perf_counter() - t0):
                break
            t0 = time.perf_counter()
        emitter.finish()

    def _speak_batch(self, jobs: list[SpeechJob]) -> None:
        """Messages that waited together, synthesized together (one batch per
        round of chunks); each still streams to its own consumer."""
        engine, cfg = self.engine, self.loaded.config.engine
        now = time.perf_counter()
        outcome: dict[int, BaseException | None] = {}
        entries, owners, emitters, stops = [], [], {}, {}
        for i, job in enumerate(jobs):
            job.stats.started = now
            r = job.request
            try:
                prepared = engine.prepared_voice(r.voice)
                params = engine.params(prepared, nfe_step=r.nfe_step, speed=r.speed, seed=r.seed)
            except BaseException as exc:  # noqa: BLE001 - that message's error
                outcome[i] = exc
                continue
            job.stats.nfe_step = params.nfe_step
            stops[i] = _Stop(job.cancel)
            emitters[i] = Emitter(engine.sample_rate, job, cfg, r.utterance_id)
            entries.append((prepared.id, r.text, params, stops[i]))
            owners.append(i)
        last = dict.fromkeys(emitters, now)
        try:
            for k, chunk, wave in engine.stream_batch(entries):
                i = owners[k]
                if i in outcome:
                    continue
                if isinstance(wave, BaseException):
                    outcome[i] = wave
                    stops[i].full = True
                    continue
                if emitters[i].chunk(chunk, wave, time.perf_counter() - last[i]):
                    stops[i].full = True  # cut at max_audio_s: no more chunks for it
                last[i] = time.perf_counter()
        except BaseException as exc:  # noqa: BLE001 - the whole batch failed
            for i in range(len(jobs)):
                outcome.setdefault(i, exc)
        for i, job in enumerate(jobs):
            exc = outcome.get(i)
            if exc is None and i in emitters:
                emitters[i].finish()
            job.settle(exc)


class _Stop:
    """A batched message stops when its consumer cancels or it is full."""

    def __init__(self, cancel: threading.Event):
        self.cancel = cancel
        self.full = False

    def is_set(self) -> bool:
        return self.full or self.cancel.is_set()


__all__ = ["EngineThread"]
