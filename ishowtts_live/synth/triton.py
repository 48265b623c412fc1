"""The Triton backend (``engine.backend = "triton"``): every sentence chunk is
synthesized by a Triton Inference Server that speaks upstream F5-TTS's Triton
contract (:mod:`.wire`) — ``ishowtts-live serve`` on another machine, or
upstream's own TensorRT-LLM deployment. Torch-free: the daemon may run on a
small box without a GPU.

Chunking stays here: a message is planned into sentence chunks exactly as the
local engine plans it (the first one short), chunk k+1 is requested as soon as
chunk k's audio is handed to the player, and a cancelled message cancels its
request in flight. Batching across messages (and across daemons) is the
server's job: its dynamic batcher groups concurrent requests.

The server may be away: at start (``run`` starts anyway and says so in
``health()``), or later. A watcher task reconnects with backoff; a message
whose request finds no server fails with :class:`SynthUnavailable`, which the
pipeline answers by keeping the message and waiting (:attr:`recovers`).
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import structlog

from ishowtts_live.config.loading import LoadedConfig
from ishowtts_live.errors import IshowttsError, SynthesisError, SynthUnavailable
from ishowtts_live.events import AudioChunk
from ishowtts_live.synth import voices
from ishowtts_live.synth.jobs import Emitter
from ishowtts_live.synth.protocol import END, StreamStats, SynthHealth, SynthRequest, WarmupProgress, next_block
from ishowtts_live.synth.reference import HOP, MODEL_RATE, reference_at, reference_transcript
from ishowtts_live.synth.textchunks import nbytes, plan_chunks
from ishowtts_live.synth.wire import EXTRAS, Connection, ModelInfo, ServerDown, ServerError, TimedOut, parse_url

log = structlog.get_logger(__name__)

CHECK_EVERY_S = 5.0  # while connected: how often the server is asked whether it is still there
BACKOFF_S = (0.25, 10.0)  # reconnect delay: first, most (doubling, with jitter)
CONNECT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class RemoteVoice:
    """A voice as it is sent: its reference at the server's rate, and what the
    chunk planner needs (the reference's length in model frames)."""

    id: str
    samples: np.ndarray  # float32, mono, at ``rate``
    rate: int
    text: str  # the transcript as upstream feeds it
    ref_frames: int
    spec: voices.VoiceSpec


@dataclass(frozen=True)
class ChunkParams:
    nfe_step: int
    cfg_strength: float
    sway_sampling_coef: float
    speed: float
    seed: int  # -1: the server draws one


class TritonSynthesizer:
    """The Synthesizer protocol on a Triton server ([engine.triton])."""

    recovers = True  # SynthUnavailable means: the server is away, keep the message

    def __init__(self, loaded: LoadedConfig):
        self.loaded = loaded
        self.cfg = loaded.config.engine
        self.endpoint = parse_url(self.cfg.triton.url)
        self.url = self.cfg.triton.url
        self.connection = Connection(self.endpoint, self.cfg.triton.model)
        self.info: ModelInfo | None = None
        self.requests = 0  # chunk requests answered (bench and tests)
        self._state = "stopped"
        self._detail = ""
        self._ready: asyncio.Event | None = None
        self._check_now: asyncio.Event | None = None
        self._watcher: asyncio.Task | None = None
        self._voices: dict[tuple[str, int], RemoteVoice] = {}
        self._streams: set[TritonStream] = set()

    # ------------------------------------------------------------------ the protocol: life

    @property
    def sample_rate(self) -> int:
        return MODEL_RATE

    @property
    def max_batch(self) -> int:
        """The server's batch size once known (prefetch follows it), else engine.max_batch."""
        return max(1, self.info.max_batch) if self.info is not None else self.cfg.max_batch

    async def start(self, *, warmup: bool | None = None, progress: WarmupProgress | None = None) -> float:
        """Connect; an unreachable server is reported in :meth:`health` and
        retried in the background, not raised (``say`` asks :meth:`wait_ready`)."""
        self._ready, self._check_now = asyncio.Event(), asyncio.Event()
        self._state = "starting"
        await asyncio.to_thread(voices.read_reference,  # a bad default voice is a config error, now
                                voices.find_voice(self.loaded.config.voices.dir, self.loaded.config.voices.default))
        t0 = time.perf_counter()
        if progress is not None:
            progress(1, 1, f"connecting to {self.url}")
        try:
            await self._connect()
        except (ServerDown, ServerError) as exc:
            self._down(str(exc))
        self._watcher = asyncio.create_task(self._watch(), name="ishowtts:triton-watch")
        return time.perf_counter() - t0

    async def stop(self) -> None:
        for stream in list(self._streams):
            stream.cancel()
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
            self._watcher = None
        await self.connection.close()
        self._state = "stopped"

    async def wait_ready(self, timeout: float) -> None:
        if self._state == "ready":
            return
        if self._ready is None:
            raise SynthUnavailable("the Triton client is not started")
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except asyncio.TimeoutError:
            raise SynthUnavailable(f"no Triton server at {self.url}: {self._detail or 'no answer'}") from None

    def health(self) -> SynthHealth:
        if self._state == "unavailable":
            return SynthHealth("unavailable", f"no Triton server at {self.url}: {self._detail}")
        return SynthHealth(self._state)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ the protocol: speaking

    async def prepare_voice(self, voice: str | None) -> str:
        rate = self.info.reference_rate if self.info is not None else MODEL_RATE
        return (await self.remote_voice(voice, rate)).id

    def stream(self, request: SynthRequest) -> TritonStream:
        if self._state != "ready":
            raise SynthUnavailable(self.health().detail or f"the Triton client is {self._state}")
        stream = TritonStream(self, request)
        self._streams.add(stream)
        stream.when_done(lambda: self._streams.discard(stream))
        return stream

    def stream_ahead(self, requests: Sequence[SynthRequest]) -> list[TritonStream]:
        """Started at once: the server's dynamic batcher groups them with
        whatever else it is asked, from this daemon or another."""
        return [self.stream(r) for r in requests]

    # ------------------------------------------------------------------ voices and parameters

    async def remote_voice(self, voice_id: str | None, rate: int) -> RemoteVoice:
        voice_id = voice_id or self.loaded.config.voices.default
        key = (voice_id, rate)
        if key not in self._voices:
            voice = voices.find_voice(self.loaded.config.voices.dir, voice_id)
            samples = await asyncio.to_thread(reference_at, voice, rate)
            text = reference_transcript(voice.text)
            frames = int(len(samples) * MODEL_RATE / rate) // HOP
            self._voices[key] = RemoteVoice(voice_id, samples, rate, text, frames, voice.spec)
        return self._voices[key]

    def params(self, voice: RemoteVoice, request: SynthRequest) -> ChunkParams:
        """Per message, else the voice's, else [engine]'s (as the local engine picks them)."""
        pick = lambda *xs: next(x for x in xs if x is not None)  # noqa: E731
        spec, cfg = voice.spec, self.cfg
        return ChunkParams(
            nfe_step=pick(request.nfe_step, spec.nfe_step, cfg.nfe_step),
            cfg_strength=pick(spec.cfg_strength, cfg.cfg_strength),
            sway_sampling_coef=cfg.sway_sampling_coef,
            speed=pick(request.speed, spec.speed, cfg.speed),
            seed=pick(request.seed, cfg.seed),
        )

    def plan(self, voice: RemoteVoice, text: str, params: ChunkParams) -> list[str]:
        """The local engine's chunk plan: budgets in seconds of speech at the voice's pace."""
        pace = voice.ref_frames / nbytes(voice.text) * HOP / MODEL_RATE

        def seconds_of(s: str) -> float:
            return pace * nbytes(s) / params.speed

        return plan_chunks(text, seconds_of, first_s=self.cfg.first_chunk_s, chunk_s=self.cfg.chunk_s,
                           max_total_s=self.cfg.max_audio_s)

    # ------------------------------------------------------------------ one chunk

    async def chunk(self, voice: RemoteVoice, text: str, params: ChunkParams) -> np.ndarray:
        """The waveform of one chunk: SynthUnavailable when the server is away,
        SynthesisError when it failed this chunk or answered nonsense."""
        if self._state != "ready" or self.info is None:
            raise SynthUnavailable(self.health().detail or "the Triton server is not connected")
        inputs = self._inputs(self.info, voice, text, params)
        try:
            wave = await self.connection.infer(inputs, self.cfg.triton.timeout_s)
        except TimedOut as exc:
            if await self._still_there():
                raise SynthesisError(f"the Triton server at {self.url} took longer than "
                                     f"engine.triton.timeout_s = {self.cfg.triton.timeout_s:g} s for {text[:30]!r}") from None
            self._down(str(exc))
            raise SynthUnavailable(self.health().detail) from None
        except ServerDown as exc:
            self._down(str(exc))
            raise SynthUnavailable(self.health().detail) from None
        except ServerError as exc:
            raise SynthesisError(f"the Triton server failed {text[:30]!r}: {exc}") from None
        self.requests += 1
        return checked_waveform(wave, text)

    @staticmethod
    def _inputs(info: ModelInfo, voice: RemoteVoice, text: str, params: ChunkParams) -> dict[str, np.ndarray]:
        """One request as upstream's client shapes it: a batch dimension of one on every input."""
        inputs = {
            "reference_wav": voice.samples[None, :],
            "reference_wav_len": np.array([[len(voice.samples)]], np.int32),
            "reference_text": np.array([[voice.text.encode("utf-8")]], dtype=object),
            "target_text": np.array([[text.encode("utf-8")]], dtype=object),
        }
        values = {"nfe_step": params.nfe_step, "cfg_strength": params.cfg_strength,
                  "sway_sampling_coef": params.sway_sampling_coef, "speed": params.speed, "seed": params.seed}
        for name in sorted(info.extras):
            inputs[name] = np.array([[values[name]]], EXTRAS[name][1])
        return inputs

    # ------------------------------------------------------------------ the connection

    async def _connect(self) -> None:
        info = await self.connection.describe(min(CONNECT_TIMEOUT_S, self.cfg.triton.timeout_s))
        first = self.info is None
        self.info = info
        if self._state != "ready":
            log.info("synthesis on Triton" if first else "Triton server is back", url=self.url,
                     model=self.cfg.triton.model, max_batch=info.max_batch, reference_rate=info.reference_rate,
                     extras=sorted(info.extras) or None)
        self._state, self._detail = "ready", ""
        assert self._ready is not None
        self._ready.set()

    def _down(self, detail: str) -> None:
        if self._state != "unavailable":
            log.warning("Triton server unavailable; retrying in the background", url=self.url, error=detail)
        self._state, self._detail = "unavailable", detail
        if self._ready is not None:
            self._ready.clear()
        if self._check_now is not None:
            self._check_now.set()

    async def _still_there(self) -> bool:
        try:
            await self.connection.describe(CONNECT_TIMEOUT_S)
        except (ServerDown, ServerError):
            return False
        return True

    async def _watch(self) -> None:
        """While connected, ask now and then (so /healthz notices a server gone
        between messages); while not, reconnect with doubling, jittered delays."""
        assert self._check_now is not None
        delay = BACKOFF_S[0]
        while True:
            if self._state == "ready":
                delay = BACKOFF_S[0]
                try:
                    await asyncio.wait_for(self._check_now.wait(), CHECK_EVERY_S)
                except asyncio.TimeoutError:
                    pass
            else:
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, BACKOFF_S[1])
            self._check_now.clear()
            try:
                await self._connect()
            except (ServerDown, ServerError) as exc:
                self._down(str(exc))


def checked_waveform(wave: Any, text: str) -> np.ndarray:
    """A server's answer as one float32 waveform, or SynthesisError saying what is wrong with it."""
    what = f"the Triton server's answer for {text[:30]!r}"
    if not isinstance(wave, np.ndarray):
        raise SynthesisError(f"{what} has no waveform")
    if wave.dtype != np.float32:
        raise SynthesisError(f"{what} is {wave.dtype}, not float32")
    if wave.ndim == 2 and wave.shape[0] == 1:
        wave = wave[0]
    if wave.ndim != 1:
        raise SynthesisError(f"{what} has shape {list(wave.shape)}, not [1, samples]")
    if wave.size == 0:
        raise SynthesisError(f"{what} is empty")
    if not np.isfinite(wave).all():
        raise SynthesisError(f"{what} holds NaN or infinite samples")
    return np.clip(wave, -1.0, 1.0)


class TritonStream:
    """One message's audio (the AudioStream protocol): its chunks requested one
    after another by a task, their blocks queued for the consumer."""

    def __init__(self, owner: TritonSynthesizer, request: SynthRequest):
        self.request = request
        self.stats = StreamStats()
        self._owner = owner
        self._out: asyncio.Queue = asyncio.Queue()
        self._done = False
        self._cancelled = False
        self._on_done: list[Callable[[], None]] = []
        self._task = asyncio.get_running_loop().create_task(self._run(), name="ishowtts:triton-stream")

    # the AudioStream protocol

    def __aiter__(self) -> TritonStream:
        return self

    async def __anext__(self) -> AudioChunk:
        return await next_block(self._out)

    def cancel(self) -> None:
        if not self._cancelled:
            self._cancelled = True
            self._task.cancel()

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    @property
    def done(self) -> bool:
        return self._done

    def when_done(self, callback: Callable[[], None]) -> None:
        if self._done:
            asyncio.get_running_loop().call_soon(callback)
        else:
            self._on_done.append(callback)

    # what jobs.Emitter hands its blocks to

    def put_block(self, chunk: AudioChunk) -> None:
        self._out.put_nowait(chunk)

    # the task

    async def _run(self) -> None:
        owner, request = self._owner, self.request
        error: BaseException | None = None
        try:
            if owner.info is None:
                raise SynthUnavailable(owner.health().detail or "the Triton server is not connected")
            voice = await owner.remote_voice(request.voice, owner.info.reference_rate)
            params = owner.params(voice, request)
            self.stats.nfe_step = params.nfe_step
            self.stats.started = time.perf_counter()
            emitter = Emitter(owner.sample_rate, self, owner.cfg, request.utterance_id)
            for text in owner.plan(voice, request.text, params):
                t0 = time.perf_counter()
                wave = await owner.chunk(voice, text, params)
                if emitter.chunk(text, wave, time.perf_counter() - t0):
                    break  # cut at engine.max_audio_s
            emitter.finish()
        except asyncio.CancelledError:
            pass  # skip, purge or shutdown: the consumer stops reading
        except IshowttsError as exc:
            error = exc
        except Exception as exc:  # noqa: BLE001 - a bug here fails this message, not the daemon
            log.debug("triton stream error", exc_info=exc)
            error = SynthesisError(f"synthesis failed: {type(exc).__name__}: {exc}")
        self.stats.finished = time.perf_counter()
        self._done = True
        for callback in self._on_done:
            callback()
        self._on_done.clear()
        self._out.put_nowait(error if error is not None else END)


__all__ = ["TritonStream", "TritonSynthesizer", "checked_waveform"]
