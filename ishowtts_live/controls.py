"""The moderator's controls: the one typed façade the control plane
(``control/``: the REST API, its event and overlay feeds, ``ctl``) talks
to. The composition root builds it first, so the control API answers while
the daemon starts, and attaches the stages once they run; it reaches the
stages so that the control plane never imports the pipeline or an engine.

Reading: :meth:`status`, :meth:`queue`, :meth:`overlay`, :meth:`health`,
:meth:`voices`, the event stream. Commands: skip, pause/resume, clear,
remove (one message), mute/unmute, block/unblock (a
:class:`~ishowtts_live.errors.ModerationConflict` when the config file sets
the entry), voice, nfe, say, tts. Until the stages run (and once they
stop) :meth:`unavailable` says why commands must wait; the control server
answers them 503 with that line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import msgspec
import numpy as np
from prometheus_client import generate_latest

from ishowtts_live.bus import EventBus, Subscription
from ishowtts_live.config.schema import Config
from ishowtts_live.control.protocol import (
    Engine, Health, Item, OverlayState, Progress, Queue, SourceStatus, Speaking, Status, Timing, Voices, item_of,
    overlay_item_of,
)
from ishowtts_live.events import ChatEvent, Utterance, Verdict, now_pair, utterance_fields
from ishowtts_live.filters.chain import FilterChain
from ishowtts_live.lifecycle import Startup
from ishowtts_live.metrics import Metrics
from ishowtts_live.pipeline import (
    Backlog, Change, Drops, EventClock, Ingest, Moderator, Playback, Removed, RuntimeOverrides, new_utterance_id,
)
from ishowtts_live.queueing.queue import CLASS_NAMES, SpeechQueue, priority_class
from ishowtts_live.synth.protocol import Synthesizer, SynthRequest, synthesize

SOURCE_STATS = ("state", "connects", "reconnects", "received", "duplicates", "parse_errors", "last_error",
                "last_minute")


@dataclass
class Controls:
    config: Config
    synth: Synthesizer
    overrides: RuntimeOverrides
    drops: Drops
    bus: EventBus
    metrics: Metrics
    startup: Startup  # the daemon's phase and its start's progress
    started_at: float
    voice_ids: Callable[[], list[str]] = list  # the voices the config names (the composition root knows where)
    _health_seen: tuple = field(default=(), init=False, repr=False)
    # The running stages: None until the daemon attaches them (:meth:`attach`).
    # Nothing below reads them before that: the server answers 503 first.
    queue: SpeechQueue | None = None
    playback: Playback | None = None
    ingest: Ingest | None = None
    moderator: Moderator | None = None
    chain: FilterChain | None = None
    backlog: Backlog | None = None
    clock: EventClock | None = None
    sources: list[Any] | None = None

    def attach(self, *, queue: SpeechQueue, playback: Playback, ingest: Ingest, moderator: Moderator,
               chain: FilterChain, backlog: Backlog, clock: EventClock, sources: list[Any]) -> None:
        """The stages, once every one runs (commands work from the daemon's READY on)."""
        self.queue, self.playback, self.ingest, self.moderator = queue, playback, ingest, moderator
        self.chain, self.backlog, self.clock, self.sources = chain, backlog, clock, sources

    @property
    def ready(self) -> bool:
        return self.startup.phase == "ready" and self.queue is not None

    def unavailable(self) -> str:
        """Why commands cannot run now ("" when they can)."""
        if self.ready:
            return ""
        if self.startup.phase == "stopping":
            return "the daemon is stopping"
        return f"the daemon is starting ({self.startup.describe()})"

    def _detail(self) -> str:
        return self.startup.describe() if self.startup.phase == "starting" else ""

    def progress(self) -> Progress | None:
        """How far the start got (None once started)."""
        s = self.startup
        if s.phase != "starting":
            return None
        return Progress(step=s.step, steps=s.steps, what=s.what, elapsed_s=round(s.elapsed_s, 1))

    # ------------------------------------------------------------------ reading

    def status(self) -> Status:
        from ishowtts_live import __version__

        uptime = round(time.time() - self.started_at, 1)
        voice = self.overrides.voice or self.config.voices.default
        nfe_step = self.overrides.nfe_step or self.config.engine.nfe_step
        if not self.ready:
            return Status(version=__version__, uptime_s=uptime, ready=False, phase=self.startup.phase,
                          detail=self._detail(), progress=self.progress(), paused=False, speaking=None, queue_depth=0, spoken=0,
                          received=0, voice=voice, nfe_step=nfe_step)
        current = self.playback.current
        speaking = None
        if current is not None:
            elapsed, audio, whole = self.playback.progress()
            speaking = item_of(current, priority=CLASS_NAMES[priority_class(current)], as_type=Speaking,
                               elapsed_s=round(elapsed, 1), audio_s=round(audio, 2), synthesized=whole)
        state = self.moderator.state
        health = self.synth.health()
        return Status(
            version=__version__, uptime_s=uptime, ready=True,
            paused=self.queue.paused, speaking=speaking,
            queue_depth=len(self.queue), spoken=self.playback.spoken,
            skipped=self.playback.outcomes["skipped"], failed=self.playback.outcomes["failed"],
            received=self.ingest.received, voice=voice, nfe_step=nfe_step, backlog_degraded=self.backlog.active,
            sources=[_source_status(s) for s in self.sources],
            muted_users=state.muted_users(), blocked_words=state.blocked_words(),
            config_muted_users=sorted(state.config_muted), config_blocked_words=list(state.config_blocked.values()),
            drops=dict(self.drops.counts), engine=Engine(state=health.state, detail=health.detail),
            recent=[msgspec.convert(t, Timing) for t in self.playback.recent],
        )

    def queue_items(self) -> list[Item]:
        """The waiting messages, in speaking order."""
        now = time.time()
        return [item_of(entry, now) for entry in self.queue.snapshot()]

    def queued(self) -> Queue:
        return Queue(paused=self.queue.paused, items=self.queue_items())

    def waiting(self, count: int) -> list[Utterance]:
        """The next ``count`` messages to be spoken."""
        return [entry.utterance for entry in self.queue.snapshot()[:count]]

    def speaking(self) -> Utterance | None:
        return self.playback.current

    def overlay(self, count: int) -> OverlayState:
        """What the overlay shows: the message being spoken and the next ``count`` (nothing before the start)."""
        if not self.ready:
            return OverlayState(speaking=None, next=[], seq=self.bus.seq)
        current = self.playback.current
        return OverlayState(speaking=overlay_item_of(current) if current is not None else None,
                            next=[overlay_item_of(u) for u in self.waiting(count)] if count else [],
                            paused=self.queue.paused, seq=self.bus.seq)

    def voices(self) -> Voices:
        default = self.config.voices.default
        return Voices(voice=self.overrides.voice or default, default=default,
                      voices=sorted(set(self.voice_ids()) | {default}))

    def health(self) -> Health:
        if not self.ready:
            return Health(status=self.startup.phase, ready=False, detail=self._detail(), progress=self.progress())
        synth = self.synth.health()
        if synth.serving:
            return Health(status="ok", ready=True)
        return Health(status="failing", ready=True, synthesis=f"{synth.state}: {synth.detail}" if synth.detail
                      else synth.state)

    # ------------------------------------------------------------------ the event stream and metrics

    def subscribe(self) -> Subscription:
        return self.bus.subscribe()

    def recent_events(self, count: int) -> list[dict[str, Any]]:
        return list(self.bus.recent)[-count:] if count else []

    @property
    def event_seq(self) -> int:
        return self.bus.seq

    def metrics_text(self, event_clients: int) -> bytes:
        """The Prometheus exposition, gauges brought up to date."""
        self.metrics.queue_depth.set(len(self.queue) if self.queue is not None else 0)
        self.metrics.event_clients.set(event_clients)
        return generate_latest(self.metrics.registry)

    def count_request(self, route: str, status: int) -> None:
        self.metrics.control_requests.labels(route, str(status)).inc()

    def publish_health_changes(self) -> None:
        """A ``health`` event when the engine's state or a source's connection
        changed since the last call (the daemon calls it twice a second, from
        READY on), so the panel follows them without asking."""
        if not self.ready:
            return
        health = self.synth.health()
        sources = [_source_status(s) for s in self.sources]
        seen = (health.state, health.detail, *((s.name, s.state, s.last_error) for s in sources))
        if seen == self._health_seen:
            return
        first = not self._health_seen
        self._health_seen = seen
        if not first:
            self.bus.publish("health", engine={"state": health.state, "detail": health.detail},
                             sources=[{"name": s.name, "state": s.state, "last_error": s.last_error}
                                      for s in sources])

    # ------------------------------------------------------------------ commands

    def skip(self) -> bool:
        return self.playback.skip("moderator")

    def pause(self) -> None:
        self.queue.pause()
        self.bus.publish("paused")

    def resume(self) -> None:
        self.queue.resume()
        self.playback.ahead.schedule_prefetch()
        self.bus.publish("resumed")

    def remove(self, msg_id: str) -> Removed:
        """One message out by its id (utterance or platform message id): purged
        from the queue, or cut if it is being spoken; nothing else changes."""
        return self.moderator.remove_message(msg_id)

    def clear(self) -> int:
        removed = self.queue.clear()
        self.bus.publish("cleared", removed=len(removed))
        return len(removed)

    def mute(self, user: str) -> Change:
        return self.moderator.mute(user)

    def unmute(self, user: str) -> Change:
        return self.moderator.unmute(user)

    def block(self, word: str) -> Change:
        return self.moderator.block(word)

    def unblock(self, word: str) -> Change:
        return self.moderator.unblock(word)

    async def check_voice(self, voice: str) -> None:
        """Prepare ``voice`` (after the message being synthesized); VoiceError if it cannot be used."""
        await self.synth.prepare_voice(voice)

    async def set_voice(self, voice: str) -> None:
        """Switch the default voice (prepared first, so a bad one is refused)."""
        await self.check_voice(voice)
        self.overrides.voice = voice
        self.bus.publish("settings", voice=voice)

    def set_nfe(self, nfe_step: int) -> None:
        if not 1 <= nfe_step <= 64:
            raise ValueError("nfe_step must be between 1 and 64")
        self.overrides.nfe_step = nfe_step
        self.bus.publish("settings", nfe_step=nfe_step)

    def say(self, text: str, voice: str | None = None) -> Verdict:
        """A moderator announcement: queued above chat, below paid messages."""
        mono, wall = now_pair()
        event = ChatEvent(platform="control", msg_id=f"say-{new_utterance_id()}", text=text, user_name="moderator",
                          kind="system", received_mono=mono, received_wall=wall, clock=self.clock.now())
        decision = self.chain.check(event)
        if not decision.verdict.kept:
            self.drops.record_drop(decision.verdict.reason, event=event, detail=decision.verdict.detail)
            return decision.verdict
        utt = Utterance(id=new_utterance_id(), text=decision.speak, voice=voice or "", event=event)
        verdict = self.queue.put(utt)
        if verdict.kept:
            self.bus.publish("queued", **utterance_fields(utt))
        return verdict

    async def tts(self, text: str, voice: str | None = None) -> tuple[np.ndarray, int]:
        """The seed project's endpoint: text → whole waveform, outside the queue."""
        pcm, _stats = await synthesize(self.synth, SynthRequest(text=text, voice=voice))
        return pcm, self.synth.sample_rate


def _source_status(source: Any) -> SourceStatus:
    stats = getattr(source, "stats", None)
    found = {k: getattr(stats, k) for k in SOURCE_STATS if stats is not None and hasattr(stats, k)}
    return msgspec.convert({"name": source.name, **found}, SourceStatus)


__all__ = ["Change", "Controls", "Removed"]
