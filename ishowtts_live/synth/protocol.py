"""What the rest of the daemon needs from synthesis: the :class:`Synthesizer`
protocol. Torch-free, so the pipeline, the control plane and ``say`` depend
on this and never on an engine.

Implementations: :class:`~ishowtts_live.synth.local.LocalSynthesizer` (the F5
engine on this machine's GPU or CPU, in its own thread); a remote one (a
Triton Inference Server client) fits the same protocol: everything that may
wait is async, a backend may be unavailable for a while and come back
(:meth:`Synthesizer.health`, :meth:`Synthesizer.wait_ready`), and a stream
that cannot be served ends with an error from its iteration, never by
blocking the event loop: :class:`~ishowtts_live.errors.SynthesisError` when
this message cannot be synthesized (NaN, out of memory, a bad voice), its
subclass :class:`~ishowtts_live.errors.SynthUnavailable` when synthesis is
away for now and the message may be tried again. Tests that are not about
synthesis use the kit's ``FakeSynthesizer``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, AsyncIterator, Callable, Literal, Protocol, Sequence, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

    from ishowtts_live.events import AudioChunk

# (step, of steps, what) — called on the event loop while warming up
WarmupProgress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class SynthRequest:
    """One message to speak. ``None`` = the voice's setting, else the engine's."""

    text: str
    voice: str | None = None  # None or "" = voices.default
    utterance_id: str = ""  # carried on every AudioChunk
    nfe_step: int | None = None
    speed: float | None = None
    seed: int | None = None  # None = engine.seed (-1: a fresh one per message)


@dataclass
class StreamStats:
    """What happened to one message, filled in as it streams (perf_counter seconds)."""

    submitted: float = field(default_factory=time.perf_counter)
    started: float | None = None  # synthesis of it began
    first_block: float | None = None
    finished: float | None = None
    chunks: list[str] = field(default_factory=list)  # the text chunks synthesized
    synth_seconds: float = 0.0
    audio_seconds: float = 0.0
    truncated: bool = False  # cut at engine.max_audio_s
    nfe_step: int = 0

    @property
    def rtf(self) -> float | None:
        return self.synth_seconds / self.audio_seconds if self.audio_seconds else None


@runtime_checkable
class AudioStream(Protocol):
    """The audio of one message: an async iterator of blocks (≤ engine.block_ms
    each, the last one flagged ``is_last``). Iteration raises SynthesisError
    when the message cannot be synthesized."""

    stats: StreamStats

    def __aiter__(self) -> AsyncIterator[AudioChunk]: ...

    async def __anext__(self) -> AudioChunk: ...

    def cancel(self) -> None:
        """Stop synthesizing it (skip, purge, shutdown); iteration then ends soon."""

    @property
    def cancelled(self) -> bool: ...

    @property
    def done(self) -> bool:
        """Synthesis is over: every block is waiting for the consumer, or it failed or was cancelled."""

    def when_done(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` on the event loop once :attr:`done` (at once if it is)."""


HealthState = Literal["starting", "ready", "degraded", "unavailable", "stopped"]


@dataclass(frozen=True)
class SynthHealth:
    """``ready``: synthesis works; ``degraded``: it works, slower or partly
    (say so in /healthz, keep speaking); ``unavailable``: it does not now
    (a remote server away, the engine thread dead); ``starting``/``stopped``."""

    state: HealthState
    detail: str = ""

    @property
    def serving(self) -> bool:
        return self.state in ("ready", "degraded")


@runtime_checkable
class Synthesizer(Protocol):
    """Text in, audio blocks out, without ever blocking the event loop."""

    @property
    def sample_rate(self) -> int:
        """The rate of every block (Hz)."""

    @property
    def max_batch(self) -> int:
        """How many messages it synthesizes together (1: one at a time)."""

    @property
    def recovers(self) -> bool:
        """Whether it comes back by itself after SynthUnavailable (a remote
        server it reconnects to): the pipeline then keeps the message and
        waits for :meth:`health` to serve again. False: the message failed."""

    async def start(self, *, warmup: bool | None = None, progress: WarmupProgress | None = None) -> float:
        """Load or connect, prepare the voices and (``warmup``; None = the
        config's engine.warmup) warm up; returns the warm-up seconds.
        IshowttsError for what will not fix itself (missing weights, a bad
        voice). A remote backend that is merely unreachable returns anyway and
        reports it in :meth:`health` until it is back."""

    async def stop(self) -> None:
        """Cancel what is in flight and release the engine or connection."""

    async def wait_ready(self, timeout: float) -> None:
        """Return once it can synthesize; SynthesisError (one line naming
        where it looked) after ``timeout`` seconds. For callers that need
        audio now (``say``), not for the daemon, which keeps running."""

    def health(self) -> SynthHealth: ...

    async def prepare_voice(self, voice: str | None) -> str:
        """Make ``voice`` (None = the default) ready to speak; returns its id.
        VoiceError (a ConfigError: one line, exit 78) when it cannot be used."""

    def stream(self, request: SynthRequest) -> AudioStream:
        """Synthesize ``request`` now, ahead of anything asked for ahead."""

    def stream_ahead(self, requests: Sequence[SynthRequest]) -> list[AudioStream]:
        """Messages that will be spoken later, as one group behind everything
        asked for with :meth:`stream`; batched together where the backend can."""


END = object()  # what a stream's queue holds after its last block (else the exception that ended it)


async def next_block(queue: asyncio.Queue) -> AudioChunk:
    """``__anext__`` of a stream whose blocks arrive through ``queue``,
    followed by :data:`END` or the exception that ended it."""
    item = await queue.get()
    if item is END:
        raise StopAsyncIteration
    if isinstance(item, BaseException):
        raise item
    return item


async def synthesize(synth: Synthesizer, request: SynthRequest) -> tuple[np.ndarray, StreamStats]:
    """The whole waveform of ``request`` (``say --out``, ``/api/tts``)."""
    import numpy as np

    stream = synth.stream(request)
    parts = [chunk.pcm async for chunk in stream]
    return (np.concatenate(parts) if parts else np.zeros(0, np.float32)), stream.stats
