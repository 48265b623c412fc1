"""The local backend: the F5 engine on this machine (GPU or CPU), owned by
one thread (:mod:`.worker`), behind the :class:`~.protocol.Synthesizer`
protocol. Torch is imported on the engine thread, when :meth:`start` loads it.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from ishowtts_live.config.loading import LoadedConfig
from ishowtts_live.errors import SynthUnavailable
from ishowtts_live.synth.jobs import EngineStream
from ishowtts_live.synth.protocol import SynthHealth, SynthRequest, WarmupProgress
from ishowtts_live.synth.worker import EngineThread


class LocalSynthesizer:
    """``engine_factory(loaded)`` builds the engine (default: load it from the
    config); tests hand in one already loaded."""

    recovers = False  # a dead engine thread does not come back: its messages fail

    def __init__(self, loaded: LoadedConfig, engine_factory: Callable[[LoadedConfig], Any] | None = None):
        self.loaded = loaded
        self.thread = EngineThread(loaded, engine_factory)
        self._state = "stopped"

    @property
    def engine(self) -> Any:
        """The F5 engine (bench and the engine's own tests look inside it); None before start."""
        return self.thread.engine

    @property
    def sample_rate(self) -> int:
        return self.engine.sample_rate if self.engine is not None else 24000

    @property
    def max_batch(self) -> int:
        return self.thread.batch_limit

    async def start(self, *, warmup: bool | None = None, progress: WarmupProgress | None = None) -> float:
        self._state = "starting"
        warm = self.loaded.config.engine.warmup if warmup is None else warmup
        try:
            seconds = await self.thread.start(warm, progress)
        except BaseException:
            self._state = "stopped"
            raise
        self._state = "running"
        return seconds

    async def stop(self) -> None:
        await self.thread.stop()
        self._state = "stopped"

    async def wait_ready(self, timeout: float) -> None:
        health = self.health()
        if not health.serving:
            raise SynthUnavailable(f"the synthesis engine is not running ({health.detail or health.state})")

    def health(self) -> SynthHealth:
        if self._state == "running":
            if self.thread.alive:
                return SynthHealth("ready")
            return SynthHealth("unavailable", "the engine thread has stopped")
        return SynthHealth("starting" if self._state == "starting" else "stopped")

    def counters(self) -> dict[str, dict[str, int]]:
        """The engine's run-time figures for /metrics (graph captures, unwarmed
        batches, step-downs); read from the loop while the engine thread runs:
        plain counters whose keys never change."""
        counters = getattr(self.engine, "counters", None)
        return counters() if counters is not None else {}

    async def prepare_voice(self, voice: str | None) -> str:
        return await self.thread.call(lambda engine: engine.prepared_voice(voice).id)

    def stream(self, request: SynthRequest) -> EngineStream:
        return self.thread.stream(request)

    def stream_ahead(self, requests: Sequence[SynthRequest]) -> list[EngineStream]:
        return self.thread.stream_ahead(list(requests))
