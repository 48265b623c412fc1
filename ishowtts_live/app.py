"""The composition root: build the stages, start them sink-first, stop them in
reverse. Nothing else wires stages together.

Start: sink → engine thread (load + warm-up) → journal + queue → filters →
playback → sources → control server → READY. Stop (SIGTERM): sources first,
the utterance playing may finish within the grace period, then the rest in
reverse; a second signal forces it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Callable

import structlog

from ishowtts_live import lifecycle
from ishowtts_live.bus import EventBus
from ishowtts_live.config.loading import LoadedConfig
from ishowtts_live.errors import AudioDeviceError, ConfigError
from ishowtts_live.events import KEPT, Utterance, Verdict
from ishowtts_live.metrics import Metrics
from ishowtts_live.pipeline import Backlog, EventClock, Ingest, Playback, Settings, VoiceRouter

log = structlog.get_logger(__name__)

LIVE_PLATFORMS = ("bilibili", "twitch", "youtube")


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
    sources = [load_factory(name)(getattr(cfg, name)) for name in LIVE_PLATFORMS if getattr(cfg, name).enabled]
    return sources or [load_factory("replay")(cfg.replay)]


class Daemon:
    """One running ishowtts-live: the stages and the moderator's controls."""

    def __init__(self, loaded: LoadedConfig, *, engine_factory: Callable | None = None,
                 sink: Any | None = None, sources: list[Any] | None = None):
        self.loaded = loaded
        self.config = loaded.config
        self._engine_factory = engine_factory
        self._sink = sink
        self._sources = sources
        self.bus = EventBus()
        self.metrics = Metrics()
        self.settings = Settings()
        self.shutdown = lifecycle.Shutdown()
        self.notifier = lifecycle.Notifier()
        self.started_at = time.time()
        self.ready = asyncio.Event()
        self.sources: list[Any] = []
        self.queue = self.worker = self.sink = self.playback = self.ingest = self.chain = None
        self.moderation = self.journal = self.control = None
        self._tasks: list[asyncio.Task] = []

    # ------------------------------------------------------------------ running

    async def run(self) -> int:
        cfg = self.config
        with contextlib.suppress(NotImplementedError, RuntimeError):
            self.shutdown.install()
        async with contextlib.AsyncExitStack() as stack:
            stack.callback(self.shutdown.uninstall)
            await self._start(stack)
            self.notifier.ready(f"speaking; {len(self.sources)} source(s)")
            self.ready.set()
            log.info("ready", sources=[s.name for s in self.sources], voice=cfg.voices.default,
                     nfe_step=cfg.engine.nfe_step, state_dir=str(getattr(self.journal, "path", "")))
            reason = await self._wait_for_end()
            self.notifier.stopping()
            log.info("stopping", reason=reason)
            await self._stop_gracefully()
        alive = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()
                 and t.get_name().startswith("ishowtts:")]
        if alive:
            log.warning("tasks still alive after teardown", tasks=[t.get_name() for t in alive])
        return 0

    async def _start(self, stack: contextlib.AsyncExitStack) -> None:
        cfg = self.config
        from ishowtts_live.filters import FilterChain
        from ishowtts_live.filters.moderation import ModerationState
        from ishowtts_live.queueing.journal import Journal
        from ishowtts_live.queueing.queue import SpeechQueue
        from ishowtts_live.synth.worker import SynthWorker

        # 1. sink
        self.sink = self._sink or await open_sink(self.loaded)
        if self._sink is not None:
            await self.sink.open()
        stack.push_async_callback(self.sink.close)
        # 2. engine thread: load, warm up
        self.notifier.status("loading the model")
        self.worker = SynthWorker(self.loaded, self._engine_factory)
        warm = await self.worker.start()
        stack.push_async_callback(self.worker.stop)
        log.info("engine ready", warmup_s=round(warm, 2))
        # 3. journal, moderation state, queue
        self.journal = Journal.open(self.loaded)
        stack.callback(self.journal.close)
        self.moderation = ModerationState(cfg.filters.muted_users, cfg.filters.blocked_words, self.journal)
        muted, blocked = self.journal.load_moderation()
        self.moderation.restore(muted, blocked)
        rate = cfg.sources.replay.speed if self._replay_only() else 1.0
        self.clock = EventClock(rate=rate, start=0.0 if self._replay_only() else None)
        self.queue = SpeechQueue(cfg.queue, self.journal, self.clock.now)
        self.queue.listeners.append(self._on_queue_event)
        # 4. filters; paid messages accepted before a crash or stop, re-checked
        # against mutes made since
        self.chain = FilterChain(cfg.filters, cfg.speech, self.moderation)
        for utt in self.queue.requeue_journaled(admit=self.gate):
            log.info("paid message restored from the journal", msg_id=utt.event.msg_id if utt.event else utt.id)
        # 5. playback, ingest
        backlog_cfg = cfg.backlog
        self.backlog = Backlog(
            threshold_s=backlog_cfg.threshold_s if backlog_cfg.enabled else float("inf"),
            recover_s=backlog_cfg.recover_s, speed=backlog_cfg.speed, nfe_floor=backlog_cfg.nfe_floor,
            compact=backlog_cfg.compact, on_change=self._on_backlog,
        )
        self.playback = Playback(self.queue, self.worker, self.sink, self.bus, self.metrics, self.settings,
                                 self.backlog, cfg.engine.nfe_step, self.gate, prefetch=self._prefetch())
        self.ingest = Ingest(self.chain, self.queue, self.playback, self.moderation,
                             VoiceRouter(cfg.voices.by_kind, cfg.voices.by_user, self.settings),
                             self.clock, self.bus, self.metrics, self.backlog)
        self._spawn(self.playback.run(), "playback")
        self._spawn(self._watch_backlog(), "backlog")
        self._spawn(self.notifier.watchdog(self._healthy), "watchdog")
        # 6. sources
        self.sources = self._sources if self._sources is not None else build_sources(self.loaded)
        self.metrics.watch_sources(self.sources)
        for source in self.sources:
            if hasattr(source, "on_reconnect"):
                source.on_reconnect = lambda name, error: self.metrics.reconnects.labels(name).inc()
            self._spawn(self.ingest.run(source), f"source:{source.name}")
        # 7. control server: last up, first down (the exit stack unwinds in reverse)
        if cfg.control.enabled:
            from ishowtts_live.control.server import ControlServer

            self.control = ControlServer(self, cfg.control, cfg.state.dir)
            await self.control.start()
            stack.push_async_callback(self.control.stop)

    def _prefetch(self) -> int:
        """engine.prefetch; auto = a batch's worth on the fast path, else one."""
        n = self.config.engine.prefetch
        if n >= 0:
            return n
        fast = getattr(self.worker.engine, "fast", None)
        return fast.max_batch if fast is not None else 1

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
        return not any(getattr(self.config.sources, p).enabled for p in LIVE_PLATFORMS)

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

    def _healthy(self) -> bool:
        return self.worker is not None and self.worker.alive

    async def _watch_backlog(self) -> None:
        while True:
            self.metrics.queue_depth.set(len(self.queue))
            self.backlog.update(self.queue.oldest_wait())
            # a state disk that came back is written again even when nothing changes
            await asyncio.to_thread(self.journal.retry)
            await asyncio.sleep(0.5)

    def _on_backlog(self, active: bool, oldest_wait: float) -> None:
        self.metrics.degraded.set(1 if active else 0)
        self.metrics.degradations.labels("degraded" if active else "normal").inc()
        self.bus.publish("backlog", degraded=active, oldest_wait_s=round(oldest_wait, 1))

    def _on_queue_event(self, kind: str, utt: Utterance, reason: str) -> None:
        if kind in ("evicted", "stale", "purged"):
            self.metrics.drops.labels(reason or kind).inc()
            from ishowtts_live.pipeline import describe

            self.bus.publish("dropped", reason=reason or kind, **describe(utt))

    def gate(self, utt: Utterance) -> Verdict:
        """Right before speaking: a mute or blocked word added since it was queued still wins."""
        return self.chain.recheck(utt.event, utt.text) if utt.event is not None else KEPT


    # ------------------------------------------------------------------ controls (the control API calls these)

    def status(self) -> dict[str, Any]:
        cur = self.playback.current if self.playback else None
        from ishowtts_live.pipeline import describe

        return {
            "version": __import__("ishowtts_live").__version__,
            "uptime_s": round(time.time() - self.started_at, 1),
            "ready": self.ready.is_set(),
            "paused": bool(self.queue and self.queue.paused),
            "speaking": describe(cur) if cur else None,
            "queue_depth": len(self.queue) if self.queue else 0,
            "spoken": self.playback.spoken if self.playback else 0,
            "skipped": self.playback.outcomes["skipped"] if self.playback else 0,
            "failed": self.playback.outcomes["failed"] if self.playback else 0,
            "received": self.ingest.received if self.ingest else 0,
            "voice": self.settings.voice or self.config.voices.default,
            "nfe_step": self.settings.nfe_step or self.config.engine.nfe_step,
            "backlog_degraded": bool(self.backlog.active) if self.ingest else False,
            "sources": [{"name": s.name, **_source_stats(s)} for s in self.sources],
            "muted_users": self.moderation.muted_users() if self.moderation else [],
            "blocked_words": self.moderation.blocked_words() if self.moderation else [],
            "drops": dict(self.chain.drops) | dict(self.queue.drops) if self.chain else {},
        }

    def queue_snapshot(self) -> list[Any]:
        return self.queue.snapshot()

    def skip(self) -> bool:
        return self.playback.skip("moderator")

    def pause(self) -> None:
        self.queue.pause()
        self.bus.publish("paused")

    def resume(self) -> None:
        self.queue.resume()
        self.playback.poke()
        self.bus.publish("resumed")

    def clear(self) -> int:
        removed = self.queue.clear()
        self.bus.publish("cleared", removed=len(removed))
        return len(removed)

    def mute(self, user: str) -> int:
        purged = self.ingest.mute(user)
        self.bus.publish("moderation", action="mute", target=user, purged=purged)
        return purged

    def unmute(self, user: str) -> bool:
        changed = self.moderation.unmute(user)
        self.bus.publish("moderation", action="unmute", target=user)
        return changed

    def block(self, word: str) -> bool:
        changed = self.moderation.block(word)
        self.bus.publish("moderation", action="block", target=word)
        return changed

    def unblock(self, word: str) -> bool:
        changed = self.moderation.unblock(word)
        self.bus.publish("moderation", action="unblock", target=word)
        return changed

    async def check_voice(self, voice: str) -> None:
        """Prepare ``voice`` on the engine thread; VoiceError if there is no such voice."""
        await self.worker.call(lambda engine: engine.voice(voice))

    async def set_voice(self, voice: str) -> None:
        """Switch the default voice (prepared on the engine thread first, so a bad one is refused)."""
        await self.check_voice(voice)
        self.settings.voice = voice
        self.bus.publish("settings", voice=voice)

    def set_nfe(self, nfe_step: int) -> None:
        if not 1 <= nfe_step <= 64:
            raise ValueError("nfe_step must be between 1 and 64")
        self.settings.nfe_step = nfe_step
        self.bus.publish("settings", nfe_step=nfe_step)

    def say(self, text: str, voice: str | None = None) -> Verdict:
        """A moderator announcement: queued above chat, below paid messages."""
        from ishowtts_live.events import ChatEvent, now_pair
        from ishowtts_live.pipeline import describe, new_utterance_id

        mono, wall = now_pair()
        event = ChatEvent(platform="control", msg_id=f"say-{new_utterance_id()}", text=text, user_name="moderator",
                          kind="system", received_mono=mono, received_wall=wall, clock=self.clock.now())
        decision = self.chain.check(event)
        if not decision.verdict.kept:
            return decision.verdict
        utt = Utterance(id=new_utterance_id(), text=decision.speak, voice=voice or "", event=event)
        verdict = self.queue.put(utt)
        if verdict.kept:
            self.bus.publish("queued", **describe(utt))
        return verdict

    async def tts(self, text: str, voice: str | None = None) -> tuple[Any, int]:
        """The seed project's endpoint: text → whole waveform, bypassing the queue."""
        pcm, _stats = await self.worker.synthesize(text, voice)
        return pcm, self.worker.sample_rate


def _source_stats(source: Any) -> dict[str, Any]:
    stats = getattr(source, "stats", None)
    if stats is None:
        return {}
    keys = ("connects", "reconnects", "received", "duplicates", "parse_errors", "last_error", "last_minute")
    return {k: getattr(stats, k) for k in keys if hasattr(stats, k)}


async def run_daemon(loaded: LoadedConfig) -> int:
    daemon = Daemon(loaded)
    return await daemon.run()


__all__ = ["Daemon", "run_daemon", "open_sink", "build_sources", "ConfigError"]
