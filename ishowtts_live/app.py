"""The composition root: build the stages, start them in dependency order,
stop them in reverse. Nothing else wires stages together.

Start: controls + control server (answering 503 with the start's progress) →
sink → synthesizer (load + warm-up, each step reported to systemd and the
control API) → journal + queue → filters → pipeline (playback, ingest) →
sources → the stages attached to the controls → READY.
Stop (SIGTERM): commands answer 503, sources stop first, the utterance playing
may finish within the grace period, then the rest in reverse, the control
server last; a second signal forces it.

It also names each stage's config checks (:data:`CONFIG_CHECKS`), so
``config check`` and ``run`` refuse the same configurations, and which
synthesizer backend a name means (:data:`SYNTHESIZERS`).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import time
from typing import Any, Iterable

import structlog

from ishowtts_live import lifecycle
from ishowtts_live.bus import EventBus
from ishowtts_live.config.loading import Check, LoadedConfig, load_config
from ishowtts_live.controls import Controls
from ishowtts_live.errors import AudioDeviceError
from ishowtts_live.events import KEPT, Utterance, Verdict
from ishowtts_live.filters import FilterChain
from ishowtts_live.filters.moderation import ModerationState
from ishowtts_live.metrics import Metrics
from ishowtts_live.pipeline import (
    Backlog, Drops, EventClock, Ingest, Moderator, Playback, RuntimeOverrides, VoiceRouter,
)
from ishowtts_live.queueing.journal import Journal
from ishowtts_live.queueing.queue import SpeechQueue
from ishowtts_live.sources.checks import live_enabled
from ishowtts_live.synth.protocol import Synthesizer
from ishowtts_live.synth.voices import discover as discover_voices

log = structlog.get_logger(__name__)

# Each stage's checks of its own config section ("module:function", imported when used).
CONFIG_CHECKS = (
    "ishowtts_live.synth.checks:check_engine",
    "ishowtts_live.synth.checks:check_voices",
    "ishowtts_live.synth.checks:check_serve",
    "ishowtts_live.sources.checks:check_replay",
    "ishowtts_live.sources.checks:check_bilibili",
    "ishowtts_live.sources.checks:check_twitch_youtube",
    "ishowtts_live.filters.checks:check_filters",
    "ishowtts_live.control.checks:check_control",
)
# Synthesizer backends by name → "module:class" (the chosen one is imported when built).
SYNTHESIZERS = {
    "local": "ishowtts_live.synth.local:LocalSynthesizer",
    "triton": "ishowtts_live.synth.triton:TritonSynthesizer",  # torch-free: a Triton server synthesizes
}


def _imported(name: str) -> Any:
    module, _, attr = name.partition(":")
    return getattr(importlib.import_module(module), attr)


def config_checks() -> list[Check]:
    return [_imported(name) for name in CONFIG_CHECKS]


def load_checked(path: str | None, overrides: Iterable[str] = ()) -> LoadedConfig:
    """The configuration with every check ``run`` makes passed (ConfigError listing each problem)."""
    return load_config(path, overrides, checks=config_checks())


def make_synthesizer(loaded: LoadedConfig, backend: str | None = None) -> Synthesizer:
    """The synthesizer ``backend`` names (None: the config's engine.backend)."""
    return _imported(SYNTHESIZERS[backend or loaded.config.engine.backend])(loaded)


def make_sink(loaded: LoadedConfig, sample_rate: int = 24000):
    """The configured output; "auto" falls back to a WAV file when no device opens."""
    audio = loaded.config.audio
    if audio.output == "null":
        from ishowtts_live.sinks.null import NullSink

        return NullSink(sample_rate, realtime=True)
    if audio.output == "wav":
        from ishowtts_live.sinks.wav import WavSink

        return WavSink(audio.wav_path, sample_rate)
    from ishowtts_live.sinks.device import SoundDeviceSink

    return SoundDeviceSink(audio.device, sample_rate, latency=audio.latency_ms / 1000, device_rate=audio.sample_rate)


async def open_sink(loaded: LoadedConfig, sample_rate: int = 24000):
    sink = make_sink(loaded, sample_rate)
    try:
        await sink.open()
    except AudioDeviceError as exc:
        if loaded.config.audio.output != "auto":
            raise
        from ishowtts_live.sinks.wav import WavSink

        path = loaded.config.audio.wav_path
        log.warning("no audio device; writing speech to a WAV file instead", error=str(exc), path=path)
        sink = WavSink(path, sample_rate)
        await sink.open()
    return sink


def build_sources(loaded: LoadedConfig) -> list[Any]:
    """Every enabled live source; the replay log when none is enabled."""
    from ishowtts_live.sources import load_factory

    cfg = loaded.config.sources
    sources = [load_factory(name)(getattr(cfg, name)) for name in live_enabled(loaded)]
    return sources or [load_factory("replay")(cfg.replay)]


class Daemon:
    """One running ishowtts-live: builds the stages, runs them, stops them.
    Once started, :attr:`controls` is what the moderator drives."""

    def __init__(self, loaded: LoadedConfig, *, synthesizer: Synthesizer | None = None,
                 sink: Any | None = None, sources: list[Any] | None = None):
        self.loaded = loaded
        self.config = loaded.config
        self.synth = synthesizer if synthesizer is not None else make_synthesizer(loaded)
        self._sink = sink
        self._sources = sources
        self.bus = EventBus()
        self.metrics = Metrics()
        self.drops = Drops(self.bus, self.metrics)
        self.overrides = RuntimeOverrides()
        self.shutdown = lifecycle.Shutdown()
        self.notifier = lifecycle.Notifier()
        self.startup = lifecycle.Startup(self.notifier, self.config.daemon.warmup_step_timeout_s)
        self.startup.listeners.append(self._publish_progress)
        self.started_at = time.time()
        self.ready = asyncio.Event()
        self.sources: list[Any] = []
        self.sink: Any = None
        self.clock: EventClock | None = None
        self.backlog: Backlog | None = None
        self.queue: SpeechQueue | None = None
        self.chain: FilterChain | None = None
        self.journal: Journal | None = None
        self.playback: Playback | None = None
        self.ingest: Ingest | None = None
        self.controls: Controls | None = None
        self.control: Any = None  # the control server
        self._tasks: list[asyncio.Task] = []

    # ------------------------------------------------------------------ running

    async def run(self) -> int:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            self.shutdown.install()
        async with contextlib.AsyncExitStack() as stack:
            stack.callback(self.shutdown.uninstall)
            if not await self._start_unless_stopped(stack):
                return 0
            self.startup.ready(f"speaking; {len(self.sources)} source(s)")
            self.ready.set()
            self.bus.publish("ready", startup_s=round(self.startup.elapsed_s, 1))
            log.info("ready", sources=[s.name for s in self.sources], voice=self.config.voices.default,
                     nfe_step=self.config.engine.nfe_step, state_dir=str(self.journal.path),
                     startup_s=round(self.startup.elapsed_s, 1))
            reason = await self._wait_for_end()
            self.startup.stopping()
            log.info("stopping", reason=reason)
            await self._stop_gracefully()
        alive = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()
                 and t.get_name().startswith("ishowtts:")]
        if alive:
            log.warning("tasks still alive after teardown", tasks=[t.get_name() for t in alive])
        return 0

    async def _start_unless_stopped(self, stack: contextlib.AsyncExitStack) -> bool:
        """Start every stage; False when a stop was asked for first. A warm-up
        takes minutes on a Jetson: SIGTERM or Ctrl-C meanwhile ends the start
        (the engine stops at its next warm-up step) and what had started is
        stopped in reverse, instead of waiting for the warm-up to finish."""
        start = asyncio.ensure_future(self._start(stack))
        stop = asyncio.ensure_future(self.shutdown.requested.wait())
        await asyncio.wait({start, stop}, return_when=asyncio.FIRST_COMPLETED)
        if start.done():
            stop.cancel()
            start.result()  # raises what stopped the start
            return True
        self.startup.stopping()
        log.info("stopping during start-up", reason=self.shutdown.signal_name, during=self.startup.what)
        start.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await start
        return False

    async def _start(self, stack: contextlib.AsyncExitStack) -> None:
        cfg = self.config
        # 0. the moderator's controls and their server: first up, last down, so /healthz and
        #    `ctl status` show the start's progress; commands answer 503 until the stages run
        self.controls = Controls(
            config=cfg, synth=self.synth, overrides=self.overrides, drops=self.drops, bus=self.bus,
            metrics=self.metrics, startup=self.startup, started_at=self.started_at,
            voice_ids=lambda: list(discover_voices(cfg.voices.dir)),
        )
        if cfg.control.enabled:
            from ishowtts_live.control.server import ControlServer

            self.control = ControlServer(self.controls, cfg.control, cfg.state.dir)
            await self.control.start()
            stack.push_async_callback(self.control.stop)
        # 1. sink
        self.startup.stage("opening the audio output")
        self.sink = self._sink or await open_sink(self.loaded)
        if self._sink is not None:
            await self.sink.open()
        stack.push_async_callback(self.sink.close)
        # 2. synthesis: load, warm up
        self.startup.stage("loading the model")
        warm = await self.synth.start(progress=self.startup.progress)
        stack.push_async_callback(self.synth.stop)
        self.metrics.watch_synth(self.synth)
        log.info("engine ready", warmup_s=round(warm, 2))
        self.startup.stage("starting the pipeline")
        # 3. journal, moderation state, queue
        self.journal = Journal.open(self.loaded)
        stack.callback(self.journal.close)
        moderation = ModerationState(cfg.filters.muted_users, cfg.filters.blocked_words, self.journal)
        moderation.restore(*self.journal.load_moderation())
        self.clock = EventClock(rate=cfg.sources.replay.speed if self._replay_only() else 1.0,
                                start=0.0 if self._replay_only() else None)
        self.queue = SpeechQueue(cfg.queue, self.journal, self.clock.now)
        self.queue.listeners.append(self.drops.on_queue)
        # 4. filters; paid messages accepted before a crash or stop, re-checked against mutes made since
        self.chain = FilterChain(cfg.filters, cfg.speech, moderation)
        for utt in self.queue.requeue_journaled(admit=self.recheck):
            log.info("paid message restored from the journal", msg_id=utt.event.msg_id if utt.event else utt.id)
        # 5. the pipeline: playback, moderation, ingest
        self.backlog = Backlog(
            threshold_s=cfg.backlog.threshold_s if cfg.backlog.enabled else float("inf"),
            recover_s=cfg.backlog.recover_s, speed=cfg.backlog.speed, nfe_floor=cfg.backlog.nfe_floor,
            compact=cfg.backlog.compact, on_change=self._on_backlog,
        )
        self.playback = Playback(self.queue, self.synth, self.sink, self.bus, self.metrics, self.drops,
                                 self.overrides, self.backlog, cfg.engine.nfe_step, self.recheck,
                                 prefetch=self._prefetch())
        moderator = Moderator(moderation, self.queue, self.playback, self.bus, self.metrics)
        self.ingest = Ingest(self.chain, self.queue, moderator,
                             VoiceRouter(cfg.voices.by_kind, cfg.voices.by_user, self.overrides),
                             self.clock, self.bus, self.metrics, self.drops, self.backlog)
        self._spawn(self.playback.run(), "playback")
        self._spawn(self._housekeeping(), "housekeeping")
        self._spawn(self.notifier.watchdog(lambda: self.synth.health().serving), "watchdog")
        # 6. sources
        self.sources = self._sources if self._sources is not None else build_sources(self.loaded)
        self.metrics.watch_sources(self.sources)
        for source in self.sources:
            if hasattr(source, "on_reconnect"):
                source.on_reconnect = lambda name, error: self.metrics.reconnects.labels(name).inc()
            self._spawn(self.ingest.run(source), f"source:{source.name}")
        # 7. every stage runs: the moderator's commands reach them from READY on
        self.controls.attach(queue=self.queue, playback=self.playback, ingest=self.ingest, moderator=moderator,
                             chain=self.chain, backlog=self.backlog, clock=self.clock, sources=self.sources)

    def recheck(self, utt: Utterance) -> Verdict:
        """Right before speaking: a mute or blocked word added since it was queued still wins."""
        return self.chain.recheck(utt.event, utt.text) if utt.event is not None else KEPT

    def _publish_progress(self, startup: lifecycle.Startup) -> None:
        """Each stage and warm-up step of the start, on the event stream (`ctl events`)."""
        self.bus.publish("starting", step=startup.step, steps=startup.steps, what=startup.what)

    def _prefetch(self) -> int:
        """engine.prefetch; auto = what the synthesizer batches at once."""
        n = self.config.engine.prefetch
        return n if n >= 0 else self.synth.max_batch

    def _spawn(self, coro, name: str) -> asyncio.Task:
        task = asyncio.create_task(coro, name=f"ishowtts:{name}")
        self._tasks.append(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("stage failed", task=task.get_name(), error=f"{type(exc).__name__}: {exc}")
            self.shutdown.request(f"{task.get_name()} failed")

    def _replay_only(self) -> bool:
        if self._sources is not None:
            return all(getattr(s, "name", "").startswith("replay:") for s in self._sources)
        return not live_enabled(self.loaded)

    async def _wait_for_end(self) -> str:
        shutdown = asyncio.ensure_future(self.shutdown.requested.wait())
        waiters = {shutdown}
        if self.config.daemon.exit_when_replay_ends and self._replay_only():
            waiters.add(asyncio.ensure_future(self._replay_done()))
        done, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for w in pending:
            w.cancel()
        return self.shutdown.signal_name if shutdown in done else "replay finished"

    async def _replay_done(self) -> None:
        sources = [t for t in self._tasks if t.get_name().startswith("ishowtts:source:")]
        await asyncio.gather(*sources, return_exceptions=True)
        while len(self.queue) or self.playback.current is not None:
            await asyncio.sleep(0.1)
        await self.sink.drain()

    async def _stop_gracefully(self) -> None:
        grace = self.config.daemon.shutdown_grace_s
        for source in self.sources:
            await source.aclose()
        for task in self._tasks:
            if task.get_name().startswith("ishowtts:source:"):
                task.cancel()
        stop = asyncio.ensure_future(self.playback.stop(grace))
        forced = asyncio.ensure_future(self.shutdown.forced.wait())
        await asyncio.wait({stop, forced}, timeout=grace + 1, return_when=asyncio.FIRST_COMPLETED)
        forced.cancel()
        if not stop.done():
            stop.cancel()
            self.playback.skip("forced")
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _housekeeping(self) -> None:
        while True:
            self.metrics.queue_depth.set(len(self.queue))
            self.backlog.update(self.queue.oldest_wait())
            # a state disk that came back is written again even when nothing changes
            await asyncio.to_thread(self.journal.retry)
            if self.controls is not None:
                self.controls.publish_health_changes()
            await asyncio.sleep(0.5)

    def _on_backlog(self, active: bool, oldest_wait: float) -> None:
        self.metrics.degraded.set(1 if active else 0)
        self.metrics.degradations.labels("degraded" if active else "normal").inc()
        self.bus.publish("backlog", degraded=active, oldest_wait_s=round(oldest_wait, 1))


async def run_daemon(loaded: LoadedConfig) -> int:
    return await Daemon(loaded).run()


__all__ = ["CONFIG_CHECKS", "Daemon", "build_sources", "load_checked", "make_synthesizer", "open_sink",
           "run_daemon"]
